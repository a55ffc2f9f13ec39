import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import { test } from 'node:test';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { parseAllDocuments } from 'yaml';
import { parseDeployConfig } from '../../server/src/deploy/config/load';
import type { DeployConfig } from '../../server/src/deploy/config/schema';
import type { LocalTarget } from '../../server/src/deploy/config/schema';
import { configRevision, engineArgs, initialLayout, renderManifests } from '../../server/src/deploy/manifests/render';
import { hostArgs } from '../../server/src/deploy/platform/local/platform';

const SHA = 'cd'.repeat(32);

function config(extra: string): DeployConfig {
  const r = parseDeployConfig(
    `name: team\ntarget: {kind: kubernetes, namespace: pronto}\nengine: {image: "reg.example.com/pronto-engine:0.2.0"}\n${extra}`,
  );
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

const CONFIGS: Record<string, DeployConfig> = {
  'volume model, 1 GPU, no autoscaler': config('model: {path: qwen.gguf, volumeClaim: models}\n'),
  'URL model, 2 GPUs, KEDA': config(
    `model: {url: "https://e.com/m.gguf", sha256: ${SHA}}\ngpus: 2\nreplicas: 2\nresources: {cpu: "8", memory: 32Gi}\nautoscaling: {enabled: true, minReplicas: 1, maxReplicas: 6}\nmetrics: {prometheus: "http://prom:9090"}\n`,
  ),
  'CPU only, HPA': config(
    'model: {path: m.gguf, volumeClaim: models}\ngpus: 0\nautoscaling: {enabled: true, provider: hpa, minReplicas: 1, maxReplicas: 3}\n',
  ),
};

// Rendered objects are read as loose JSON here: the test walks paths the types would make verbose.
// biome-ignore lint/suspicious/noExplicitAny: test access to generated JSON
type Loose = any;
type Obj = { kind: string; metadata: { name: string; annotations?: Record<string, string> }; spec?: Loose; stringData?: Loose };
const byName = (objs: Obj[], kind: string, name: string) => {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind} ${name} missing; have ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};

for (const [title, c] of Object.entries(CONFIGS)) {
  test(`manifests are schema-valid and complete: ${title}`, () => {
    for (const layout of [
      initialLayout(c),
      { active: 'green' as const, preview: 'blue' as const, replicas: { blue: 0, green: c.replicas } },
    ]) {
      const { objects, yaml } = renderManifests(c, layout, 'secret-key');
      const objs = objects as unknown as Obj[];
      // The YAML is what `render` prints: it parses back to the same objects.
      assert.deepEqual(
        parseAllDocuments(yaml).map((d) => d.toJS()),
        objects,
      );
      assert.equal(byName(objs, 'Secret', 'pronto-team-api-key').stringData['api-key'], 'secret-key');
      for (const colour of ['blue', 'green'] as const) {
        const d = byName(objs, 'Deployment', `pronto-team-${colour}`);
        assert.equal(d.spec.replicas, layout.replicas[colour]);
        assert.equal(d.spec.selector.matchLabels['pronto.dev/colour'], colour);
        const pod = d.spec.template;
        assert.equal(pod.metadata.annotations['prometheus.io/scrape'], 'true');
        assert.equal(pod.metadata.annotations['pronto.dev/revision'], configRevision(c));
        const engine = pod.spec.containers[0];
        for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.equal(engine[probe].httpGet.path, '/health', probe);
        assert.equal(
          engine.startupProbe.failureThreshold * engine.startupProbe.periodSeconds >= c.timeouts.ready,
          true,
          'startup probe allows timeouts.ready',
        );
        assert.equal(engine.env[0].valueFrom.secretKeyRef.name, 'pronto-team-api-key');
        assert.ok(!engine.args.join(' ').includes('secret-key'), 'the key is never on the command line');
        if (c.gpus > 0) assert.equal(engine.resources.limits['nvidia.com/gpu'], String(c.gpus));
        else {
          assert.equal(engine.resources.limits['nvidia.com/gpu'], undefined);
          assert.ok(engine.args.includes('--gpu-layers'));
        }
        if (c.model.url) {
          const init = pod.spec.initContainers[0];
          assert.equal(init.env.find((e: { name: string }) => e.name === 'MODEL_SHA256').value, SHA);
          assert.match(init.command[2], /sha256sum -c/);
          assert.ok(!init.command[2].includes(c.model.url), 'the URL reaches the shell only through the environment');
          assert.ok(pod.spec.volumes[0].emptyDir);
        } else assert.equal(pod.spec.volumes[0].persistentVolumeClaim.claimName, 'models');
      }
      assert.equal(byName(objs, 'Service', 'pronto-team-active').spec.selector['pronto.dev/colour'], layout.active);
      assert.equal(byName(objs, 'Service', 'pronto-team-preview').spec.selector['pronto.dev/colour'], layout.preview);
      if (c.autoscaling.enabled) {
        const kind = c.autoscaling.provider === 'keda' ? 'ScaledObject' : 'HorizontalPodAutoscaler';
        for (const colour of ['blue', 'green'] as const) {
          const a = byName(objs, kind, `pronto-team-${colour}`);
          const pinned = colour !== layout.active;
          if (kind === 'ScaledObject') {
            assert.equal(a.spec.maxReplicaCount, c.autoscaling.maxReplicas);
            assert.equal(a.spec.triggers[0].type, 'prometheus');
            assert.match(
              a.spec.triggers[0].metadata.query,
              new RegExp(`pronto_busy_sequences\\{namespace="pronto",pod=~"pronto-team-${colour}-\\.\\*"\\}`),
            );
            assert.equal(
              a.metadata.annotations?.['autoscaling.keda.sh/paused-replicas'],
              pinned ? String(layout.replicas[colour]) : undefined,
            );
          } else {
            assert.equal(a.spec.scaleTargetRef.name, `pronto-team-${colour}`);
            assert.equal(a.spec.maxReplicas, pinned ? Math.max(1, layout.replicas[colour]) : c.autoscaling.maxReplicas);
          }
        }
      } else assert.ok(!objs.some((o) => o.kind === 'ScaledObject' || o.kind === 'HorizontalPodAutoscaler'));
    }
  });
}

