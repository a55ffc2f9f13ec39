// `pronto-deploy` as a user runs it (a child process): init writes a starter that validates;
// a bad config exits 2 with file:line:col problems; render prints manifests kubectl can read;
// usage errors say what to write.
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { cleanupWorkspace, makeWorkspace, runCli, type Workspace } from '../support/deploy';

let ws: Workspace;
before(async () => {
  ws = await makeWorkspace('pronto-cli-');
});
after(() => cleanupWorkspace(ws));

test('init writes a commented starter file that validates; a second init refuses to overwrite it', async () => {
  const init = await runCli(ws, ['init', '--name', 'my-team', '--model', '/models/m.gguf']);
  assert.equal(init.code, 0, init.stderr);
  const text = readFileSync(ws.configFile, 'utf8');
  assert.match(text, /^# Pronto deploy config/);
  assert.match(text, /name: my-team/);
  const v = await runCli(ws, ['validate']);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /ok \(local, 1 replica/);
  const again = await runCli(ws, ['init']);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /exists already/);
});

test('a bad config exits 2 with line-accurate problems that say what to write', async () => {
  writeFileSync(ws.configFile, 'name: t\ntarget:\n  kind: local\nmodel: {path: /m.gguf}\nreplica: 2\ngates:\n  window: soon\n');
  const r = await runCli(ws, ['rollout']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /deploy\.yaml:5:1: replica: unknown key "replica"; did you mean "replicas"\?/);
  assert.match(r.stderr, /deploy\.yaml:7:11: gates\.window: "soon" is not a duration; write a number of seconds or e\.g\. 30s, 5m, 1h30m/);
});

test('render prints the Kubernetes manifests as YAML documents (with the key from the file given)', async () => {
  writeFileSync(
    ws.configFile,
    `name: team\ntarget: {kind: kubernetes, namespace: pronto}\nengine: {image: "reg/pronto-engine:1"}\nmodel: {url: "https://e.com/m.gguf", sha256: ${'a'.repeat(64)}}\nautoscaling: {enabled: true}\n`,
  );
  writeFileSync(`${ws.dir}/key`, 'from-file\n');
  const r = await runCli(ws, ['render', '--api-key-file', `${ws.dir}/key`]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string; stringData?: Record<string, string> });
  assert.deepEqual(
    docs.map((d) => d.kind),
    ['Secret', 'Deployment', 'Deployment', 'Service', 'Service', 'ScaledObject', 'ScaledObject'],
  );
  assert.equal(docs[0]!.stringData!['api-key'], 'from-file');
  writeFileSync(ws.configFile, 'name: t\ntarget: {kind: local}\nmodel: {path: /m}\n');
  const local = await runCli(ws, ['render']);
  assert.equal(local.code, 2);
  assert.match(local.stderr, /render prints Kubernetes manifests: the config targets kind: local/);
});

test('usage errors', async () => {
  const none = await runCli(ws, ['frobnicate']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /unknown command "frobnicate"/);
  const scale = await runCli(ws, ['scale', 'lots']);
  assert.equal(scale.code, 2);
  assert.match(scale.stderr, /scale needs a whole number of replicas/);
  const missing = await runCli(ws, ['status', '--config', `${ws.dir}/nope.yaml`]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /does not exist; create it with "Pronto: Create Deploy Config" or `pronto-deploy init`/);
});
