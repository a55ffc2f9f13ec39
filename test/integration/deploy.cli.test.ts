// `pronto-deploy` as a user runs it (a child process): init writes a starter that validates;
// a bad config exits 2 with file:line:col problems; render prints manifests kubectl can read;
// usage errors say what to write.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseDeployConfig } from '../../server/src/deploy/config/load';
import { engineArgs } from '../../server/src/deploy/manifests/render';
import { cleanupWorkspace, makeWorkspace, runCli, type Workspace } from '../support/deploy';
import { engineBinary } from '../support/engine';

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

test('the flags the manifests give the engine exist in the real engine; the Dockerfile copies what the build makes', async () => {
  const r = parseDeployConfig(`name: t\ntarget: {kind: kubernetes}\nengine: {image: x}\nmodel: {path: m.gguf, volumeClaim: c}\ngpus: 0\n`);
  assert.ok(r.ok);
  let help = '';
  try {
    help = execFileSync(engineBinary, ['--help'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    help = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
  }
  for (const flag of engineArgs(r.config, 8080).filter((a) => a.startsWith('--')))
    assert.match(help, new RegExp(`\\s${flag}\\s`), `the engine knows ${flag}`);
  const repo = path.resolve(__dirname, '../..');
  const dockerfile = readFileSync(path.join(repo, 'deploy/Dockerfile'), 'utf8');
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
    for (const src of m[1]!.split(' ')) assert.ok(existsSync(path.join(repo, src)), `Dockerfile COPY ${src} exists`);
  assert.match(
    dockerfile,
    /^FROM nvidia\/cuda:13\.\d+\.\d+-runtime-/m,
    'CUDA 13 runtime base (the prebuilt ggml-cuda needs cudart and cuBLAS 13)',
  );
  assert.match(dockerfile, /native\/\.deps\/linux-x64-cuda\/package\/bins\/linux-x64-cuda/);
  assert.ok(
    existsSync(path.join(repo, 'native/.deps/linux-x64-cuda/package/bins/linux-x64-cuda')),
    'the prebuilt libraries are where the Dockerfile copies them from',
  );
});
