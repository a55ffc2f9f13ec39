import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { formatProblems, parseDeployConfig, suggestKey } from '../../server/src/deploy/config/load';
import { parseDuration } from '../../server/src/deploy/config/schema';
import { starterConfig } from '../../server/src/deploy/config/starter';

const SHA = 'ab'.repeat(32);

test('durations: seconds, units, combinations; garbage is undefined', () => {
  const table: Array<[unknown, number | undefined]> = [
    [90, 90],
    ['90', 90],
    ['30s', 30],
    ['5m', 300],
    ['1h30m', 5400],
    ['250ms', 0.25],
    ['1.5s', 1.5],
    ['', undefined],
    ['a minute', undefined],
    ['5 m', undefined],
    ['5mm', undefined],
    [-1, undefined],
    [Number.POSITIVE_INFINITY, undefined],
    ['1e400', undefined],
    [[1], undefined],
    [null, undefined],
  ];
  for (const [input, expected] of table) assert.equal(parseDuration(input), expected, JSON.stringify(input));
});

test('good files: minimal local, full kubernetes with URL model, starter files', () => {
  const local = parseDeployConfig('name: team\ntarget:\n  kind: local\nmodel:\n  path: /m.gguf\ngpus: 0\n');
  assert.ok(local.ok, JSON.stringify(!local.ok && local.problems));
  assert.equal(local.config.target.kind, 'local');
  assert.equal(local.config.gates.window, 60);
  assert.equal(local.config.gates.minSuccessRate, 0.99);
  assert.equal(local.config.scaleDownDelay, 30);

  const k8s = parseDeployConfig(`name: team-completions
target: { kind: kubernetes, context: gpu, namespace: pronto, publicUrl: "https://pronto.example.com" }
engine: { image: "reg.example.com/pronto-engine:0.2.0", parallel: 8, contextSize: 16384 }
model: { url: "https://example.com/m.gguf", sha256: "${SHA.toUpperCase()}" }
replicas: 3
gpus: 2
resources: { cpu: "8", memory: 32Gi }
gates: { minSuccessRate: "99.5%", maxP95Latency: 1500ms, window: 2m, minRequests: 100 }
timeouts: { ready: 15m }
scaleDownDelay: 10m
autoscaling: { enabled: true, provider: hpa, minReplicas: 2, maxReplicas: 10 }
metrics: { prometheus: "http://prometheus.monitoring:9090" }
`);
  assert.ok(k8s.ok, JSON.stringify(!k8s.ok && k8s.problems));
  assert.equal(k8s.config.gates.minSuccessRate, 0.995);
  assert.equal(k8s.config.gates.maxP95Latency, 1.5);
  assert.equal(k8s.config.gates.window, 120);
  assert.equal(k8s.config.timeouts.ready, 900);
  assert.equal(k8s.config.model.sha256, SHA, 'hash normalised to lower case');

  for (const kind of ['local', 'kubernetes'] as const) {
    const text = starterConfig({ kind, name: 'my-team', modelPath: '/home/me/models/q.gguf' });
    const r = parseDeployConfig(
      kind === 'kubernetes'
        ? text
            .replace('image: ""', 'image: "r/p:1"')
            .replace('  path: "/home/me/models/q.gguf"', '  url: "https://e.com/m.gguf"\n  sha256: ' + SHA)
        : text,
    );
    assert.ok(r.ok, `${kind} starter: ${JSON.stringify(!r.ok && r.problems)}`);
    assert.equal(r.config.name, 'my-team');
  }
});

