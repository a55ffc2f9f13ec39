import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFigures, renderStatus } from '../../extension/src/statusView';
import type { StatusParams } from '../../protocol/lsp';

const base: StatusParams = { state: 'ready', message: 'Ready: tiny.gguf on CPU.', enabled: true, model: 'tiny.gguf', backend: 'CPU' };

test('formatFigures: tokens/s and latency, compact, empty when unknown', () => {
  const cases: Array<[Pick<StatusParams, 'tokensPerSecond' | 'lastLatencyMs'>, string]> = [
    [{}, ''],
    [{ tokensPerSecond: 18.44 }, '18.4 tok/s'],
    [{ tokensPerSecond: 123.6 }, '124 tok/s'],
    [{ lastLatencyMs: 212.4 }, '212 ms'],
    [{ lastLatencyMs: 12_345 }, '12.3 s'],
    [{ tokensPerSecond: 9, lastLatencyMs: 80 }, '9.0 tok/s · 80 ms'],
    [{ tokensPerSecond: Number.NaN, lastLatencyMs: Number.POSITIVE_INFINITY }, ''],
  ];
  for (const [input, want] of cases) assert.equal(formatFigures(input), want, JSON.stringify(input));
});

test('renderStatus: every state gets its own text, label and colour', () => {
  const cases: Array<[StatusParams['state'], RegExp, RegExp, string | undefined]> = [
    ['starting', /^\$\(loading~spin\) Pronto$/, /^Pronto: starting$/, undefined],
    ['ready', /^\$\(sparkle\) Pronto$/, /^Pronto: ready$/, undefined],
    ['busy', /^\$\(loading~spin\) Pronto$/, /^Pronto: busy$/, undefined],
    ['degraded', /^\$\(warning\) Pronto degraded$/, /^Pronto: degraded$/, 'statusBarItem.warningBackground'],
    ['error', /^\$\(error\) Pronto error$/, /^Pronto: error$/, 'statusBarItem.errorBackground'],
    ['stopped', /^\$\(circle-slash\) Pronto stopped$/, /^Pronto: stopped$/, 'statusBarItem.warningBackground'],
  ];
  for (const [state, text, aria, background] of cases) {
    const view = renderStatus({ ...base, state }, true);
    assert.match(view.text, text, state);
    assert.match(view.ariaLabel, aria, state);
    assert.equal(view.background, background, state);
    assert.match(view.tooltip, new RegExp(`\\*\\*Pronto\\*\\*: ${state}`));
  }
});

test('renderStatus: ready shows figures; the tooltip carries message, model and backend', () => {
  const view = renderStatus({ ...base, tokensPerSecond: 20, lastLatencyMs: 150 }, true);
  assert.equal(view.text, '$(sparkle) Pronto 20.0 tok/s · 150 ms');
  assert.equal(view.ariaLabel, 'Pronto: ready, 20.0 tok/s, 150 ms');
  assert.match(view.tooltip, /Ready: tiny\\\.gguf on CPU\\\./);
  assert.match(view.tooltip, /Model: tiny\\\.gguf/);
  assert.match(view.tooltip, /Backend: CPU/);
});

test('renderStatus: figures are not shown in states where they mean nothing', () => {
  const view = renderStatus({ ...base, state: 'error', message: 'Engine crashed.', tokensPerSecond: 20 }, true);
  assert.equal(view.text, '$(error) Pronto error');
});

test('renderStatus: disabled completions and the demo model are visible', () => {
  assert.equal(renderStatus({ ...base, enabled: false }, true).text, '$(circle-slash) Pronto');
  assert.match(renderStatus({ ...base, enabled: false }, true).ariaLabel, /completions disabled/);
  const demo = renderStatus({ ...base, demoModel: true }, true);
  assert.match(demo.text, /\(demo\)$/);
  assert.match(demo.ariaLabel, /demo model/);
  assert.match(demo.tooltip, /output is meaningless/);
});

test('renderStatus: server not running, and no status yet', () => {
  const down = renderStatus(base, false);
  assert.match(down.ariaLabel, /^Pronto: stopped/);
  assert.equal(down.background, 'statusBarItem.warningBackground');
  assert.match(down.tooltip, /not running/);
  const early = renderStatus(undefined, true);
  assert.equal(early.ariaLabel, 'Pronto: starting');
});

test('renderStatus: markdown in server text is escaped in the tooltip', () => {
  const view = renderStatus({ ...base, state: 'error', message: 'bad [link](command:x) *x*' }, true);
  assert.ok(!view.tooltip.includes('[link](command:x)'));
  assert.match(view.tooltip, /\\\[link\\\]\\\(command:x\\\)/);
});

test('renderStatus: a monitor alert colours the item (warning / critical) and names itself', () => {
  const warning = renderStatus(
    { ...base, alert: { severity: 'warning', count: 1, summary: 'Request latency p95 300 ms above 200 ms on Local engine' } },
    true,
  );
  assert.equal(warning.background, 'statusBarItem.warningBackground');
  assert.match(warning.text, / \$\(warning\)$/);
  assert.match(warning.ariaLabel, /warning alert: Request latency p95 300 ms above 200 ms/);
  assert.match(warning.tooltip, /\*\*Warning\*\*: Request latency p95 300 ms above 200 ms on Local engine/);
  const critical = renderStatus(
    { ...base, alert: { severity: 'critical', count: 3, summary: 'GPU utilisation 97% above 90% on Green' } },
    true,
  );
  assert.equal(critical.background, 'statusBarItem.errorBackground');
  assert.match(critical.text, / \$\(error\) 3$/);
  assert.match(critical.tooltip, /3 alerts firing/);
  // Clears by itself: no alert, no colour.
  assert.equal(renderStatus(base, true).background, undefined);
});
