/**
 * Kubernetes manifests generated from the deploy config, for one layout of the two colours:
 *
 *   Secret      pronto-<name>-api-key          the engine's API key (PRONTO_API_KEY in the pods)
 *   Deployment  pronto-<name>-blue / -green    GPU resources, startup/readiness/liveness probes on
 *                                              /health, Prometheus scrape annotations, the model from
 *                                              a PersistentVolumeClaim or fetched by an init container
 *                                              that checks its SHA-256
 *   Service     pronto-<name>-active / -preview  select pods by colour (the rollout switches `active`)
 *   ScaledObject (KEDA) or HorizontalPodAutoscaler per colour, when autoscaling is enabled
 *
 * Every object is built with kubernetes-models (KEDA: @kubernetes-models/keda) and validated against
 * the Kubernetes API's JSON schemas before it is returned: `renderManifests` throws on an invalid
 * object, which is a bug here, not a user error (the config was validated already).
 */
import { createHash } from 'node:crypto';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { stringify } from 'yaml';
import type { DeployConfig, KubernetesTarget } from '../config/schema';

export type Colour = 'blue' | 'green';
export const COLOURS: readonly Colour[] = ['blue', 'green'];
export const otherColour = (c: Colour): Colour => (c === 'blue' ? 'green' : 'blue');

/** What each colour runs and which one each service selects. */
export interface Layout {
  /** undefined before the first switch: `active` then selects no pod. */
  active?: Colour;
  preview: Colour;
  /** Replicas per colour (0: scaled down). */
  replicas: Record<Colour, number>;
  /** Revision (config hash) each colour runs; undefined: the current config's. */
  revisions?: Partial<Record<Colour, string>>;
  /** Config each colour runs (the old colour keeps the config it was deployed with). */
  configs?: Partial<Record<Colour, DeployConfig>>;
  /**
   * The colour whose autoscaler runs; the other's is pinned at its replicas (KEDA: paused; HPA:
   * min = max). Default: `active`. During a rollout the controller keeps the candidate pinned until
   * it serves, so an autoscaler does not shrink it on the trickle of analysis traffic.
   */
  autoscaled?: Colour;
}

export const MODEL_DIR = '/models';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COLOUR = 'pronto.dev/colour';
export const ANNOTATION_REVISION = 'pronto.dev/revision';

export const names = (name: string) => ({
  secret: `pronto-${name}-api-key`,
  deployment: (c: Colour) => `pronto-${name}-${c}`,
  active: `pronto-${name}-active`,
  preview: `pronto-${name}-preview`,
  lease: `pronto-${name}-rollout`,
  autoscaler: (c: Colour) => `pronto-${name}-${c}`,
});

/** A hash of what defines the pods: a new value means a new version to roll out. */
export function configRevision(config: DeployConfig): string {
  const { engine, model, gpus, resources } = config;
  const local = config.target.kind === 'local' ? { bin: config.target.engineBinary, args: config.target.engineArgs } : {};
  return createHash('sha256').update(JSON.stringify({ engine, model, gpus, resources, local })).digest('hex').slice(0, 10);
}

function modelFileName(config: DeployConfig): string {
  if (config.model.url) return 'model.gguf';
  return config.model.path!.replace(/^\/+/, '');
}

/** The engine's command line inside the container (the key comes from the environment, never argv). */
export function engineArgs(config: DeployConfig, port: number): string[] {
  return [
    '--model',
    `${MODEL_DIR}/${modelFileName(config)}`,
    '--host',
    '0.0.0.0',
    '--port',
    String(port),
    '--parallel',
    String(config.engine.parallel),
    '--ctx',
    String(config.engine.contextSize),
    ...(config.gpus === 0 ? ['--gpu-layers', '0'] : []),
    // The engine refuses a Host that is not its address (DNS-rebinding protection): accept the
    // names clients use in the cluster (the Services) and the public URL's host.
    '--allowed-hosts',
    allowedHosts(config).join(','),
  ];
}