test("during a rollout the candidate's autoscaler stays pinned at its replicas until it serves", () => {
  const c = CONFIGS['URL model, 2 GPUs, KEDA']!;
  const { objects } = renderManifests(c, { active: 'blue', preview: 'green', replicas: { blue: 5, green: 5 }, autoscaled: 'blue' }, 'k');
  const so = (name: string) => (objects as unknown as Obj[]).find((o) => o.kind === 'ScaledObject' && o.metadata.name === name)!;
  assert.equal(
    so('pronto-team-blue').metadata.annotations?.['autoscaling.keda.sh/paused-replicas'],
    undefined,
    'the serving colour scales',
  );
  assert.equal(
    so('pronto-team-green').metadata.annotations?.['autoscaling.keda.sh/paused-replicas'],
    '5',
    'the candidate holds the capacity it got',
  );
});

test('the schema validation is real: broken objects are rejected', () => {
  const { objects } = renderManifests(CONFIGS['URL model, 2 GPUs, KEDA']!, initialLayout(CONFIGS['URL model, 2 GPUs, KEDA']!), 'k');
  const dep = JSON.parse(JSON.stringify(objects.find((o) => o.kind === 'Deployment')));
  dep.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  assert.throws(() => new Deployment(dep).validate(), /containerPort/);
  const so = JSON.parse(JSON.stringify(objects.find((o) => o.kind === 'ScaledObject')));
  delete so.spec.scaleTargetRef;
  assert.throws(() => new ScaledObject(so).validate(), /scaleTargetRef/);
});

test('the engine accepts the Host names clients use in the cluster (its DNS-rebinding check refuses others)', () => {
  const r = parseDeployConfig(
    'name: team\ntarget: {kind: kubernetes, namespace: pronto, publicUrl: "https://pronto.example.com:8443"}\nengine: {image: x}\nmodel: {path: m, volumeClaim: c}\n',
  );
  assert.ok(r.ok);
  const args = engineArgs(r.config, 8080);
  const hosts = args[args.indexOf('--allowed-hosts') + 1]!.split(',');
  for (const h of [
    'pronto-team-active',
    'pronto-team-active.pronto.svc',
    'pronto-team-preview.pronto.svc.cluster.local',
    'pronto.example.com',
  ])
    assert.ok(hosts.includes(h), h);
});

test('local platform: engines behind HAProxy on another address accept this machine’s name; on loopback nothing is added', () => {
  const local = (host: string, allowed: string[] = []) => {
    const r = parseDeployConfig(
      `name: t\ntarget: {kind: local, host: "${host}", allowedHosts: ${JSON.stringify(allowed)}}\nmodel: {path: /m}\n`,
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.problems));
    return hostArgs(r.config.target as LocalTarget);
  };
  assert.deepEqual(local('127.0.0.1'), []);
  assert.deepEqual(local('0.0.0.0', ['ws1.example.com']), ['--allowed-hosts', `${os.hostname()},ws1.example.com`]);
  assert.deepEqual(local('10.0.0.5'), ['--allowed-hosts', `${os.hostname()},10.0.0.5`]);
});

test('the revision changes with what defines the pods, not with gates', () => {
  const a = CONFIGS['volume model, 1 GPU, no autoscaler']!;
  assert.equal(configRevision(a), configRevision({ ...a, gates: { ...a.gates, window: 5 } }));
  assert.notEqual(configRevision(a), configRevision({ ...a, engine: { ...a.engine, image: 'other:1' } }));
  assert.notEqual(configRevision(a), configRevision({ ...a, model: { ...a.model, path: 'other.gguf' } }));
});
