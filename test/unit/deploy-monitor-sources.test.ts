// The deploy → monitor link: which colours are monitor sources and how they are labelled, over the
// phases of a rollout (table-driven), and how the link applies a plan to the monitor's registry
// (relabel keeps a source's id and history, a stopped colour leaves, no key anywhere in the plan).
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Colour } from '../../server/src/deploy/manifests/render';
import { scrapeColour } from '../../server/src/deploy/monitorLink';
import {
  colourStatus,
  deploySourceId,
  planDeploymentSources,
  type ColourStatus,
  type DeploymentReading,
} from '../../server/src/deploy/monitorSources';
import type { DeploymentRecord, Endpoints, Platform, PlatformResponse } from '../../server/src/deploy/platform/types';
import type { Phase } from '../../server/src/deploy/rollout/machine';
import { linkedMonitor } from '../support/deployMonitor';

const FILE = '/ws/.pronto/deploy.yaml';
const endpoint = (colour: Colour, role: 'active' | 'preview' | 'idle') => ({
  url: `http://127.0.0.1:${colour === 'blue' ? 9001 : 9002}`,
  apiKey: 'secret-key',
  role,
  replicas: 1,
});

type Row = {
  name: string;
  active?: Colour;
  rollout?: { phase: Phase; stable?: Colour; candidate: Colour; switched: boolean };
  running: Partial<Record<Colour, 'active' | 'preview' | 'idle'>>;
  /** The labels in panel order. */
  labels: string[];
};

const rollout = (phase: Phase, candidate: Colour, switched: boolean, stable?: Colour) => ({ phase, candidate, switched, stable });

const ROWS: Row[] = [
  { name: 'nothing deployed', running: {}, labels: [] },
  {
    name: 'first rollout, deploying blue',
    rollout: rollout('deploying', 'blue', false),
    running: { blue: 'preview' },
    labels: ['blue (candidate)'],
  },
  { name: 'blue serves, no rollout', active: 'blue', running: { blue: 'active' }, labels: ['blue (active)'] },
  {
    name: 'green being analysed next to blue',
    active: 'blue',
    rollout: rollout('analysing', 'green', false, 'blue'),
    running: { blue: 'active', green: 'preview' },
    labels: ['blue (active)', 'green (candidate)'],
  },
  {
    name: 'green awaits a manual promote',
    active: 'blue',
    rollout: rollout('awaitingPromotion', 'green', false, 'blue'),
    running: { blue: 'active', green: 'preview' },
    labels: ['blue (active)', 'green (candidate)'],
  },
  {
    name: 'promoted: green watched, blue kept for a rollback',
    active: 'green',
    rollout: rollout('watching', 'green', true, 'blue'),
    running: { green: 'active', blue: 'idle' },
    labels: ['green (active)', 'blue (previous)'],
  },
  {
    name: 'scaling blue down after the delay',
    active: 'green',
    rollout: rollout('scalingDown', 'green', true, 'blue'),
    running: { green: 'active', blue: 'idle' },
    labels: ['green (active)', 'blue (previous)'],
  },
  {
    name: 'succeeded, blue stopped',
    active: 'green',
    rollout: rollout('succeeded', 'green', true, 'blue'),
    running: { green: 'active' },
    labels: ['green (active)'],
  },
  {
    name: 'a failed gate rolls green back',
    active: 'blue',
    rollout: rollout('rollingBack', 'green', false, 'blue'),
    running: { blue: 'active', green: 'preview' },
    labels: ['blue (active)', 'green (rolling back)'],
  },
  {
    name: 'rolled back, green stopped',
    active: 'blue',
    rollout: rollout('rolledBack', 'green', false, 'blue'),
    running: { blue: 'active' },
    labels: ['blue (active)'],
  },
  {
    name: 'a colour left running after the rollout ended',
    active: 'green',
    rollout: rollout('succeeded', 'green', true, 'blue'),
    running: { green: 'active', blue: 'idle' },
    labels: ['green (active)', 'blue (idle)'],
  },
];

function reading(row: Pick<Row, 'active' | 'rollout' | 'running'>, configFile = FILE, name = 'team'): DeploymentReading {
  const colours: Endpoints['colours'] = {};
  for (const [c, role] of Object.entries(row.running) as Array<[Colour, 'active' | 'preview' | 'idle']>) colours[c] = endpoint(c, role);
  return {
    configFile,
    name,
    active: row.active,
    ...(row.rollout ? { rollout: { id: 'r-1', gates: [], ...row.rollout } } : {}),
    colours,
  };
}

