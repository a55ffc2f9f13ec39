/**
 * The deploy config (`.pronto/deploy.yaml`): one zod schema, the types inferred from it, and the
 * small value parsers (durations, quantities) whose messages say what to write instead. The file is
 * user-edited, so it is a trust boundary: everything past `loadDeployConfig` (load.ts) uses the
 * parsed `DeployConfig`, with every default filled in and every duration in seconds.
 *
 * Shape (see starter.ts for a commented example):
 *   name, target (kubernetes | local), engine, model (path | url + sha256), replicas, gpus,
 *   resources, apiKey, gates, timeouts, postPromotion, scaleDownDelay, autoPromote, autoscaling,
 *   metrics (prometheus), local (ports, state folder).
 */
import { z } from 'zod';

/** `90`, `90s`, `5m`, `1h30m`, `250ms` → seconds. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
    matched = re.lastIndex;
  }
  return matched === s.length && s.length > 0 ? total : undefined;
}

const duration = (min: number, max: number) =>
  z.unknown().transform((v, ctx) => {
    const seconds = parseDuration(v);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration; write a number of seconds or e.g. 30s, 5m, 1h30m` });
      return z.NEVER;
    }
    if (seconds < min || seconds > max) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(v)} is out of range; write a duration between ${fmt(min)} and ${fmt(max)}`,
      });
      return z.NEVER;
    }
    return seconds;
  });

function fmt(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Kubernetes quantity (`4`, `500m`, `16Gi`). */
const quantity = z
  .unknown()
  .transform((v) => (typeof v === 'number' || typeof v === 'string' ? String(v) : ''))
  .refine((v) => /^\d+(\.\d+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/.test(v), {
    message: 'is not a Kubernetes quantity; write e.g. 4, 500m (CPU) or 16Gi (memory)',
  });

const int = (what: string, min: number, max: number) =>
  z
    .number(`must be a whole number of ${what}`)
    .int(`must be a whole number of ${what}`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max}`);

/** DNS-1035 label: the name becomes part of every resource name (`pronto-<name>-blue`). */
const dnsLabel = z
  .string('must be a name such as team-completions')
  .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be lower-case letters, digits and dashes, starting with a letter (e.g. team-completions)')
  .max(40, 'must be at most 40 characters (it becomes part of resource names)');

const sha256 = z
  .string()
  .transform((s) => s.toLowerCase())
  .refine((s) => /^[0-9a-f]{64}$/.test(s), { message: 'must be the 64 hex digits of the file’s SHA-256 (sha256sum prints it)' });

const kubernetesTarget = z.strictObject({
  kind: z.literal('kubernetes'),
  /** kubeconfig context; empty: the current context. */
  context: z.string().default(''),
  namespace: dnsLabel.default('default'),
  /**
   * Where clients (and Use Deployed Endpoint) reach the active service: an Ingress or LoadBalancer
   * you manage. Empty: the controller talks to the services through the API server's proxy only.
   */
  publicUrl: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
  /** Container port of the engine. */
  port: int('port', 1, 65535).default(8080),
});

const localTarget = z.strictObject({
  kind: z.literal('local'),
  /** Address HAProxy listens on (loopback unless you mean to share it; then an API key is required). */
  host: z.string().default('127.0.0.1'),
  /** Port of the `active` service (where users point). */
  activePort: int('port', 1, 65535).default(8600),
  /** Port of the `preview` service (the candidate, for smoke tests and analysis). */
  previewPort: int('port', 1, 65535).default(8601),
  /** Folder for the state file, HAProxy's config and socket, engine logs (relative: to the workspace). */
  stateDir: z.string().default('.pronto/local'),
  /** The engine binary; empty: $PRONTO_ENGINE_PATH, then the one built in native/. */
  engineBinary: z.string().default(''),
  /** Extra engine flags (e.g. --ctx 8192). */
  engineArgs: z.array(z.string()).default([]),
  /** GPU indices this platform may use (CUDA_VISIBLE_DEVICES); empty: every GPU found. */
  gpuIds: z.array(z.number().int().min(0)).default([]),
  /**
   * Host names clients use for `host` when it is not loopback (the engines refuse other Host
   * headers, as DNS-rebinding protection); this machine's name is always accepted then.
   */
  allowedHosts: z.array(z.string().regex(/^[A-Za-z0-9.-]+$/, 'must be a host name such as ws1.example.com')).default([]),
});

const modelSchema = z
  .strictObject({
    /** A GGUF file: on the local platform a path on this machine; on Kubernetes a path inside `volume`. */
    path: z.string().optional(),
    /** Kubernetes: the volume holding `path` (a PersistentVolumeClaim name). */
    volumeClaim: z.string().optional(),
    /** Or a URL that an init container (Kubernetes) or the platform (local) fetches and checks. */
    url: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL of a .gguf file' }).optional(),
    sha256: sha256.optional(),
  })
  .superRefine((m, ctx) => {
    if (!m.path && !m.url) ctx.addIssue({ code: 'custom', message: 'needs either path: (a GGUF file) or url: with sha256:' });
    if (m.path && m.url) ctx.addIssue({ code: 'custom', message: 'has both path: and url:; keep one' });
    if (m.url && !m.sha256)
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: 'a model fetched from a URL needs sha256: (its 64 hex digits) so it can be checked',
      });
  });

const gatesSchema = z.strictObject({
  /** Flagger's request-success-rate: share of requests that succeeded, 0..1 (or a percentage string "99%"). */
  minSuccessRate: z
    .unknown()
    .transform((v, ctx) => {
      const n =
        typeof v === 'string' && /^\d+(\.\d+)?%$/.test(v.trim())
          ? Number(v.trim().slice(0, -1)) / 100
          : typeof v === 'number'
            ? v
            : Number.NaN;
      if (!(n >= 0 && n <= 1)) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(v)} is not a success rate; write a share such as 0.99 or a percentage such as "99%"`,
        });
        return z.NEVER;
      }
      return n;
    })
    .default(0.99),
  /** Flagger's request-duration: the 95th percentile of request latency must stay below this. */
  maxP95Latency: duration(0.001, 600).default(2),
  /** How long the gates observe before deciding. */
  window: duration(1, 24 * 3600).default(60),
  /** Fewer requests than this in the window is a failure (not enough evidence). */
  minRequests: int('requests', 0, 1_000_000).default(20),
  /** Requests per second the controller sends through the preview service during the window. */
  analysisRate: z.number().min(0).max(100).default(2),
});

