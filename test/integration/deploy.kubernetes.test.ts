// The Kubernetes platform, request by request. No API server can run here, so a local server
// (test/support/fakeKubeApi.ts) answers as the API server documents and records every request;
// its pods' port-forwards reach real engines on this machine (blue: one model, green: another),
// so the smoke test, the analysis load and the /metrics gates run on real requests. The test
// checks the exact requests: server-side apply of whole objects with fieldManager=pronto, the
// Lease taken with its resourceVersion, the Secret created once, the active Service switched by
// its selector, the old colour scaled to 0, the bearer token from the kubeconfig on every call.
// Not a live cluster: the README says so.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseDeployConfig } from '../../server/src/deploy/config/load';
import type { DeployConfig } from '../../server/src/deploy/config/schema';
import { KubernetesPlatform } from '../../server/src/deploy/platform/kubernetes/platform';
import { RolloutController, RolloutRefused, requestManual } from '../../server/src/deploy/rollout/controller';
import { linkedMonitor } from '../support/deployMonitor';
import { type RunningEngine, startEngine } from '../support/engine';
import { FakeKubeApi, type RecordedRequest } from '../support/fakeKubeApi';
import { ensureModel } from '../support/models';

const KEY = 'k8s-test-key';
const SHA = 'ef'.repeat(32);
let api: FakeKubeApi;
let dir: string;
let kubeconfig: string;
const engines: RunningEngine[] = [];

function config(image: string, extra = ''): DeployConfig {
  const r = parseDeployConfig(configYaml(image, extra));
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

function configYaml(image: string, extra = ''): string {
  return `name: team
target: { kind: kubernetes, context: fake, namespace: pronto, port: 8080 }
engine: { image: "${image}" }
model: { url: "https://models.example.com/m.gguf", sha256: ${SHA} }
apiKey: { env: PRONTO_K8S_TEST_KEY }
gates: { window: 3s, minRequests: 4, analysisRate: 4, maxP95Latency: 10s }
timeouts: { ready: 20s, smoke: 30s }
postPromotion: { window: 1s }
scaleDownDelay: 0
${extra}`;
}

before(async () => {
  process.env.PRONTO_K8S_TEST_KEY = KEY;
  const env = { ...process.env, PRONTO_API_KEY: KEY };
  const [blue, green] = await Promise.all([
    startEngine({ model: await ensureModel('chat'), env }),
    startEngine({ model: await ensureModel('chatGreen'), env }),
  ]);
  engines.push(blue, green);
  api = new FakeKubeApi();
  await api.start();
  api.enginePorts.blue = blue.port;
  api.enginePorts.green = green.port;
  dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-k8s-'));
  kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig());
});

