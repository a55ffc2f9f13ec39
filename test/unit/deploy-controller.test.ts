// The rollout controller on an in-memory platform (a fake: the real ones are driven by the
// integration tests). It answers the smoke test and analysis requests like an engine and keeps
// /metrics counters, so every phase runs for real. Table: an abort arriving in each phase ends
// `aborted` with the stable colour serving (scaled back up if the scale-down had begun), and the
// candidate gone; a promote in each phase ends `succeeded`.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseDeployConfig } from '../../server/src/deploy/config/load';
import type { DeployConfig } from '../../server/src/deploy/config/schema';
import { type Colour, configRevision } from '../../server/src/deploy/manifests/render';
import type {
  DeploymentRecord,
  LockHolder,
  ManualRequest,
  Platform,
  PlatformRequest,
  PlatformResponse,
  Route,
} from '../../server/src/deploy/platform/types';
import { RolloutController, RolloutRefused } from '../../server/src/deploy/rollout/controller';
import type { Phase } from '../../server/src/deploy/rollout/machine';

/** A config with sub-second windows (shorter than a user file may ask for: this platform is instant). */
function config(extra = ''): DeployConfig {
  const r = parseDeployConfig(
    `name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngpus: 0\ngates: {minRequests: 1, analysisRate: 20}\nscaleDownDelay: 0.2s\ntimeouts: {ready: 5s}\n${extra}`,
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return { ...r.config, gates: { ...r.config.gates, window: 0.3 }, postPromotion: { window: 0.3 } };
}

const body = (text: string): AsyncIterable<Uint8Array> =>
  (async function* () {
    yield new TextEncoder().encode(text);
  })();

class FakePlatform implements Platform {
  readonly kind = 'local' as const;
  record: DeploymentRecord = { name: 't', colours: {} };
  lock: LockHolder | undefined;
  request_: ManualRequest | undefined;
  running: Record<Colour, number> = { blue: 0, green: 0 };
  served: Record<Colour, number> = { blue: 0, green: 0 };
  /** Called when the controller enters a phase (the test injects a manual request there). */
  onPhase: (phase: Phase) => void = () => undefined;
  private lastPhase: Phase | undefined;
  describe() {
    return 'fake';
  }
  async readRecord() {
    return structuredClone(this.record);
  }
  async writeRecord(r: DeploymentRecord) {
    this.record = structuredClone(r);
    const phase = r.rollout?.phase;
    if (phase && phase !== this.lastPhase) {
      this.lastPhase = phase;
      this.onPhase(phase);
    }
  }
  async acquireLock(h: LockHolder) {
    if (this.lock && this.lock.id !== h.id) return { ok: false as const, holder: this.lock };
    this.lock = h;
    return { ok: true as const };
  }
  async renewLock() {}
  async releaseLock(h: LockHolder) {
    if (this.lock?.id === h.id) this.lock = undefined;
  }
  async readLock() {
    return this.lock;
  }
  isStale() {
    return false;
  }
  async readRequest() {
    return this.request_;
  }
  async writeRequest(r: ManualRequest) {
    this.request_ = r;
  }
  async clearRequest() {
    this.request_ = undefined;
  }
  async deploy(colour: Colour, c: DeployConfig, replicas: number) {
    this.record.colours[colour] = { revision: configRevision(c), replicas, config: c };
    this.running[colour] = replicas;
  }
  async readiness(colour: Colour) {
    return this.running[colour] > 0 ? { ready: true, message: 'ready' } : { ready: false, message: 'no replica' };
  }
  async switchActive(colour: Colour) {
    this.record.active = colour;
  }
  /** Called when a scale starts (the test injects a request there); the scale takes `scaleMs`. */
  onScale: (colour: Colour, replicas: number) => void = () => undefined;
  scaleMs = 0;
  async scale(colour: Colour, replicas: number) {
    this.onScale(colour, replicas);
    this.running[colour] = replicas;
    if (this.record.colours[colour]) this.record.colours[colour]!.replicas = replicas;
    await new Promise((r) => setTimeout(r, this.scaleMs));
  }
  async replicas(colour: Colour) {
    return this.running[colour];
  }
  private colourOf(route: Route): Colour {
    if ('colour' in route) return route.colour;
    const r = this.record.rollout;
    if (route.service === 'preview' && r && !r.switched) return r.candidate;
    return this.record.active!;
  }
  async request(route: Route, req: PlatformRequest): Promise<PlatformResponse> {
    const colour = this.colourOf(route);
    if (this.running[colour] === 0) throw new Error(`${colour} is not running`);
    if (req.path === '/metrics') {
      const n = this.served[colour];
      return {
        status: 200,
        headers: {},
        body: body(
          `pronto_requests_total ${n}\npronto_request_latency_seconds_bucket{le="0.1"} ${n}\npronto_request_latency_seconds_bucket{le="+Inf"} ${n}\n`,
        ),
      };
    }
    this.served[colour]++;
    if (req.path === '/v1/completions')
      return { status: 200, headers: {}, body: body('{"choices":[{"text":"x"}],"usage":{"completion_tokens":1}}') };
    return { status: 200, headers: {}, body: body('data: {"choices":[{"delta":{"content":"x"}}]}\n\ndata: [DONE]\n\n') };
  }
  async promSelector() {
    return '';
  }
  async apiKey() {
    return 'k';
  }
  async endpoints() {
    return { colours: {} };
  }
}

async function deployed(): Promise<FakePlatform> {
  const p = new FakePlatform();
  const first = await new RolloutController({ platform: p, tool: 'test', pollMs: 20 }).run(config());
  assert.equal(first.phase, 'succeeded');
  assert.equal(p.record.active, 'blue');
  return p;
}

const PHASES_WITH_STEPS: Phase[] = ['deploying', 'waitingReady', 'smokeTesting', 'analysing', 'switching', 'watching', 'scalingDown'];

for (const phase of PHASES_WITH_STEPS) {
  test(`abort while ${phase}: ends aborted, blue serving again, green gone`, { timeout: 20_000 }, async () => {
    const p = await deployed();
    p.onPhase = (ph) => {
      if (ph === phase) p.request_ = { type: 'abort', by: 'bob', at: Date.now() };
    };
    const final = await new RolloutController({ platform: p, tool: 'test', pollMs: 20 }).run(config('engine: {parallel: 2}\n'));
    assert.equal(final.phase, 'aborted');
    assert.equal(final.reason, 'aborted by bob');
    assert.equal(p.record.active, 'blue');
    assert.ok(p.running.blue >= 1, 'blue serves (scaled back up when the scale-down had begun)');
    assert.equal(p.running.green, 0);
    assert.equal(p.lock, undefined, 'lock released');
  });
  test(`promote while ${phase}: ends succeeded on green`, { timeout: 20_000 }, async () => {
    const p = await deployed();
    p.onPhase = (ph) => {
      if (ph === phase) p.request_ = { type: 'promote', by: 'bob', at: Date.now() };
    };
    const final = await new RolloutController({ platform: p, tool: 'test', pollMs: 20 }).run(config('engine: {parallel: 2}\n'));
    assert.equal(final.phase, 'succeeded');
    assert.equal(p.record.active, 'green');
    assert.equal(p.running.blue, 0);
  });
}

test('abort while the old colour is being scaled down: it is started again and serves, then green goes', { timeout: 20_000 }, async () => {
  const p = await deployed();
  p.scaleMs = 300;
  p.onScale = (colour, n) => {
    if (colour === 'blue' && n === 0 && p.record.rollout?.phase === 'scalingDown')
      p.request_ = { type: 'abort', by: 'bob', at: Date.now() };
  };
  const final = await new RolloutController({ platform: p, tool: 'test', pollMs: 20 }).run(config('engine: {parallel: 2}\n'));
  assert.equal(final.phase, 'aborted');
  assert.equal(p.record.active, 'blue');
  assert.equal(p.running.blue, 1, 'blue started again');
  assert.equal(p.running.green, 0);
});

test('a second controller is refused while the first holds the lock, naming the holder', async () => {
  const p = new FakePlatform();
  p.lock = { id: 'x', user: 'ann', host: 'ws1', pid: 42, tool: 'VS Code', acquiredAt: 0, renewedAt: Date.now(), ttlSeconds: 30 };
  await assert.rejects(
    new RolloutController({ platform: p, tool: 'test' }).run(config()),
    (e: Error) => e instanceof RolloutRefused && /held by ann@ws1 \(VS Code, pid 42\)/.test(e.message),
  );
});

test('cancel (the caller’s signal) rolls back to the stable colour', { timeout: 20_000 }, async () => {
  const p = await deployed();
  const cancel = new AbortController();
  p.onPhase = (ph) => {
    if (ph === 'analysing') cancel.abort(new Error('cancelled'));
  };
  const final = await new RolloutController({ platform: p, tool: 'test', pollMs: 20 }).run(
    config('engine: {parallel: 2}\n'),
    cancel.signal,
  );
  assert.equal(final.phase, 'aborted');
  assert.match(final.reason!, /cancelled/);
  assert.equal(p.record.active, 'blue');
});
