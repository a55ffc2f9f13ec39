// The monitor follows a blue-green rollout on the local platform, through the real parts: real
// engine processes on generated models behind real HAProxy, driven by `pronto-deploy` as a child
// process; the sidecar's real sampler (MonitorService, scraping over HTTP) with the deploy → monitor
// link (DeployMonitorLink, reading the real platform's state and endpoints).
//
//   - while green waits for a manual promote, the monitor samples "blue (active)" and "green
//     (candidate)", each from its own engine (requests sent to the preview port show on green only),
//     with the rollout's phase and gates next to them and no API key in what a panel gets;
//   - after `pronto-deploy promote`, green is "green (active)" with its history kept, and blue,
//     scaled down, is no longer a source.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import type { MonitorSnapshot } from '../../protocol/monitorData';
import type { DeployMonitorLink } from '../../server/src/deploy/monitorLink';
import { deploySourceId } from '../../server/src/deploy/monitorSources';
import type { MonitorService } from '../../server/src/monitor/service';
import { type LinkedMonitor, linkedMonitor } from '../support/deployMonitor';
import { cleanupWorkspace, localConfig, makeWorkspace, runCli, startCli, waitForState, type Workspace } from '../support/deploy';
import { engineBinary } from '../support/engine';
import { ensureModel } from '../support/models';

let ws: Workspace;
let blueModel: string;
let greenModel: string;
const env = { PRONTO_ENGINE_PATH: engineBinary };
const logs: string[] = [];
let monitor: LinkedMonitor;
let service: MonitorService;
let link: DeployMonitorLink;

before(async () => {
  blueModel = await ensureModel('chat');
  greenModel = await ensureModel('chatGreen');
  ws = await makeWorkspace('pronto-deploy-monitor-');
  monitor = linkedMonitor({ log: (l) => logs.push(l) });
  ({ service, link } = monitor);
  link.watch(ws.configFile);
});

after(async () => {
  await monitor?.dispose();
  if (ws) {
    await runCli(ws, ['down'], env).catch(() => undefined);
    cleanupWorkspace(ws);
  }
});

const snapshot = (): MonitorSnapshot => monitor.snapshot();
const labels = () =>
  service
    .sourceInfos()
    .filter((s) => s.kind === 'external')
    .map((s) => s.label)
    .sort();

async function completions(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ws.apiKey()}` },
      body: JSON.stringify({ prompt: `def f${i}(x):`, max_tokens: 4, temperature: 0 }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

test('the monitor samples blue (active) and green (candidate) during a rollout, then follows the promote', {
  timeout: 300_000,
}, async () => {
  const ids = { blue: deploySourceId(ws.configFile, 'test', 'blue'), green: deploySourceId(ws.configFile, 'test', 'green') };

  await link.refresh();
  assert.deepEqual(labels(), [], 'nothing deployed: no colour sources');

  ws.write(localConfig(ws, { model: blueModel }));
  const first = await runCli(ws, ['rollout'], env);
  assert.equal(first.code, 0, first.stderr);
  await link.refresh();
  assert.deepEqual(labels(), ['blue (active)']);

  // Green rolled out, waiting for a person to promote it.
  ws.write(localConfig(ws, { model: greenModel, extra: 'autoPromote: false\n' }));
  const rollout = startCli(ws, ['rollout'], env);
  await waitForState(ws, (s) => s.rollout?.phase === 'awaitingPromotion', 180_000);
  await link.refresh();
  assert.deepEqual(labels(), ['blue (active)', 'green (candidate)']);

  await service.tick();
  // Traffic to the preview port only: green's engine counts it, blue's does not.
  await completions(ws.previewPort, 4);
  await service.tick();
  let snap = snapshot();
  const info = (id: string) => snap.sources.find((s) => s.id === id)!;
  for (const id of [ids.blue, ids.green]) assert.equal(info(id).state, 'ok', `${info(id).label}: ${info(id).message}`);
  const last = (id: string, metric: 'requestsPerSecond' | 'kvCachePercent' | 'busySequences' | 'queueDepth') => {
    const column = snap.series[id]!.values[metric];
    return column[column.length - 1];
  };
  assert.ok((last(ids.green, 'requestsPerSecond') ?? 0) > 0, `green served the preview requests: ${last(ids.green, 'requestsPerSecond')}`);
  assert.equal(last(ids.blue, 'requestsPerSecond'), 0, 'blue saw none of them: each source reads its own colour');
  assert.notEqual(last(ids.blue, 'busySequences'), null, 'blue is measured');
  for (const id of [ids.blue, ids.green])
    assert.equal(last(id, 'queueDepth'), 0, `${info(id).label}: the engine's queue gauge, by the name the monitor reads`);
  const deployment = snap.deployments?.[0];
  assert.equal(deployment?.name, 'test');
  assert.equal(deployment?.rollout?.phase, 'awaitingPromotion');
  assert.equal(deployment?.rollout?.candidate, 'green');
  assert.ok(
    deployment?.rollout?.gates.some((g) => g.stage === 'analysis' && g.name === 'requests' && g.passed),
    `gates next to the charts: ${JSON.stringify(deployment?.rollout?.gates)}`,
  );
  assert.ok(!JSON.stringify(snap).includes(ws.apiKey()), 'no API key in what the panel gets');

  // Promote from another process; the rollout switches, watches, scales blue down, succeeds.
  const promote = await runCli(ws, ['promote'], env);
  assert.equal(promote.code, 0, promote.stderr);
  await waitForState(ws, (s) => s.active === 'green', 60_000);
  await link.refresh();
  assert.ok(labels().includes('green (active)'), `after the switch: ${labels()}`);
  const done = await rollout.done;
  assert.equal(done.code, 0, done.stderr);
  await link.refresh();
  assert.deepEqual(labels(), ['green (active)'], 'blue, scaled down, left the monitor');
  const before = snap.series[ids.green]!.t.length;
  await service.tick();
  snap = snapshot();
  assert.equal(snap.series[ids.blue], undefined);
  assert.equal(info(ids.green).state, 'ok');
  assert.equal(snap.series[ids.green]!.t.length, before + 1, 'green kept its history through the relabel');
  assert.equal(snap.deployments?.[0]?.rollout?.phase, 'succeeded');
  assert.match(snap.deployments?.[0]?.summary ?? '', /^green \(active\) serving; the last rollout r-\S+ ended succeeded$/);
});
