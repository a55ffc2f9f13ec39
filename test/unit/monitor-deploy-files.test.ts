/**
 * deploy/monitoring/ agrees with the editor's monitor: the alert rules and the Grafana dashboard use
 * the thresholds, hysteresis, hold time and window of the pronto.monitor.alerts.* defaults, and only
 * metrics the engine exports (or the rules record). The files themselves are checked by a real
 * Prometheus in test/integration/monitor-prometheus.test.ts.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ENGINE_METRIC_NAMES } from '../../server/src/monitor/engineSample';
import { defaultSettings } from '../../server/src/settings';

const dir = path.join(__dirname, '..', '..', 'deploy', 'monitoring');
const rules = parse(readFileSync(path.join(dir, 'pronto-rules.yml'), 'utf8')) as {
  groups: {
    name: string;
    rules: { alert?: string; record?: string; expr: string; for?: string; keep_firing_for?: string; labels?: Record<string, string> }[];
  }[];
};
const all = rules.groups.flatMap((g) => g.rules);
const dashboard = JSON.parse(readFileSync(path.join(dir, 'grafana-dashboard.json'), 'utf8')) as {
  uid: string;
  panels: {
    title: string;
    targets: { expr: string }[];
    fieldConfig: { defaults: { thresholds: { steps: { value: number | null }[] } } };
  }[];
};

const d = defaultSettings;
const hysteresis = 1 - d['monitor.alerts.hysteresisPercent'] / 100;
const expected = [
  { alert: 'ProntoLatencyP95High', severity: 'warning', threshold: d['monitor.alerts.latencyP95Ms'] / 1000, panel: 'Engine latency' },
  {
    alert: 'ProntoGpuUtilisationHigh',
    severity: 'critical',
    threshold: d['monitor.alerts.gpuUtilisationPercent'] / 100,
    panel: 'Utilisation',
  },
  { alert: 'ProntoMemoryHigh', severity: 'warning', threshold: d['monitor.alerts.memoryPercent'] / 100, panel: 'Memory' },
  { alert: 'ProntoErrorRateHigh', severity: 'warning', threshold: d['monitor.alerts.errorRatePercent'] / 100, panel: 'Error rate' },
];

for (const e of expected) {
  test(`${e.alert}: the monitor's default threshold, hysteresis, hold time and severity`, () => {
    const rule = all.find((r) => r.alert === e.alert);
    assert.ok(rule, `${e.alert} is in pronto-rules.yml`);
    const numbers = [...rule.expr.matchAll(/> ([\d.]+)/g)].map((m) => Number(m[1]));
    assert.equal(numbers[0], e.threshold, 'fires above the threshold');
    assert.ok(Math.abs(numbers[1]! - e.threshold * hysteresis) < 1e-12, `keeps firing above the clear level (${numbers[1]})`);
    assert.match(rule.expr, new RegExp(`ALERTS\\{alertname="${e.alert}", alertstate="firing"\\}`));
    assert.equal(rule.for, `${d['monitor.alerts.forSeconds']}s`);
    assert.equal(rule.keep_firing_for, `${d['monitor.alerts.forSeconds']}s`);
    assert.equal(rule.labels?.severity, e.severity);
    const panel = dashboard.panels.find((p) => p.title === e.panel);
    assert.ok(panel, `the dashboard has "${e.panel}"`);
    assert.deepEqual(
      panel.fieldConfig.defaults.thresholds.steps.map((s) => s.value),
      [null, e.threshold],
      `"${e.panel}" draws the same threshold`,
    );
  });
}

test("the recording rules use the monitor's alert window", () => {
  const windows = new Set(all.filter((r) => r.record).flatMap((r) => [...r.expr.matchAll(/\[(\w+)\]/g)].map((m) => m[1])));
  assert.deepEqual([...windows], [`${d['monitor.alerts.windowSeconds'] / 60}m`]);
});

test('the dashboard and the rules only read metrics the engine exports or the rules record', () => {
  const exported = new Set<string>(Object.values(ENGINE_METRIC_NAMES).flatMap((n) => [n, `${n}_bucket`, `${n}_count`, `${n}_sum`]));
  exported.add('pronto_cancellations_total');
  exported.add('pronto_sequences');
  const recorded = new Set(all.flatMap((r) => (r.record ? [r.record] : [])));
  const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...all.map((r) => r.expr)];
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\b(pronto[:_][a-z0-9_:]+|process_[a-z_]+)/g)].map((m) => m[1]!)));
  for (const name of used) assert.ok(exported.has(name) || recorded.has(name), `${name} is neither exported by the engine nor recorded`);
  assert.equal(dashboard.uid, 'pronto-engine');
  assert.ok(
    dashboard.panels.every((p) => p.targets.length > 0),
    'every panel has a query',
  );
});

test('the scrape config loads the rules and scrapes the engine job', () => {
  const config = parse(readFileSync(path.join(dir, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: { job_name: string; metrics_path: string }[];
  };
  assert.deepEqual(config.rule_files, ['pronto-rules.yml']);
  assert.deepEqual(
    config.scrape_configs.map((j) => [j.job_name, j.metrics_path]),
    [['pronto-engine', '/metrics']],
  );
});