/** [title, file, where (`line:col`, or `line:`, or '' for anywhere), fragment of the line `path: message`] */
const BAD: Array<[string, string, string, string]> = [
  [
    'unknown key with suggestion',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\nreplica: 2\n',
    '4:1',
    'replica: did you mean "replicas"?',
  ],
  [
    'nested unknown key',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngates:\n  windw: 5m\n',
    '5:3',
    'gates.windw: did you mean "window"?',
  ],
  [
    'key of the other target kind',
    'name: t\ntarget:\n  kind: kubernetes\n  activePort: 9000\nengine: {image: x}\nmodel: {url: "http://e/m", sha256: ' + SHA + '}\n',
    '4:3',
    'target.activePort: belongs to kind: local',
  ],
  [
    'bad duration',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngates:\n  window: a minute\n',
    '5:11',
    'gates.window: is not a duration; write a number of seconds or e.g. 30s',
  ],
  [
    'duration out of range',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\ntimeouts:\n  smoke: 3h\n',
    '5:10',
    'timeouts.smoke: write a duration between 1s and 1h',
  ],
  [
    'bad success rate',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngates:\n  minSuccessRate: 120%\n',
    '5:19',
    'gates.minSuccessRate: write a share such as 0.99',
  ],
  ['bad name', 'name: Team_1\ntarget: {kind: local}\nmodel: {path: /m}\n', '1:7', 'name: lower-case letters'],
  ['missing model', 'name: t\ntarget: {kind: local}\n', '1:1', 'model: is missing; add model: with path:'],
  [
    'unknown target kind',
    'name: t\ntarget:\n  kind: nomad\nmodel: {path: /m}\n',
    '3:9',
    'target.kind: needs kind: kubernetes or kind: local',
  ],
  ['url without sha256', 'name: t\ntarget: {kind: local}\nmodel:\n  url: "https://e/m.gguf"\n', '4:8', 'model.url: needs sha256:'],
  [
    'bad sha256',
    'name: t\ntarget: {kind: local}\nmodel:\n  url: "https://e/m.gguf"\n  sha256: abc\n',
    '5:11',
    'model.sha256: 64 hex digits',
  ],
  [
    'kubernetes without image',
    'name: t\ntarget: {kind: kubernetes}\nmodel: {url: "https://e/m", sha256: ' + SHA + '}\n',
    '',
    'engine: needs image:',
  ],
  [
    'kubernetes model path without claim',
    'name: t\ntarget: {kind: kubernetes}\nengine: {image: x}\nmodel:\n  path: /m.gguf\n',
    '5:3',
    'model: needs volumeClaim:',
  ],
  ['fractional replicas', 'name: t\ntarget: {kind: local}\nmodel: {path: /m}\nreplicas: 1.5\n', '4:11', 'replicas: whole number'],
  ['huge number', 'name: t\ntarget: {kind: local}\nmodel: {path: /m}\nreplicas: 1e400\n', '4:11', 'replicas:'],
  [
    'bad quantity',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\nresources:\n  memory: lots\n',
    '5:11',
    'resources.memory: write e.g. 4, 500m',
  ],
  [
    'autoscaling bounds',
    'name: t\ntarget: {kind: local}\nmodel: {path: /m}\nautoscaling: {minReplicas: 5, maxReplicas: 2}\n',
    '4:14',
    'autoscaling: minReplicas <= maxReplicas',
  ],
  [
    'same ports',
    'name: t\ntarget: {kind: local, activePort: 9000, previewPort: 9000}\nmodel: {path: /m}\n',
    '2:54',
    'target.previewPort: must differ',
  ],
  ['YAML syntax error', 'name: t\ntarget:\n  kind: local\n   bad: indent\n', '3:', 'YAML syntax'],
  ['duplicate key', 'name: t\nname: u\ntarget: {kind: local}\nmodel: {path: /m}\n', '2:1', 'YAML syntax'],
  ['not a mapping', '- a\n- b\n', '1:1', 'must be a mapping'],
  ['empty file', '', '1:1', 'must be a mapping'],
];

for (const [title, text, where, fragment] of BAD) {
  test(`bad file: ${title} → line-accurate problem`, () => {
    const r = parseDeployConfig(text);
    assert.equal(r.ok, false, 'must be rejected');
    if (r.ok) return;
    const lines = formatProblems('f', r.problems).split('\n');
    // `path: words`: the problem names that path, and its message contains the words.
    const m = /^([\w.]+): (.*)$/.exec(fragment);
    const [path, words] = m ? [m[1]!, m[2]!] : ['', fragment];
    assert.ok(
      lines.some((l) => l.startsWith(`f:${where}`) && (!path || l.includes(` ${path}: `)) && l.includes(words)),
      `expected a problem at ${where || 'any line'} containing "${fragment}", got:\n${lines.join('\n')}`,
    );
  });
}

test('a 60,000-character value and deep nesting are rejected with a message, not a crash', () => {
  const long = parseDeployConfig(`name: ${'a'.repeat(60_000)}\ntarget: {kind: local}\nmodel: {path: /m}\n`);
  assert.equal(long.ok, false);
  const deep = parseDeployConfig(`name: t\ntarget: {kind: local}\nmodel: {path: /m}\ngates: ${'['.repeat(500)}${']'.repeat(500)}\n`);
  assert.equal(deep.ok, false);
  const aliases = parseDeployConfig(
    `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
  );
  assert.equal(aliases.ok, false, 'a billion-laughs file is refused');
});

test('suggestions only for near misses', () => {
  assert.equal(suggestKey('replica', ['replicas', 'gpus']), 'replicas');
  assert.equal(suggestKey('scaledowndelay', ['scaleDownDelay']), 'scaleDownDelay');
  assert.equal(suggestKey('banana', ['replicas', 'gpus']), undefined);
});