for (const row of ROWS) {
  test(`monitor sources of a deployment: ${row.name}`, () => {
    const plan = planDeploymentSources([reading(row)]);
    assert.deepEqual(
      plan.sources.map((s) => s.spec.label),
      row.labels,
    );
    for (const s of plan.sources) {
      assert.equal(s.spec.role, s.colour, 'the role is the colour (the panel draws blue and green in them)');
      assert.equal(s.spec.id, deploySourceId(FILE, 'team', s.colour));
      assert.equal(s.spec.url, endpoint(s.colour, 'active').url);
      assert.equal(s.spec.apiKey, undefined, 'no key in a plan');
    }
    assert.ok(!JSON.stringify(plan).includes('secret-key'), 'no key anywhere in the plan');
    assert.equal(
      plan.deployments.length,
      row.labels.length || (row.rollout && !['succeeded', 'rolledBack'].includes(row.rollout.phase)) ? 1 : 0,
    );
    if (plan.deployments[0])
      assert.deepEqual(
        plan.deployments[0].sources,
        plan.sources.map((s) => s.spec.id),
      );
  });
}

test('colourStatus: every phase of a rollout names the candidate and the stable colour', () => {
  const table: Array<[Phase, boolean, Colour | undefined, ColourStatus, ColourStatus]> = [
    // phase, switched, active, status of green (candidate), status of blue (stable)
    ['deploying', false, 'blue', 'candidate', 'active'],
    ['waitingReady', false, 'blue', 'candidate', 'active'],
    ['smokeTesting', false, 'blue', 'candidate', 'active'],
    ['analysing', false, 'blue', 'candidate', 'active'],
    ['awaitingPromotion', false, 'blue', 'candidate', 'active'],
    ['switching', false, 'blue', 'candidate', 'active'],
    ['watching', true, 'green', 'active', 'previous'],
    ['scalingDown', true, 'green', 'active', 'previous'],
    ['rollingBack', true, 'blue', 'rolling back', 'active'],
    ['succeeded', true, 'green', 'active', 'idle'],
    ['rolledBack', false, 'blue', 'idle', 'active'],
    ['aborted', false, 'blue', 'idle', 'active'],
  ];
  for (const [phase, switched, active, green, blue] of table) {
    const d = { active, rollout: { id: 'r', phase, candidate: 'green' as const, stable: 'blue' as const, switched, gates: [] } };
    assert.equal(colourStatus(d, 'green'), green, `${phase}: green`);
    assert.equal(colourStatus(d, 'blue'), blue, `${phase}: blue`);
  }
});

