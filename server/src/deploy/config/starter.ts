/**
 * The commented starter `.pronto/deploy.yaml` written by "Pronto: Create Deploy Config" and
 * `pronto-deploy init`. It must parse as it is (a unit test checks), so a user can deploy the
 * local platform at once and read the Kubernetes keys next to it.
 */
export interface StarterOptions {
  name?: string;
  kind?: 'local' | 'kubernetes';
  /** A model file to put in `model.path` (e.g. the one the editor uses). */
  modelPath?: string;
}

export function starterConfig(options: StarterOptions = {}): string {
  const name = options.name && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(options.name) ? options.name : 'team-completions';
  const model = options.modelPath ? JSON.stringify(options.modelPath) : '/models/qwen2.5-coder-1.5b-q8_0.gguf';
  const local = options.kind !== 'kubernetes';
  const target = local
    ? `target:
  kind: local                 # engine processes on this machine behind HAProxy (Debian's haproxy)
  activePort: 8600            # users point here (Pronto: Use Deployed Endpoint sets it)
  previewPort: 8601           # the candidate colour, for smoke tests and analysis
  # stateDir: .pronto/local   # state file, HAProxy config and socket, engine logs
  # engineBinary: ""          # default: $PRONTO_ENGINE_PATH, then native/build/pronto-engine
  # engineArgs: ["--threads", "4"]
  # To deploy to a cluster instead:
  # kind: kubernetes
  # context: my-gpu-cluster   # a context of your kubeconfig (empty: the current one)
  # namespace: pronto
  # publicUrl: https://pronto.example.com   # where your Ingress/LoadBalancer exposes the active service`
    : `target:
  kind: kubernetes
  context: ""                 # a context of your kubeconfig (empty: the current one)
  namespace: pronto
  publicUrl: ""               # where your Ingress/LoadBalancer exposes the active service (for Use Deployed Endpoint)
  # port: 8080                # the engine's container port`;
  return `# Pronto deploy config: how "Pronto: Deploy Engine…" (or \`pronto-deploy rollout\`) runs this engine
# for a team, with blue-green rollouts gated on metrics. Durations: 90 (seconds), 30s, 5m, 1h30m.
name: ${name}                 # part of every resource name: pronto-${name}-blue, pronto-${name}-active, …

${target}

engine:
  image: ""                   # Kubernetes: your build of deploy/Dockerfile, e.g. registry.example.com/pronto-engine:0.1.0
  parallel: 4                 # sequences decoded at once per replica (--parallel)
  contextSize: 8192           # tokens per replica (--ctx)

model:
  path: ${model}
  # volumeClaim: models       # Kubernetes: the PersistentVolumeClaim that holds path
  # Or fetch it at start (an init container on Kubernetes) and check it:
  # url: https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-1.5b-instruct-q8_0.gguf
  # sha256: <64 hex digits>

replicas: 1
gpus: ${local ? 0 : 1}                     # per replica (nvidia.com/gpu; locally CUDA_VISIBLE_DEVICES). 0: CPU
# resources: { cpu: "4", memory: 16Gi }

# apiKey: { env: PRONTO_DEPLOY_API_KEY }   # default: generated once, kept with the deployment

gates:                        # Flagger-style checks of the new colour before (and after) the switch
  minSuccessRate: 0.99        # share of requests that succeed
  maxP95Latency: 2s           # 95th percentile of request latency
  window: 60s                 # observed for this long
  minRequests: 20             # fewer requests is not enough evidence: the gate fails
  analysisRate: 2             # requests per second the controller sends through the preview service

timeouts:
  ready: 10m                  # the new colour must be ready (health checks pass) within this
  smoke: 60s                  # one real completion and one real chat request through the preview service
  # promotion: 24h            # with autoPromote: false, how long to wait for "Pronto: Promote"
  # rollout: 2h

postPromotion:
  window: 60s                 # the gates are checked again on live traffic after the switch

scaleDownDelay: 30s           # the old colour keeps running this long after the switch (instant roll back)
autoPromote: true             # false: wait for "Pronto: Promote" after the gates pass

autoscaling:
  enabled: false              # Kubernetes: KEDA ScaledObject (or HPA + Prometheus adapter) on the engine's load
  provider: keda              # keda | hpa
  minReplicas: 1
  maxReplicas: 4
  busySequencesPerReplica: 2  # target of pronto_busy_sequences per replica
  timeToFirstToken: 1s        # target p95 time to first token

metrics:
  prometheus: ""              # a Prometheus to query with PromQL; empty: scrape each colour's /metrics
`;
}