/** Host names the engine accepts besides loopback and IP literals (kubelet probes and Prometheus use the pod IP). */
export function allowedHosts(config: DeployConfig): string[] {
  if (config.target.kind !== 'kubernetes') return [];
  const n = names(config.name);
  const ns = config.target.namespace;
  const hosts = [n.active, n.preview].flatMap((svc) => [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`]);
  if (config.target.publicUrl) hosts.push(new URL(config.target.publicUrl).hostname);
  return hosts;
}

/**
 * The init container's script: keeps a file that already matches, else fetches to `.part`, checks
 * the SHA-256 and renames. URL and hash come in through the environment, so nothing from the
 * config is ever parsed by the shell.
 */
export const FETCH_MODEL_SCRIPT = [
  'set -eu',
  'f="$MODEL_DIR/model.gguf"',
  'if [ -f "$f" ] && echo "$MODEL_SHA256  $f" | sha256sum -c - >/dev/null 2>&1; then echo "model present and verified"; exit 0; fi',
  'curl -fL --retry 5 --retry-delay 5 -C - -o "$f.part" "$MODEL_URL"',
  'echo "$MODEL_SHA256  $f.part" | sha256sum -c - || { echo "SHA-256 mismatch: expected $MODEL_SHA256" >&2; rm -f "$f.part"; exit 1; }',
  'mv "$f.part" "$f"',
].join('\n');

function deployment(config: DeployConfig, target: KubernetesTarget, colour: Colour, replicas: number, revision: string): Deployment {
  const n = names(config.name);
  const labels = { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: config.name, [LABEL_COLOUR]: colour };
  const limits: Record<string, string> = {};
  const requests: Record<string, string> = {};
  if (config.gpus > 0) limits['nvidia.com/gpu'] = String(config.gpus);
  if (config.resources.cpu) requests.cpu = config.resources.cpu;
  if (config.resources.memory) {
    requests.memory = config.resources.memory;
    limits.memory = config.resources.memory;
  }
  const probe = (periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path: '/health', port: 'http' },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });
  const modelVolume = config.model.url
    ? { name: 'model', emptyDir: {} }
    : { name: 'model', persistentVolumeClaim: { claimName: config.model.volumeClaim!, readOnly: true } };
  return new Deployment({
    metadata: {
      name: n.deployment(colour),
      namespace: target.namespace,
      labels,
      annotations: { [ANNOTATION_REVISION]: revision },
    },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      // Blue-green replaces whole colours; inside a colour a new pod must be ready before an old one goes.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels,
          annotations: {
            [ANNOTATION_REVISION]: revision,
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': String(target.port),
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          ...(config.gpus > 0 ? { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } : {}),
          terminationGracePeriodSeconds: 30,
          ...(config.model.url
            ? {
                initContainers: [
                  {
                    name: 'fetch-model',
                    image: config.engine.image,
                    command: ['/bin/sh', '-c', FETCH_MODEL_SCRIPT],
                    env: [
                      { name: 'MODEL_URL', value: config.model.url },
                      { name: 'MODEL_SHA256', value: config.model.sha256! },
                      { name: 'MODEL_DIR', value: MODEL_DIR },
                    ],
                    volumeMounts: [{ name: 'model', mountPath: MODEL_DIR }],
                  },
                ],
              }
            : {}),
          containers: [
            {
              name: 'engine',
              image: config.engine.image,
              args: engineArgs(config, target.port),
              ports: [{ name: 'http', containerPort: target.port, protocol: 'TCP' }],
              env: [{ name: 'PRONTO_API_KEY', valueFrom: { secretKeyRef: { name: n.secret, key: 'api-key' } } }],
              resources: { limits, requests },
              // Loading a large model can take minutes: the startup probe allows `timeouts.ready`.
              startupProbe: probe(5, Math.max(1, Math.ceil(config.timeouts.ready / 5))),
              readinessProbe: probe(5, 2),
              livenessProbe: probe(10, 3),
              volumeMounts: [{ name: 'model', mountPath: MODEL_DIR, readOnly: !config.model.url }],
            },
          ],
          volumes: [modelVolume],
        },
      },
    },
  });
}

function service(
  config: DeployConfig,
  target: KubernetesTarget,
  name: string,
  colour: Colour | 'none',
  role: 'active' | 'preview',
): Service {
  return new Service({
    metadata: {
      name,
      namespace: target.namespace,
      labels: { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: config.name, 'pronto.dev/role': role },
    },
    spec: {
      type: 'ClusterIP',
      selector: { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: config.name, [LABEL_COLOUR]: colour },
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  });
}

/** PromQL selector of one colour's pods (the usual `kubernetes-pods` scrape job adds namespace and pod). */
export function podSelector(config: DeployConfig, colour: Colour): string {
  const ns = config.target.kind === 'kubernetes' ? config.target.namespace : 'default';
  return `namespace="${ns}",pod=~"${names(config.name).deployment(colour)}-.*"`;
}

/** `pinnedAt`: undefined → the autoscaler runs; a number → held at that many replicas. */
function autoscaler(
  config: DeployConfig,
  target: KubernetesTarget,
  colour: Colour,
  pinnedAt: number | undefined,
): ScaledObject | HorizontalPodAutoscaler {
  const a = config.autoscaling;
  const n = names(config.name);
  const sel = podSelector(config, colour);
  if (a.provider === 'keda') {
    return new ScaledObject({
      metadata: {
        name: n.autoscaler(colour),
        namespace: target.namespace,
        // A colour not serving stays at its replicas while paused: KEDA neither wakes nor shrinks it.
        ...(pinnedAt !== undefined ? { annotations: { 'autoscaling.keda.sh/paused-replicas': String(pinnedAt) } } : {}),
      },
      spec: {
        scaleTargetRef: { name: n.deployment(colour) },
        minReplicaCount: a.minReplicas,
        maxReplicaCount: a.maxReplicas,
        pollingInterval: 15,
        cooldownPeriod: 300,
        triggers: [
          {
            type: 'prometheus',
            name: 'busy-sequences',
            metricType: 'AverageValue',
            metadata: {
              serverAddress: config.metrics.prometheus || 'http://prometheus-server.monitoring.svc',
              query: `sum(pronto_busy_sequences{${sel}})`,
              threshold: String(a.busySequencesPerReplica),
            },
          },
          {
            type: 'prometheus',
            name: 'time-to-first-token',
            metricType: 'Value',
            metadata: {
              serverAddress: config.metrics.prometheus || 'http://prometheus-server.monitoring.svc',
              query: `histogram_quantile(0.95, sum by (le) (rate(pronto_time_to_first_token_seconds_bucket{${sel}}[2m])))`,
              threshold: String(a.timeToFirstToken),
            },
          },
        ],
      },
    } as ConstructorParameters<typeof ScaledObject>[0]);
  }
  return new HorizontalPodAutoscaler({
    metadata: { name: n.autoscaler(colour), namespace: target.namespace },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n.deployment(colour) },
      // An HPA cannot be paused: it is pinned with min = max (an HPA leaves a Deployment at 0 alone).
      minReplicas: pinnedAt !== undefined ? Math.max(1, pinnedAt) : Math.max(1, a.minReplicas),
      maxReplicas: pinnedAt !== undefined ? Math.max(1, pinnedAt) : a.maxReplicas,
      metrics: [
        {
          // Served by the Prometheus adapter (rules in the README's deploy section).
          type: 'Pods',
          pods: {
            metric: { name: 'pronto_busy_sequences' },
            target: { type: 'AverageValue', averageValue: String(a.busySequencesPerReplica) },
          },
        },
        {
          type: 'Pods',
          pods: {
            metric: { name: 'pronto_time_to_first_token_p95_seconds' },
            target: { type: 'AverageValue', averageValue: `${Math.round(a.timeToFirstToken * 1000)}m` },
          },
        },
      ],
    },
  });
}

export interface RenderedManifests {
  objects: Array<{ apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>>;
  yaml: string;
}

/** All objects for `layout`, validated; `apiKey` goes into the Secret. */
export function renderManifests(config: DeployConfig, layout: Layout, apiKey: string): RenderedManifests {
  if (config.target.kind !== 'kubernetes') throw new Error('renderManifests needs a kubernetes target');
  const target = config.target;
  const n = names(config.name);
  const models: Array<{ validate(): void; toJSON(): unknown }> = [
    new Secret({
      metadata: { name: n.secret, namespace: target.namespace, labels: { [LABEL_NAME]: 'pronto', [LABEL_INSTANCE]: config.name } },
      type: 'Opaque',
      stringData: { 'api-key': apiKey },
    }),
  ];
  for (const colour of COLOURS) {
    const c = layout.configs?.[colour] ?? config;
    models.push(deployment(c, target, colour, layout.replicas[colour], layout.revisions?.[colour] ?? configRevision(c)));
  }
  models.push(
    service(config, target, n.active, layout.active ?? 'none', 'active'),
    service(config, target, n.preview, layout.preview, 'preview'),
  );
  if (config.autoscaling.enabled) {
    const running = layout.autoscaled ?? layout.active;
    for (const colour of COLOURS) models.push(autoscaler(config, target, colour, colour === running ? undefined : layout.replicas[colour]));
  }
  for (const m of models) m.validate();
  const objects = models.map((m) => JSON.parse(JSON.stringify(m.toJSON())) as RenderedManifests['objects'][number]);
  const yaml = objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
  return { objects, yaml };
}

/** The layout `render` prints when there is no deployment yet: blue serves, green is scaled to 0. */
export function initialLayout(config: DeployConfig): Layout {
  return { active: 'blue', preview: 'green', replicas: { blue: config.replicas, green: 0 } };
}