test('several deployments: labels carry the name, ids differ per config file, ids stay within 64 characters', () => {
  const row = { active: 'blue' as const, running: { blue: 'active' as const } };
  const long = 'a'.repeat(63);
  const plan = planDeploymentSources([reading(row, '/a/.pronto/deploy.yaml', 'team'), reading(row, '/b/.pronto/deploy.yaml', long)]);
  assert.deepEqual(
    plan.sources.map((s) => s.spec.label),
    ['team: blue (active)', `${long}: blue (active)`],
  );
  assert.notEqual(plan.sources[0]!.spec.id, plan.sources[1]!.spec.id);
  assert.notEqual(deploySourceId('/a/.pronto/deploy.yaml', 'team', 'blue'), deploySourceId('/b/.pronto/deploy.yaml', 'team', 'blue'));
  for (const s of plan.sources) assert.match(s.spec.id, /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
});

test('the deployment line: phase, gates with threshold and measured value, the reason of a rollback', () => {
  const gate = {
    stage: 'analysis' as const,
    name: 'p95 latency',
    source: 'green /metrics',
    threshold: '≤ 500 ms',
    measured: '812 ms',
    passed: false,
    value: 0.812,
    limit: 0.5,
  };
  const d = reading({
    active: 'blue',
    running: { blue: 'active', green: 'preview' },
    rollout: rollout('rollingBack', 'green', false, 'blue'),
  });
  d.rollout = { ...d.rollout!, gates: [gate], reason: 'gate "p95 latency" failed: measured 812 ms, needs ≤ 500 ms' };
  const [info] = planDeploymentSources([d]).deployments;
  assert.equal(info!.summary, 'Rollout r-1: green (rolling back) rollingBack next to blue (active)');
  assert.deepEqual(info!.rollout!.gates, [
    { stage: 'analysis', name: 'p95 latency', source: 'green /metrics', threshold: '≤ 500 ms', measured: '812 ms', passed: false },
  ]);
  assert.match(info!.rollout!.reason!, /p95 latency/);
  const done = planDeploymentSources([
    reading({ active: 'blue', running: { blue: 'active' }, rollout: rollout('rolledBack', 'green', false, 'blue') }),
  ]);
  assert.equal(done.deployments[0]!.summary, 'blue (active) serving; the last rollout r-1 ended rolledBack');
  const unreadable = planDeploymentSources([{ ...reading({ running: {} }), error: 'cluster unreachable' }]);
  assert.equal(unreadable.deployments[0]!.error, 'cluster unreachable', 'a deployment that cannot be read says why');
});

// ---------------------------------------------------------------------------------------------
// The link against a fake platform and the real registry/service
// ---------------------------------------------------------------------------------------------

class FakePlatform {
  record: DeploymentRecord = { name: 'team', colours: {} };
  running: Partial<Record<Colour, 'active' | 'preview' | 'idle'>> = {};
  requests: string[] = [];
  status = 200;
  async readRecord() {
    return this.record;
  }
  async endpoints(): Promise<Endpoints> {
    const colours: Endpoints['colours'] = {};
    for (const [c, role] of Object.entries(this.running) as Array<[Colour, 'active' | 'preview' | 'idle']>) colours[c] = endpoint(c, role);
    return { colours };
  }
  async request(route: { colour: Colour; replica: number }, req: { path: string }): Promise<PlatformResponse> {
    this.requests.push(`${route.colour}#${route.replica} ${req.path}`);
    const text = `# TYPE pronto_busy_sequences gauge\npronto_busy_sequences ${route.colour === 'blue' ? 1 : 2}\n`;
    return {
      status: this.status,
      headers: {},
      body: (async function* () {
        yield Buffer.from(text);
      })(),
    };
  }
}

function workspace(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'pronto-link-'));
  mkdirSync(join(dir, '.pronto'));
  const file = join(dir, '.pronto', 'deploy.yaml');
  writeFileSync(file, 'name: team\ntarget: {kind: local}\nmodel: {path: /m.gguf}\n');
  return { dir, file };
}