after(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  await api?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const since = (n: number) => api.requests.slice(n).filter((r) => !/^\/(api\/v1|apis\/[^/]+\/[^/]+)$/.test(r.path));
const applies = (reqs: RecordedRequest[], resource: string, name: string) =>
  reqs.filter((r) => r.method === 'PATCH' && r.path.endsWith(`/${resource}/${name}`) && r.contentType === 'application/apply-patch+yaml');
type Loose = {
  spec: { replicas: number; selector: Record<string, string>; template: { spec: { containers: Array<{ image: string }> } } };
  kind: string;
};

test('a missing context is named with the ones the kubeconfig has', () => {
  const c = config('reg.example.com/pronto-engine:1');
  assert.throws(
    () =>
      KubernetesPlatform.fromKubeconfig(
        { ...c, target: { ...(c.target as { kind: 'kubernetes' } & typeof c.target), context: 'prod' } as DeployConfig['target'] },
        { kubeconfig },
      ),
    /target.context "prod" is not in your kubeconfig; its contexts: fake/,
  );
});

test('first deploy and a blue-green rollout: the exact API requests', { timeout: 120_000 }, async () => {
  const v1 = config('reg.example.com/pronto-engine:1');
  const platform = KubernetesPlatform.fromKubeconfig(v1, { kubeconfig });
  const first = await new RolloutController({ platform, tool: 'test' }).run(v1);
  assert.equal(first.phase, 'succeeded', first.reason);
  const reqs1 = since(0);
  for (const r of api.requests) assert.equal(r.authorization, 'Bearer test-token', `${r.method} ${r.path} carries the kubeconfig's token`);

  // The Lease: created, then taken with its resourceVersion, holder written; released at the end.
  const leasePath = '/apis/coordination.k8s.io/v1/namespaces/pronto/leases';
  assert.ok(reqs1.some((r) => r.method === 'POST' && r.path === leasePath));
  const takes = reqs1.filter((r) => r.method === 'PUT' && r.path === `${leasePath}/pronto-team-rollout`);
  const take = takes[0]!.body as {
    metadata: { resourceVersion: string };
    spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
  };
  assert.ok(take.metadata.resourceVersion, 'the lease is taken with its resourceVersion (optimistic concurrency)');
  assert.ok(take.spec.holderIdentity && take.spec.leaseDurationSeconds === 30);
  assert.match(take.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'MicroTime');
  const released = takes.at(-1)!.body as { spec: { holderIdentity?: string } };
  assert.equal(released.spec.holderIdentity, undefined, 'released at the end');

  // The Secret: created once, from apiKey.env, never applied over.
  const secretPosts = reqs1.filter((r) => r.method === 'POST' && r.path === '/api/v1/namespaces/pronto/secrets');
  assert.equal(secretPosts.length, 1);
  assert.deepEqual((secretPosts[0]!.body as { stringData: unknown }).stringData, { 'api-key': KEY });
  assert.equal(applies(reqs1, 'secrets', 'pronto-team-api-key').length, 0);

  // Server-side apply of the whole Deployment, fieldManager pronto, force.
  const blueApply = applies(reqs1, 'deployments', 'pronto-team-blue')[0]!;
  assert.deepEqual(blueApply.query, { fieldManager: 'pronto', force: 'true' });
  const blueBody = blueApply.body as Loose;
  assert.equal(blueBody.kind, 'Deployment');
  assert.equal(blueBody.spec.replicas, 1);
  assert.equal(blueBody.spec.template.spec.containers[0]!.image, 'reg.example.com/pronto-engine:1');
  assert.equal(applies(reqs1, 'deployments', 'pronto-team-green').length, 0, 'the first deploy touches blue only');

  // active selects no pod until the switch, then blue; preview selects blue.
  const activeApplies = applies(reqs1, 'services', 'pronto-team-active').map((r) => (r.body as Loose).spec.selector['pronto.dev/colour']);
  assert.deepEqual([activeApplies[0], activeApplies.at(-1)], ['none', 'blue']);
  const previewApply = applies(reqs1, 'services', 'pronto-team-preview')[0]!;
  assert.equal((previewApply.body as Loose).spec.selector['pronto.dev/colour'], 'blue');

  // Smoke test, analysis and /metrics went through port-forwards to blue's pod.
  const forwards = reqs1.filter((r) => r.path === '/api/v1/namespaces/pronto/pods/pronto-team-blue-7d9f-0/portforward');
  assert.ok(forwards.length >= 6, `requests reached the pod (${forwards.length} port-forwards)`);
  assert.deepEqual(forwards[0]!.query, { ports: '8080' });

  // The record lives in the Lease's annotations.
  const lease = api.object('coordination.k8s.io/v1', 'Lease', 'pronto', 'pronto-team-rollout')!;
  const record = JSON.parse(lease.metadata.annotations!['pronto.dev/state']!);
  assert.equal(record.active, 'blue');
  assert.equal(record.rollout.phase, 'succeeded');

  // Second rollout: a new image goes to green; active switches; blue scales to 0.
  const mark = api.requests.length;
  const v2 = config('reg.example.com/pronto-engine:2', 'autoscaling: { enabled: true, minReplicas: 1, maxReplicas: 4 }\n');
  const second = await new RolloutController({ platform: KubernetesPlatform.fromKubeconfig(v2, { kubeconfig }), tool: 'test' }).run(v2);
  assert.equal(second.phase, 'succeeded', second.reason);
  const reqs2 = since(mark);
  const green = applies(reqs2, 'deployments', 'pronto-team-green').map((r) => r.body as Loose);
  assert.equal(green[0]!.spec.template.spec.containers[0]!.image, 'reg.example.com/pronto-engine:2');
  const active2 = applies(reqs2, 'services', 'pronto-team-active').map((r) => (r.body as Loose).spec.selector['pronto.dev/colour']);
  assert.equal(active2.at(-1), 'green');
  const blueScaled = applies(reqs2, 'deployments', 'pronto-team-blue').map((r) => r.body as Loose);
  assert.equal(blueScaled.at(-1)!.spec.replicas, 0, 'blue scaled down after the switch');
  assert.equal(blueScaled.at(-1)!.spec.template.spec.containers[0]!.image, 'reg.example.com/pronto-engine:1', 'blue keeps the spec it ran');
  const switchIndex = reqs2.findIndex(
    (r) =>
      r.method === 'PATCH' &&
      r.path.endsWith('/services/pronto-team-active') &&
      (r.body as Loose).spec.selector['pronto.dev/colour'] === 'green',
  );
  const scaleIndex = reqs2.indexOf(applies(reqs2, 'deployments', 'pronto-team-blue').at(-1)!);
  assert.ok(switchIndex >= 0 && scaleIndex > switchIndex, 'blue is scaled down only after active moved to green');
  assert.ok(
    second.gates.some((g) => g.source === 'green /metrics' && g.name === 'requests' && g.passed),
    'gates from green’s real /metrics',
  );
});

test("the monitor samples the deployed colour through a port-forward to its pod, with the Secret's key", { timeout: 60_000 }, async () => {
  // After the rollout above green is active. The link reads the Lease's record; the sampler's scrape
  // goes through the platform (the in-cluster Service names do not resolve here).
  mkdirSync(path.join(dir, '.pronto'), { recursive: true });
  const configFile = path.join(dir, '.pronto', 'deploy.yaml');
  writeFileSync(configFile, configYaml('reg.example.com/pronto-engine:2'));
  const m = linkedMonitor({ createPlatform: async (c) => KubernetesPlatform.fromKubeconfig(c, { kubeconfig }) });
  const { service, link } = m;
  try {
    link.watch(configFile);
    await link.refresh();
    const mine = () => service.sourceInfos().filter((s) => s.kind === 'external');
    assert.deepEqual(
      mine().map((s) => [s.label, s.url]),
      [['green (active)', 'http://pronto-team-active.pronto.svc']],
    );
    const mark = api.requests.length;
    await service.tick();
    const green = mine()[0]!;
    assert.equal(green.state, 'ok', green.message);
    assert.ok(
      since(mark).some((r) => /\/pods\/pronto-team-green-[^/]+\/portforward$/.test(r.path)),
      "scraped through a port-forward to green's pod",
    );
    const snap = m.snapshot();
    assert.notEqual(snap.series[green.id]!.values.busySequences.at(-1), null, 'green is measured');
    assert.ok(!JSON.stringify(snap).includes(KEY), 'no key in the snapshot');
  } finally {
    await m.dispose();
  }
});

test('an image that cannot be pulled rolls back at once, naming the pod and the reason', { timeout: 60_000 }, async () => {
  const bad = config('reg.example.com/pronto-engine:broken');
  const final = await new RolloutController({ platform: KubernetesPlatform.fromKubeconfig(bad, { kubeconfig }), tool: 'test' }).run(bad);
  assert.equal(final.phase, 'rolledBack');
  assert.match(
    final.reason!,
    /pod pronto-team-blue-7d9f-0 container engine: ImagePullBackOff \(Back-off pulling image "reg.example.com\/pronto-engine:broken"\)/,
  );
  const record = JSON.parse(
    api.object('coordination.k8s.io/v1', 'Lease', 'pronto', 'pronto-team-rollout')!.metadata.annotations!['pronto.dev/state']!,
  );
  assert.equal(record.active, 'green', 'green keeps serving');
});

test('the Lease refuses a second controller naming the holder; abort from another one is handed over through the Lease', {
  timeout: 60_000,
}, async () => {
  const v3 = config('reg.example.com/pronto-engine:3', 'autoPromote: false\n');
  const platform = KubernetesPlatform.fromKubeconfig(v3, { kubeconfig });
  const running = new RolloutController({ platform, tool: 'VS Code' }).run(v3);
  for (let i = 0; i < 300; i++) {
    const rec = await platform.readRecord();
    if (rec.rollout?.phase === 'awaitingPromotion') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await assert.rejects(new RolloutController({ platform, tool: 'pronto-deploy rollout' }).run(v3), (err: Error) => {
    assert.ok(err instanceof RolloutRefused);
    assert.match(
      err.message,
      new RegExp(`held by ${os.userInfo().username}@${os.hostname()} \\(VS Code, pid ${process.pid}\\).*phase awaitingPromotion`),
    );
    return true;
  });
  const r = await requestManual(platform, 'abort', { tool: 'pronto-deploy abort', config: v3 });
  assert.match(r.message, /abort handed to/);
  const final = await running;
  assert.equal(final.phase, 'aborted');
  const requestPatches = api.requests.filter(
    (x) =>
      x.method === 'PATCH' && x.contentType === 'application/merge-patch+json' && JSON.stringify(x.body).includes('pronto.dev/request'),
  );
  assert.ok(requestPatches.length >= 2, 'the request was written to, then cleared from, the Lease');
});