const timeoutsSchema = z.strictObject({
  ready: duration(1, 24 * 3600).default(600),
  smoke: duration(1, 3600).default(60),
  /** autoPromote: false waits this long for a person to promote, then rolls back. */
  promotion: duration(1, 7 * 24 * 3600).default(24 * 3600),
  /** The whole rollout. */
  rollout: duration(10, 7 * 24 * 3600).default(2 * 3600),
});

const autoscalingSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** keda: a KEDA ScaledObject with the Prometheus scaler; hpa: a HorizontalPodAutoscaler on metrics from the Prometheus adapter. */
    provider: z.enum(['keda', 'hpa']).default('keda'),
    minReplicas: int('replicas', 0, 1000).default(1),
    maxReplicas: int('replicas', 1, 1000).default(4),
    /** Target busy sequences per replica (the engine's pronto_busy_sequences). */
    busySequencesPerReplica: z.number().positive().default(2),
    /** Target p95 time to first token; scale out above it. */
    timeToFirstToken: duration(0.001, 600).default(1),
  })
  .refine((a) => a.minReplicas <= a.maxReplicas, { message: 'minReplicas is above maxReplicas; make minReplicas <= maxReplicas' });

export const deployConfigSchema = z
  .strictObject({
    name: dnsLabel,
    target: z.discriminatedUnion('kind', [kubernetesTarget, localTarget], {
      error: 'needs kind: kubernetes or kind: local',
    }),
    engine: z
      .strictObject({
        /** Container image (Kubernetes), built from deploy/Dockerfile. */
        image: z.string().default(''),
        /** Sequences decoded in parallel per replica (--parallel). */
        parallel: int('sequences', 1, 64).default(4),
        /** Context size in tokens per replica (--ctx). */
        contextSize: int('tokens', 256, 1_048_576).default(8192),
      })
      .default({ image: '', parallel: 4, contextSize: 8192 }),
    model: modelSchema,
    replicas: int('replicas', 1, 1000).default(1),
    /** GPUs per replica (nvidia.com/gpu on Kubernetes; CUDA_VISIBLE_DEVICES on the local platform). */
    gpus: int('GPUs', 0, 16).default(1),
    resources: z
      .strictObject({ cpu: quantity.optional(), memory: quantity.optional() })
      .default({})
      .transform((r) => ({ cpu: r.cpu, memory: r.memory })),
    /** Where the API key comes from; empty: generated once and kept with the deployment. */
    apiKey: z.strictObject({ env: z.string().optional(), file: z.string().optional() }).default({}),
    gates: gatesSchema.default(gatesSchema.parse({})),
    timeouts: timeoutsSchema.default(timeoutsSchema.parse({})),
    postPromotion: z.strictObject({ window: duration(0, 24 * 3600).default(60) }).default({ window: 60 }),
    /** Argo Rollouts' scaleDownDelaySeconds: how long the old colour keeps running after the switch. */
    scaleDownDelay: duration(0, 7 * 24 * 3600).default(30),
    /** false: after the gates pass, wait for Pronto: Promote (or `pronto-deploy promote`). */
    autoPromote: z.boolean().default(true),
    autoscaling: autoscalingSchema.default(autoscalingSchema.parse({})),
    metrics: z
      .strictObject({
        /** A Prometheus the controller can query (PromQL); empty: scrape each colour's /metrics. */
        prometheus: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]).default(''),
      })
      .default({ prometheus: '' }),
  })
  .superRefine((c, ctx) => {
    if (c.target.kind === 'kubernetes' && !c.engine.image)
      ctx.addIssue({
        code: 'custom',
        path: ['engine'],
        message:
          'needs image: for a Kubernetes target (the engine image built from deploy/Dockerfile, e.g. registry.example.com/pronto-engine:0.1.0)',
      });
    if (c.target.kind === 'kubernetes' && c.model.path && !c.model.volumeClaim)
      ctx.addIssue({
        code: 'custom',
        path: ['model'],
        message:
          'needs volumeClaim: (the PersistentVolumeClaim holding path:) on Kubernetes, or url: + sha256: to fetch the model at start',
      });
    if (c.target.kind === 'local' && c.target.activePort === c.target.previewPort)
      ctx.addIssue({ code: 'custom', path: ['target', 'previewPort'], message: 'must differ from activePort' });
    if (c.autoscaling.enabled && c.replicas < c.autoscaling.minReplicas)
      ctx.addIssue({ code: 'custom', path: ['replicas'], message: `is below autoscaling.minReplicas (${c.autoscaling.minReplicas})` });
  });

