/**
 * The Kubernetes platform, through @kubernetes/client-node and the user's kubeconfig:
 *
 * - Objects (manifests/render.ts) are written with server-side apply (`PATCH`, content type
 *   `application/apply-patch+yaml`, `fieldManager=pronto`, `force=true`), always whole, so the
 *   field manager keeps owning every field it set.
 * - `active` is switched by applying the Service with the other colour in its selector.
 * - The rollout lock is a `coordination.k8s.io/v1` Lease, `pronto-<name>-rollout`: holderIdentity,
 *   leaseDurationSeconds, renewTime; taken with the object's resourceVersion (a 409 means someone
 *   else was faster). The deployment record (what each colour runs, the rollout state) and a
 *   pending promote/abort live in annotations of the same Lease.
 * - Requests to the services and to each pod (smoke test, analysis, /metrics) go through a
 *   port-forward to a ready pod of the colour the service selects: the API server's own proxy
 *   removes the `Authorization` header (kubernetes#38775), and the engine needs it for its key.
 *
 * Not run against a live cluster here (none can run on this machine): test/integration/
 * deploy.kubernetes.test.ts checks the exact requests against a local server that answers as the
 * API server documents.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import { Duplex, PassThrough } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type { DeployConfig, KubernetesTarget } from '../../config/schema';
import {
  COLOURS,
  type Colour,
  configRevision,
  LABEL_COLOUR,
  LABEL_INSTANCE,
  LABEL_NAME,
  names,
  podSelector,
  renderManifests,
} from '../../manifests/render';
import type {
  DeploymentRecord,
  Endpoints,
  LockHolder,
  LockResult,
  ManualRequest,
  Platform,
  PlatformRequest,
  PlatformResponse,
  Readiness,
  Route,
} from '../types';

export const ANNOTATION_STATE = 'pronto.dev/state';
export const ANNOTATION_REQUEST = 'pronto.dev/request';
export const ANNOTATION_HOLDER = 'pronto.dev/holder';
const FIELD_MANAGER = 'pronto';

type Obj = k8s.KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown>; data?: Record<string, string> };

function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}
function isConflict(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

/** Waiting reasons that no amount of waiting fixes. */
const FATAL_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CrashLoopBackOff']);

export class KubernetesPlatform implements Platform {
  readonly kind = 'kubernetes' as const;
  private readonly target: KubernetesTarget;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly n: ReturnType<typeof names>;
  private readonly log: (line: string) => void;
  private key: string | undefined;

  constructor(
    private readonly config: DeployConfig,
    private readonly kc: k8s.KubeConfig,
    opts: { log?: (line: string) => void } = {},
  ) {
    if (config.target.kind !== 'kubernetes') throw new Error('KubernetesPlatform needs target.kind: kubernetes');
    this.target = config.target;
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.n = names(config.name);
    this.log = opts.log ?? (() => undefined);
  }

