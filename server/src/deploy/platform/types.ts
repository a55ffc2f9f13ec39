/**
 * What the rollout controller needs from where the engine runs. Two implementations:
 *   - local/    engine processes per colour behind HAProxy on this machine (state file + lock file)
 *   - kubernetes/  Deployments and Services through @kubernetes/client-node (server-side apply),
 *                  state in an annotation of the active Service, the lock in a Lease
 * Every operation is idempotent ("make it so"), so a restarted controller can repeat the step it was in.
 */
import type { DeployConfig } from '../config/schema';
import type { Colour } from '../manifests/render';
import type { RolloutState } from '../rollout/machine';

/** Who holds (or held) the rollout lock. */
export interface LockHolder {
  /** Unique per controller run. */
  id: string;
  user: string;
  host: string;
  pid: number;
  /** "pronto-deploy rollout", "VS Code". */
  tool: string;
  acquiredAt: number;
  renewedAt: number;
  /** The lock is stale when not renewed for this long. */
  ttlSeconds: number;
  rolloutId?: string;
}

export type LockResult = { ok: true } | { ok: false; holder: LockHolder };

/** A manual command for the controller that holds the lock (it may be another process). */
export interface ManualRequest {
  type: 'promote' | 'abort';
  by: string;
  at: number;
}

export interface ColourRecord {
  revision: string;
  replicas: number;
  /** The config this colour was deployed with (a rollback keeps serving it). */
  config: DeployConfig;
}

/** Everything kept with the deployment. */
export interface DeploymentRecord {
  name: string;
  /** The colour `active` selects; undefined before the first rollout. */
  active?: Colour;
  colours: Partial<Record<Colour, ColourRecord>>;
  /** The current rollout, or the last one (terminal). */
  rollout?: RolloutState;
  /** The config of the current rollout (a resumed rollout uses the same gates and timings). */
  rolloutConfig?: DeployConfig;
}

/** Where a request goes: one of the two services, or one replica of a colour (for /metrics). */
export type Route = { service: 'active' | 'preview' } | { colour: Colour; replica: number };

export interface PlatformResponse {
  status: number;
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
}

export interface PlatformRequest {
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** A URL and key a client can use directly (Use Deployed Endpoint, monitoring sources). */
export interface Endpoint {
  url: string;
  apiKey: string;
}

export interface Endpoints {
  active?: Endpoint;
  preview?: Endpoint;
  /** One URL per colour that runs (its first replica, or its service), for side-by-side monitoring. */
  colours: Partial<Record<Colour, Endpoint & { role: 'active' | 'preview' | 'idle'; replicas: number }>>;
}

export interface Readiness {
  ready: boolean;
  /** What is missing, for the progress line ("1 of 2 replicas ready: engine loading the model"). */
  message: string;
  /** Set when waiting longer cannot help (crash loop, image pull error, the engine exited). */
  fatal?: string;
}

export interface Platform {
  readonly kind: 'local' | 'kubernetes';
  /** "local (HAProxy on 127.0.0.1:8600/8601)", "kubernetes context gpu, namespace pronto". */
  describe(): string;

  readRecord(): Promise<DeploymentRecord>;
  writeRecord(record: DeploymentRecord): Promise<void>;

  acquireLock(holder: LockHolder): Promise<LockResult>;
  renewLock(holder: LockHolder): Promise<void>;
  releaseLock(holder: LockHolder): Promise<void>;
  /** The current holder (stale or not), if any. */
  readLock(): Promise<LockHolder | undefined>;
  /** Whether a holder is gone for sure (its lease ran out, or its process no longer exists). */
  isStale(holder: LockHolder, now: number): boolean;

  readRequest(): Promise<ManualRequest | undefined>;
  writeRequest(request: ManualRequest): Promise<void>;
  clearRequest(): Promise<void>;

  /** Create or update `colour` to run `config` with `replicas` replicas; preview selects it. */
  deploy(colour: Colour, config: DeployConfig, replicas: number, signal?: AbortSignal): Promise<void>;
  readiness(colour: Colour): Promise<Readiness>;
  /** Point `active` (and `preview`) at `colour`; in-flight requests on the other colour finish there. */
  switchActive(colour: Colour): Promise<void>;
  /** Scale a colour (0: drain it, then stop it). */
  scale(colour: Colour, replicas: number, signal?: AbortSignal): Promise<void>;
  /** Replicas of a colour that exist now. */
  replicas(colour: Colour): Promise<number>;

  /** An HTTP request to a service or a replica, with the API key. */
  request(route: Route, req: PlatformRequest): Promise<PlatformResponse>;
  /** PromQL label selector of one colour's series (for the Prometheus metrics source). */
  promSelector(colour: Colour): Promise<string>;
  apiKey(): Promise<string>;
  endpoints(): Promise<Endpoints>;
}

export async function readBody(res: PlatformResponse, limit = 1 << 20): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of res.body) {
    size += c.length;
    if (size > limit) throw new Error(`response larger than ${limit} bytes`);
    chunks.push(Buffer.from(c));
  }
  return Buffer.concat(chunks).toString('utf8');
}