export type DeployConfig = z.output<typeof deployConfigSchema>;
export type KubernetesTarget = z.output<typeof kubernetesTarget>;
export type LocalTarget = z.output<typeof localTarget>;
export type Gates = z.output<typeof gatesSchema>;

/** The keys each object of the file may have (for "did you mean" when a key is unknown). */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': [
    'name',
    'target',
    'engine',
    'model',
    'replicas',
    'gpus',
    'resources',
    'apiKey',
    'gates',
    'timeouts',
    'postPromotion',
    'scaleDownDelay',
    'autoPromote',
    'autoscaling',
    'metrics',
  ],
  target: [
    'kind',
    'context',
    'namespace',
    'publicUrl',
    'port',
    'host',
    'activePort',
    'previewPort',
    'stateDir',
    'engineBinary',
    'engineArgs',
    'gpuIds',
  ],
  engine: ['image', 'parallel', 'contextSize'],
  model: ['path', 'volumeClaim', 'url', 'sha256'],
  resources: ['cpu', 'memory'],
  apiKey: ['env', 'file'],
  gates: ['minSuccessRate', 'maxP95Latency', 'window', 'minRequests', 'analysisRate'],
  timeouts: ['ready', 'smoke', 'promotion', 'rollout'],
  postPromotion: ['window'],
  autoscaling: ['enabled', 'provider', 'minReplicas', 'maxReplicas', 'busySequencesPerReplica', 'timeToFirstToken'],
  metrics: ['prometheus'],
};
