/**
 * The link from deployments to the monitor: while a deployment runs, its colours are sources of the
 * monitoring panel ("blue (active)", "green (candidate)"), side by side on the same charts, with the
 * rollout's phase and gates next to them. It reads each watched config's platform on a fixed
 * interval (and at once when a rollout driven here moves on), plans the sources with the pure
 * `planDeploymentSources` (monitorSources.ts) and applies the plan to the monitor's registry: new
 * colours are added, relabelled ones replaced (their history stays), stopped ones removed.
 *
 * The monitor scrapes a colour through the platform (`request({colour, replica: 0}, GET /metrics)`):
 * the platform holds the API key (it never reaches a client or the webview), and on Kubernetes it
 * is the port-forward to a pod the gates use too (the Services' in-cluster names do not resolve on a
 * workstation). With several replicas the panel shows the first one's figures.
 *
 * Watched configs: each workspace folder's `.pronto/deploy.yaml` and every config a `pronto/deploy/*`
 * request named. A missing file contributes nothing; a broken one, or an unreachable cluster, keeps
 * the colours last read and says why. A Kubernetes deployment costs API calls and port-forwards, and
 * its config is often in git for the whole team: it is followed only once this window used it (a
 * deploy command or the rollout view), and its record is read at most every 10 s between rollout steps.
 */
import { stat } from 'node:fs/promises';
import { loadDeployConfigFile } from './config/load';
import type { Colour } from './manifests/render';
import { MAX_METRICS_BYTES } from '../monitor/prometheusText';
import type { ScrapeOutcome, SourceRegistry } from '../monitor/sources';
import type { MonitorDeploymentInfo } from '../../../protocol/monitorData';
import { planDeploymentSources, type DeploymentReading } from './monitorSources';
import { createPlatform, workspaceOf } from './platform/create';
import { readBody, type Platform } from './platform/types';

export interface DeployMonitorLinkDeps {
  /** The monitor's source registry. */
  registry: Pick<SourceRegistry, 'add' | 'remove' | 'get'>;
  /** The panel's deployment lines. */
  setDeployments: (deployments: MonitorDeploymentInfo[]) => void;
  /** How often to read the platforms (the monitor's sampling interval). */
  intervalMs: () => number;
  log: (line: string) => void;
  /** Platform factory (tests). */
  createPlatform?: typeof createPlatform;
}

/** Between rollout steps a Kubernetes deployment's record is read at most this often (API calls). */
export const KUBERNETES_READ_INTERVAL_MS = 10_000;

interface Watched {
  /** A deploy request named it (else it was only found in a workspace folder). */
  used: boolean;
  readAt?: number;
  /** The platform of the config as last read (rebuilt when the config changes). */
  platform?: Platform;
  configKey?: string;
  last?: DeploymentReading;
  lastError?: string;
}

/** GET /metrics of a colour's first replica through the platform, as the monitor's scrape outcome. */
export async function scrapeColour(platform: Platform, colour: Colour, timeoutMs: number): Promise<ScrapeOutcome> {
  const what = `${colour} /metrics`;
  try {
    const res = await platform.request({ colour, replica: 0 }, { method: 'GET', path: '/metrics', signal: AbortSignal.timeout(timeoutMs) });
    if (res.status === 401 || res.status === 403) {
      await drain(res.body);
      return { ok: false, state: 'unauthorized', message: `${what} refused the deployment's API key (HTTP ${res.status})` };
    }
    if (res.status !== 200) {
      await drain(res.body);
      return { ok: false, state: 'bad-response', message: `${what} answered HTTP ${res.status}` };
    }
    return { ok: true, text: await readBody(res, MAX_METRICS_BYTES) };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    return { ok: false, state: 'unreachable', message: `cannot reach ${what}: ${why}` };
  }
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  try {
    for await (const _ of body) break;
  } catch {
    // Already closed.
  }
}

export class DeployMonitorLink {
  private readonly watched = new Map<string, Watched>();
  /** Source ids this link added (and so may remove). */
  private readonly owned = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private refreshing: Promise<void> | undefined;
  private again = false;
  private readonly make: typeof createPlatform;

  constructor(private readonly deps: DeployMonitorLinkDeps) {
    this.make = deps.createPlatform ?? createPlatform;
  }