test('the link adds both colours, relabels at the switch (same id, history kept), removes a stopped colour', async () => {
  const { dir, file } = workspace();
  const platform = new FakePlatform();
  const m = linkedMonitor({
    createPlatform: async () => platform as unknown as Platform,
    scrape: async () => ({ ok: false, state: 'unreachable', message: 'no engine here' }),
  });
  const { service, link } = m;
  try {
    link.watch(file);
    link.watch(join(dir, 'missing', '.pronto', 'deploy.yaml'));
    await link.refresh();
    assert.deepEqual(
      service.sourceInfos().map((s) => s.id),
      ['engine'],
      'nothing deployed: no colour sources',
    );

    platform.record = {
      name: 'team',
      active: 'blue',
      colours: {},
      rollout: { id: 'r-2', phase: 'analysing', candidate: 'green', stable: 'blue', switched: false, gates: [] } as never,
    };
    platform.running = { blue: 'active', green: 'preview' };
    await link.refresh();
    const ids = { blue: deploySourceId(file, 'team', 'blue'), green: deploySourceId(file, 'team', 'green') };
    assert.deepEqual(
      service.sourceInfos().map((s) => s.label),
      ['Engine', 'blue (active)', 'green (candidate)'],
    );
    await service.tick();
    await service.tick();
    assert.deepEqual(platform.requests.slice(0, 2).sort(), ['blue#0 /metrics', 'green#0 /metrics'], 'scraped through the platform');
    const snap = m.snapshot();
    assert.equal(snap.series[ids.green]!.t.length, 2);
    assert.deepEqual(snap.series[ids.green]!.values.busySequences, [2, 2]);
    assert.deepEqual(snap.series[ids.blue]!.values.busySequences, [1, 1]);
    assert.equal(snap.deployments?.[0]?.rollout?.phase, 'analysing');
    assert.ok(!JSON.stringify(snap).includes('secret-key'), 'no key in what the panel gets');

    // Promoted: green active, blue kept for the watch.
    platform.record = { ...platform.record, active: 'green', rollout: { ...platform.record.rollout!, phase: 'watching', switched: true } };
    platform.running = { green: 'active', blue: 'idle' };
    await link.refresh();
    await service.tick();
    const after = m.snapshot();
    assert.deepEqual(
      after.sources.map((s) => s.label),
      ['Engine', 'blue (previous)', 'green (active)'],
    );
    assert.equal(after.series[ids.green]!.t.length, 3, 'the relabelled source kept its history');

    // Blue scaled down: it leaves.
    platform.record = { ...platform.record, rollout: { ...platform.record.rollout!, phase: 'succeeded' } };
    platform.running = { green: 'active' };
    await link.refresh();
    assert.deepEqual(
      service.sourceInfos().map((s) => s.label),
      ['Engine', 'green (active)'],
    );
    assert.equal(m.deployments()[0]!.summary, 'green (active) serving; the last rollout r-2 ended succeeded');

    // A key the engine refuses is named.
    platform.status = 401;
    await service.tick();
    const green = service.sourceInfos().find((s) => s.id === ids.green)!;
    assert.equal(green.state, 'unauthorized');
    assert.match(green.message ?? '', /green \/metrics refused the deployment's API key/);

    // A broken config keeps the colours last read and says why.
    writeFileSync(file, 'name: [\n');
    await link.refresh();
    assert.deepEqual(
      service.sourceInfos().map((s) => s.label),
      ['Engine', 'green (active)'],
    );
    assert.match(m.deployments()[0]!.error ?? '', /deploy\.yaml:\d+:\d+/);

    // The config removed: its sources leave.
    rmSync(file);
    await link.refresh();
    assert.deepEqual(
      service.sourceInfos().map((s) => s.id),
      ['engine'],
    );
    assert.deepEqual(m.deployments(), []);
  } finally {
    await m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scrapeColour: an unreachable colour and a slow one end as "unreachable" with the reason', async () => {
  const failing = {
    request: async () => Promise.reject(Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } })),
  } as unknown as Platform;
  assert.deepEqual(await scrapeColour(failing, 'green', 500), {
    ok: false,
    state: 'unreachable',
    message: 'cannot reach green /metrics: ECONNREFUSED',
  });
  const huge = {
    request: async () => ({
      status: 200,
      headers: {},
      body: (async function* () {
        for (let i = 0; i < 200; i++) yield Buffer.alloc(64 * 1024, 'x');
      })(),
    }),
  } as unknown as Platform;
  const r = await scrapeColour(huge, 'blue', 500);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : '', /larger than/);
});

test('a Kubernetes deployment found in a workspace folder is followed only once a deploy request used it; timer reads at most every 10 s', async () => {
  const { dir, file } = workspace();
  writeFileSync(
    file,
    `name: team\ntarget: { kind: kubernetes, context: c, namespace: n }\nengine: { image: "reg/pronto:1" }\nmodel: { url: "https://models.example.com/m.gguf", sha256: ${'ab'.repeat(32)} }\n`,
  );
  const platform = new FakePlatform();
  platform.record = { name: 'team', active: 'blue', colours: {} };
  platform.running = { blue: 'active' };
  let made = 0;
  let reads = 0;
  const readRecord = platform.readRecord.bind(platform);
  platform.readRecord = async () => {
    reads++;
    return readRecord();
  };
  const m = linkedMonitor({
    createPlatform: async () => {
      made++;
      return platform as unknown as Platform;
    },
  });
  const { service, link } = m;
  try {
    link.watch(file, false);
    await link.refresh(true);
    assert.equal(made, 0, 'no kubeconfig, no API call for a config only found in the workspace');
    assert.deepEqual(
      service.sourceInfos().map((s) => s.id),
      ['engine'],
    );
    link.watch(file); // a deploy command named it
    await link.refresh();
    assert.deepEqual(
      service.sourceInfos().map((s) => s.label),
      ['Engine', 'blue (active)'],
    );
    const after = reads;
    await link.refresh(true);
    assert.equal(reads, after, 'the timer reuses a record read less than 10 s ago');
    await link.refresh();
    assert.equal(reads, after + 1, 'a rollout step reads it at once');
  } finally {
    await m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