  static fromKubeconfig(config: DeployConfig, opts: { log?: (line: string) => void; kubeconfig?: string } = {}): KubernetesPlatform {
    if (config.target.kind !== 'kubernetes') throw new Error('not a kubernetes target');
    const kc = new k8s.KubeConfig();
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig);
    else kc.loadFromDefault();
    if (config.target.context) {
      const known = kc.getContexts().map((c) => c.name);
      if (!known.includes(config.target.context)) {
        throw new Error(`target.context "${config.target.context}" is not in your kubeconfig; its contexts: ${known.join(', ') || 'none'}`);
      }
      kc.setCurrentContext(config.target.context);
    }
    if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster in your kubeconfig (set KUBECONFIG, or target.context)');
    return new KubernetesPlatform(config, kc, opts);
  }

  describe(): string {
    return `kubernetes (context ${this.kc.getCurrentContext()}, namespace ${this.target.namespace}, server ${this.kc.getCurrentCluster()?.server})`;
  }

  private header(apiVersion: string, kind: string, name: string) {
    return { apiVersion, kind, metadata: { name, namespace: this.target.namespace } };
  }

  private async read(apiVersion: string, kind: string, name: string): Promise<Obj | undefined> {
    try {
      return (await this.objects.read(this.header(apiVersion, kind, name))) as Obj;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async apply(obj: k8s.KubernetesObject): Promise<void> {
    await this.objects.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  // ---- the Lease: lock, record, requests ---------------------------------------------------

  private async lease(): Promise<Obj | undefined> {
    return this.read('coordination.k8s.io/v1', 'Lease', this.n.lease);
  }

  /** Creates the Lease (no holder) when it does not exist yet; returns it. */
  private async ensureLease(): Promise<Obj> {
    const existing = await this.lease();
    if (existing) return existing;
    try {
      return (await this.objects.create({
        ...this.header('coordination.k8s.io/v1', 'Lease', this.n.lease),
        metadata: {
          name: this.n.lease,
          namespace: this.target.namespace,
          labels: { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: this.config.name },
        },
        spec: {},
      } as k8s.KubernetesObject)) as Obj;
    } catch (err) {
      if (isConflict(err)) return (await this.lease())!;
      throw err;
    }
  }

  private async patchLeaseAnnotations(annotations: Record<string, string | null>): Promise<void> {
    await this.ensureLease();
    await this.objects.patch(
      {
        ...this.header('coordination.k8s.io/v1', 'Lease', this.n.lease),
        metadata: { name: this.n.lease, namespace: this.target.namespace, annotations },
      } as k8s.KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
      undefined,
      k8s.PatchStrategy.MergePatch,
    );
  }

  async readRecord(): Promise<DeploymentRecord> {
    const raw = (await this.lease())?.metadata?.annotations?.[ANNOTATION_STATE];
    if (!raw) return { name: this.config.name, colours: {} };
    try {
      return JSON.parse(raw) as DeploymentRecord;
    } catch {
      throw new Error(`the annotation ${ANNOTATION_STATE} of Lease ${this.n.lease} is damaged; remove it to start from nothing`);
    }
  }

  async writeRecord(record: DeploymentRecord): Promise<void> {
    await this.patchLeaseAnnotations({ [ANNOTATION_STATE]: JSON.stringify(record) });
  }

  private holderOf(lease: Obj | undefined): LockHolder | undefined {
    const spec = lease?.spec as { holderIdentity?: string } | undefined;
    if (!spec?.holderIdentity) return undefined;
    const raw = lease?.metadata?.annotations?.[ANNOTATION_HOLDER];
    try {
      const h = raw ? (JSON.parse(raw) as LockHolder) : undefined;
      const renew = Date.parse(String((spec as { renewTime?: string }).renewTime ?? ''));
      if (h && h.id === spec.holderIdentity) return { ...h, renewedAt: Number.isNaN(renew) ? h.renewedAt : renew };
    } catch {
      // Fall through: a holder written by something else.
    }
    return {
      id: spec.holderIdentity,
      user: spec.holderIdentity,
      host: '?',
      pid: 0,
      tool: 'unknown',
      acquiredAt: 0,
      renewedAt: 0,
      ttlSeconds: 0,
    };
  }

  async readLock(): Promise<LockHolder | undefined> {
    return this.holderOf(await this.lease());
  }

  isStale(holder: LockHolder, now: number): boolean {
    return now > holder.renewedAt + holder.ttlSeconds * 1000;
  }

  /** Writes the Lease's holder with its resourceVersion: a 409 means another controller got there first. */
  private async putHolder(lease: Obj, holder: LockHolder | undefined): Promise<void> {
    const micro = (ms: number) => new Date(ms).toISOString().replace('Z', '000Z');
    const spec = holder
      ? {
          holderIdentity: holder.id,
          leaseDurationSeconds: holder.ttlSeconds,
          acquireTime: micro(holder.acquiredAt),
          renewTime: micro(holder.renewedAt),
        }
      : {};
    const annotations = { ...(lease.metadata?.annotations ?? {}) };
    if (holder) annotations[ANNOTATION_HOLDER] = JSON.stringify(holder);
    else delete annotations[ANNOTATION_HOLDER];
    await this.objects.replace(
      { ...lease, metadata: { ...lease.metadata, annotations }, spec } as k8s.KubernetesObject,
      undefined,
      undefined,
      FIELD_MANAGER,
    );
  }

  async acquireLock(holder: LockHolder): Promise<LockResult> {
    const lease = await this.ensureLease();
    const current = this.holderOf(lease);
    if (current && current.id !== holder.id && !this.isStale(current, Date.now())) return { ok: false, holder: current };
    try {
      await this.putHolder(lease, holder);
      return { ok: true };
    } catch (err) {
      if (!isConflict(err)) throw err;
      const now = this.holderOf(await this.lease());
      return now && now.id !== holder.id ? { ok: false, holder: now } : { ok: true };
    }
  }

  async renewLock(holder: LockHolder): Promise<void> {
    const lease = await this.lease();
    const current = this.holderOf(lease);
    if (!lease || current?.id !== holder.id)
      throw new Error(`lost the rollout lock${current ? ` to ${current.user}@${current.host}` : ''}`);
    holder.renewedAt = Date.now();
    await this.putHolder(lease, holder);
  }

  async releaseLock(holder: LockHolder): Promise<void> {
    const lease = await this.lease();
    if (lease && this.holderOf(lease)?.id === holder.id) await this.putHolder(lease, undefined).catch(() => undefined);
  }

  async readRequest(): Promise<ManualRequest | undefined> {
    const raw = (await this.lease())?.metadata?.annotations?.[ANNOTATION_REQUEST];
    return raw ? (JSON.parse(raw) as ManualRequest) : undefined;
  }

  async writeRequest(request: ManualRequest): Promise<void> {
    await this.patchLeaseAnnotations({ [ANNOTATION_REQUEST]: JSON.stringify(request) });
  }

  async clearRequest(): Promise<void> {
    await this.patchLeaseAnnotations({ [ANNOTATION_REQUEST]: null });
  }

  // ---- the API key -------------------------------------------------------------------------

  /** The key in the Secret; created (from apiKey.env, or generated) when there is none. Never overwritten. */
  async apiKey(): Promise<string> {
    if (this.key) return this.key;
    const secret = await this.read('v1', 'Secret', this.n.secret);
    const existing = secret?.data?.['api-key'];
    if (existing) {
      this.key = Buffer.from(existing, 'base64').toString('utf8');
      return this.key;
    }
    const fromEnv = this.config.apiKey.env ? process.env[this.config.apiKey.env] : undefined;
    const key = fromEnv || randomBytes(24).toString('base64url');
    try {
      await this.objects.create({
        ...this.header('v1', 'Secret', this.n.secret),
        metadata: {
          name: this.n.secret,
          namespace: this.target.namespace,
          labels: { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: this.config.name },
        },
        type: 'Opaque',
        stringData: { 'api-key': key },
      } as k8s.KubernetesObject);
    } catch (err) {
      if (!isConflict(err)) throw err;
      return this.apiKey();
    }
    this.key = key;
    return key;
  }

  // ---- colours -----------------------------------------------------------------------------

  /**
   * Applies, for the record's layout: the Deployments of `colours`, both Services, and both
   * autoscalers (the serving colour's runs; a candidate not switched to yet stays pinned).
   */
  private async applyLayout(record: DeploymentRecord, colours: Colour[], preview: Colour): Promise<void> {
    const replicas = { blue: record.colours.blue?.replicas ?? 0, green: record.colours.green?.replicas ?? 0 };
    const configs = { blue: record.colours.blue?.config, green: record.colours.green?.config };
    const revisions = { blue: record.colours.blue?.revision, green: record.colours.green?.revision };
    const rendered = renderManifests(this.config, { active: record.active, preview, replicas, configs, revisions }, await this.apiKey());
    for (const obj of rendered.objects) {
      if (obj.kind === 'Secret') continue; // created once by apiKey(), never overwritten
      if (obj.kind === 'Deployment' && !colours.some((c) => obj.metadata.name === this.n.deployment(c))) continue;
      if (
        (obj.kind === 'ScaledObject' || obj.kind === 'HorizontalPodAutoscaler') &&
        !record.colours[obj.metadata.name.endsWith('-blue') ? 'blue' : 'green']
      )
        continue;
      await this.apply(obj);
    }
  }

  async deploy(colour: Colour, config: DeployConfig, replicas: number): Promise<void> {
    await this.apiKey();
    const record = await this.readRecord();
    record.colours[colour] = { revision: configRevision(config), replicas, config };
    await this.writeRecord(record);
    await this.applyLayout(record, [colour], colour);
    this.log(`applied ${this.n.deployment(colour)} (${replicas} replica(s))`);
  }

  async readiness(colour: Colour): Promise<Readiness> {
    const d = await this.read('apps/v1', 'Deployment', this.n.deployment(colour));
    if (!d) return { ready: false, message: `Deployment ${this.n.deployment(colour)} not found yet` };
    const spec = d.spec as { replicas?: number };
    const status = (d.status ?? {}) as {
      observedGeneration?: number;
      readyReplicas?: number;
      updatedReplicas?: number;
      availableReplicas?: number;
    };
    const want = spec.replicas ?? 1;
    const pods = await this.pods(colour);
    for (const p of pods) {
      for (const cs of [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]) {
        const reason = cs.state?.waiting?.reason;
        if (reason && FATAL_REASONS.has(reason) && (reason !== 'CrashLoopBackOff' || (cs.restartCount ?? 0) >= 3)) {
          return {
            ready: false,
            message: `${p.metadata?.name}: ${reason}`,
            fatal: `pod ${p.metadata?.name} container ${cs.name}: ${reason}${cs.state?.waiting?.message ? ` (${cs.state.waiting.message})` : ''}`,
          };
        }
      }
    }
    const generationOk = (status.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0);
    const ready = status.readyReplicas ?? 0;
    if (generationOk && ready >= want && (status.updatedReplicas ?? 0) >= want)
      return { ready: true, message: `${ready} of ${want} replicas ready` };
    return { ready: false, message: `${ready} of ${want} replicas ready${generationOk ? '' : ' (rollout of the new spec pending)'}` };
  }

  async switchActive(colour: Colour): Promise<void> {
    const record = await this.readRecord();
    record.active = colour;
    await this.writeRecord(record);
    await this.applyLayout(record, [], colour);
    this.log(`active → ${colour}`);
  }

  async scale(colour: Colour, replicas: number): Promise<void> {
    const record = await this.readRecord();
    const current = record.colours[colour];
    if (!current) {
      if (replicas === 0) return;
      throw new Error(`${colour} was never deployed`);
    }
    current.replicas = replicas;
    await this.writeRecord(record);
    const preview =
      record.rollout && !record.rollout.switched && !['succeeded', 'rolledBack', 'aborted'].includes(record.rollout.phase)
        ? record.rollout.candidate
        : (record.active ?? colour);
    await this.applyLayout(record, [colour], preview);
  }

  private async pods(colour: Colour): Promise<k8s.V1Pod[]> {
    const selector = `${LABEL_NAME}=pronto,${LABEL_INSTANCE}=${this.config.name},${LABEL_COLOUR}=${colour}`;
    const list = await this.objects.list<k8s.V1Pod>(
      'v1',
      'Pod',
      this.target.namespace,
      undefined,
      undefined,
      undefined,
      undefined,
      selector,
    );
    return list.items;
  }

  private async readyPods(colour: Colour): Promise<string[]> {
    return (await this.pods(colour))
      .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && !p.metadata?.deletionTimestamp)
      .map((p) => p.metadata!.name!)
      .sort();
  }

  async replicas(colour: Colour): Promise<number> {
    return (await this.readyPods(colour)).length;
  }

  private rrCounter = 0;

  async request(route: Route, req: PlatformRequest): Promise<PlatformResponse> {
    let pod: string | undefined;
    if ('service' in route) {
      const record = await this.readRecord();
      const r = record.rollout;
      const previewColour = r && !r.switched && !['succeeded', 'rolledBack', 'aborted'].includes(r.phase) ? r.candidate : record.active;
      const colour = route.service === 'active' ? record.active : previewColour;
      if (!colour) throw new Error(`the ${route.service} service selects no colour yet`);
      const pods = await this.readyPods(colour);
      // Spread requests over the ready pods, as the Service would.
      pod = pods[this.rrCounter++ % Math.max(1, pods.length)];
      if (!pod) throw new Error(`the ${route.service} service (${colour}) has no ready pod`);
    } else {
      pod = (await this.readyPods(route.colour))[route.replica];
      if (!pod) throw new Error(`${route.colour} has no ready replica ${route.replica}`);
    }
    return this.forwardRequest(pod, req);
  }

  /** One HTTP request to a pod's engine over a port-forward (one WebSocket per request). */
  private async forwardRequest(pod: string, req: PlatformRequest): Promise<PlatformResponse> {
    const toPod = new PassThrough();
    const fromPod = new PassThrough();
    const errors = new PassThrough();
    let errorText = '';
    errors.on('data', (d: Buffer) => (errorText += d.toString()));
    const forward = new k8s.PortForward(this.kc, true);
    const ws = (await forward.portForward(this.target.namespace, pod, [this.target.port], fromPod, errors, toPod)) as {
      close?: () => void;
    };
    const socket = Duplex.from({ readable: fromPod, writable: toPod }) as Duplex & {
      setTimeout?: () => void;
      setNoDelay?: () => void;
      setKeepAlive?: () => void;
    };
    socket.setTimeout = () => socket;
    socket.setNoDelay = () => socket;
    socket.setKeepAlive = () => socket;
    const key = await this.apiKey();
    return new Promise<PlatformResponse>((resolve, reject) => {
      const r = http.request(
        {
          method: req.method,
          path: req.path,
          host: 'localhost',
          headers: {
            authorization: `Bearer ${key}`,
            connection: 'close',
            ...(req.body ? { 'content-type': 'application/json' } : {}),
            ...req.headers,
          },
          createConnection: () => socket as unknown as import('node:net').Socket,
          signal: req.signal,
        },
        (res) => {
          res.on('close', () => ws.close?.());
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
          resolve({ status: res.statusCode ?? 0, headers, body: res });
        },
      );
      r.on('error', (e) => {
        ws.close?.();
        reject(errorText ? new Error(`port-forward to ${pod}: ${errorText.trim()}`) : e);
      });
      r.end(req.body);
    });
  }

  async promSelector(colour: Colour): Promise<string> {
    return podSelector(this.config, colour);
  }

  async endpoints(): Promise<Endpoints> {
    const key = await this.apiKey();
    const record = await this.readRecord();
    const out: Endpoints = { colours: {} };
    if (record.active && this.target.publicUrl) out.active = { url: this.target.publicUrl, apiKey: key };
    const r = record.rollout;
    const previewColour = r && !r.switched && !['succeeded', 'rolledBack', 'aborted'].includes(r.phase) ? r.candidate : undefined;
    // In-cluster addresses of the two Services (reachable from CI jobs and a Prometheus inside the cluster).
    const svc = (name: string) => `http://${name}.${this.target.namespace}.svc`;
    out.preview = { url: svc(this.n.preview), apiKey: key };
    for (const c of COLOURS) {
      const rec = record.colours[c];
      if (!rec || rec.replicas === 0) continue;
      const role = record.active === c ? 'active' : previewColour === c ? 'preview' : 'idle';
      if (role === 'idle') continue;
      out.colours[c] = { url: svc(role === 'active' ? this.n.active : this.n.preview), apiKey: key, role, replicas: rec.replicas };
    }
    return out;
  }
}