  /**
   * Watch a config file (idempotent); the first time, read it at once. `used`: a deploy request
   * named it (a Kubernetes deployment is followed only then); false: found in a workspace folder.
   */
  watch(configFile: string, used = true): void {
    const known = this.watched.get(configFile);
    if (known) {
      if (used && !known.used) {
        known.used = true;
        if (this.running) void this.refresh();
      }
      return;
    }
    this.watched.set(configFile, { used });
    if (this.running) void this.refresh();
  }

  /** Reads every platform now on top of the interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.refresh(true).finally(() => {
        if (this.running) this.schedule(Math.max(1000, this.deps.intervalMs()));
      });
    }, delayMs);
    this.timer.unref?.();
  }

  /**
   * Reads the watched deployments and applies the plan. Calls during a refresh run once more after
   * it. `periodic` (the timer): a Kubernetes record read less than 10 s ago is reused.
   */
  refresh(periodic = false): Promise<void> {
    if (this.refreshing) {
      if (!periodic) this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      let p = periodic;
      do {
        this.again = false;
        await this.refreshOnce(p);
        p = false;
      } while (this.again);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(configFile: string, w: Watched, periodic: boolean): Promise<DeploymentReading | undefined> {
    const exists = await stat(configFile).then(
      () => true,
      () => false,
    );
    if (!exists) {
      w.platform = undefined;
      w.configKey = undefined;
      w.last = undefined;
      return undefined;
    }
    try {
      const loaded = await loadDeployConfigFile(configFile);
      if (!loaded.ok) {
        const p = loaded.problems[0]!;
        throw new Error(`${configFile}:${p.line}:${p.column}: ${p.message}`);
      }
      if (loaded.config.target.kind === 'kubernetes') {
        if (!w.used) return undefined;
        if (periodic && w.last && !w.lastError && Date.now() - (w.readAt ?? 0) < KUBERNETES_READ_INTERVAL_MS) return w.last;
      }
      const key = JSON.stringify(loaded.config);
      if (w.configKey !== key || !w.platform) {
        w.platform = await this.make(loaded.config, { root: workspaceOf(configFile), log: (l) => this.deps.log(`deploy: ${l}`) });
        w.configKey = key;
      }
      const record = await w.platform.readRecord();
      const endpoints = await w.platform.endpoints();
      w.last = { configFile, name: loaded.config.name, active: record.active, rollout: record.rollout, colours: endpoints.colours };
      w.readAt = Date.now();
      if (w.lastError) this.deps.log(`monitor: deployment ${configFile} readable again`);
      w.lastError = undefined;
      return w.last;
    } catch (err) {
      const message = (err as Error).message;
      if (message !== w.lastError) this.deps.log(`monitor: cannot read the deployment of ${configFile}: ${message}`);
      w.lastError = message;
      return { ...(w.last ?? { configFile, name: workspaceOf(configFile), colours: {} }), error: message };
    }
  }

  private async refreshOnce(periodic: boolean): Promise<void> {
    const readings: DeploymentReading[] = [];
    for (const [configFile, w] of this.watched) {
      const r = await this.read(configFile, w, periodic);
      if (r) readings.push(r);
    }
    const plan = planDeploymentSources(readings);
    const wanted = new Set(plan.sources.map((s) => s.spec.id));
    for (const id of [...this.owned]) {
      if (wanted.has(id)) continue;
      this.deps.registry.remove(id);
      this.owned.delete(id);
      this.deps.log(`monitor: source "${id}" removed (the colour stopped)`);
    }
    for (const { spec, configFile, colour } of plan.sources) {
      const now = this.deps.registry.get(spec.id);
      if (now && now.label === spec.label && now.url === spec.url && now.role === spec.role) continue;
      try {
        this.deps.registry.add(spec, {
          scrape: (timeoutMs) => {
            const platform = this.watched.get(configFile)?.platform;
            return platform
              ? scrapeColour(platform, colour, timeoutMs)
              : Promise.resolve({ ok: false, state: 'unreachable', message: 'the deployment is no longer watched' } as const);
          },
        });
        this.owned.add(spec.id);
        this.deps.log(`monitor: source "${spec.label}" (${spec.id}) at ${spec.url}`);
      } catch (err) {
        this.deps.log(`monitor: cannot add "${spec.label}": ${(err as Error).message}`);
      }
    }
    this.deps.setDeployments(plan.deployments);
  }

  /** Stops reading and removes the sources this link added. */
  async dispose(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.refreshing;
    for (const id of this.owned) this.deps.registry.remove(id);
    this.owned.clear();
    this.deps.setDeployments([]);
  }
}
