// Cross-site protection and API keys of the real engine: a web page (foreign Origin, DNS-rebinding
// Host, a cross-site tag without Origin) is refused with 403 on HTTP and on the WebSocket upgrade,
// while plain clients (no Origin: the sidecar, curl, OpenAI SDKs) are served; CORS preflight; keys
// compared correctly (wrong length, wrong key, right key); a name starting with "127." is not loopback;
// a key passed by environment is in neither /proc/<pid>/cmdline nor /proc/<pid>/environ.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureTestModels } from '../support/models';
import { EngineSocket, runEngine, startEngine, type RunningEngine } from '../support/engine';
import { get, metric, metricsText, openSocket, rawHttp, type RawResponse } from '../support/net';

let engine: RunningEngine;
let model: string;
before(async () => {
  model = (await ensureTestModels()).target;
  engine = await startEngine({ model, args: ['--ctx', '512', '--parallel', '2'] });
});
after(async () => {
  await engine?.stop();
});

const completion = JSON.stringify({ prompt: 'def f(', max_tokens: 2 });

function post(port: number, path: string, body: string, headers: Record<string, string>): Promise<RawResponse> {
  const h = { Host: `127.0.0.1:${port}`, 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close', ...headers };
  const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}`);
  return rawHttp(port, `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
}

test('a page on another origin is refused (403) on HTTP and on the WebSocket upgrade; plain clients are served', async () => {
  const before = await metricsText(engine.url);
  // The text/plain POST a page can send without a preflight.
  const fromPage = await post(engine.port, '/v1/completions', completion, {
    Origin: 'https://evil.example',
    'Content-Type': 'text/plain',
  });
  assert.equal(fromPage.status, 403);
  const err = JSON.parse(fromPage.body) as { error: { code: string; message: string } };
  assert.equal(err.error.code, 'forbidden');
  assert.match(err.error.message, /Origin "https:\/\/evil\.example" is not allowed.*--allowed-origins/);
  assert.equal(fromPage.headers['access-control-allow-origin'], undefined);
  assert.equal((await get(engine.port, '/v1/models', { Origin: 'null' })).status, 403, 'a sandboxed page (Origin null)');
  // A tag on another site (<img src>, <script src>) sends no Origin, but the browser says where it comes from.
  assert.equal((await get(engine.port, '/metrics', { 'Sec-Fetch-Site': 'cross-site' })).status, 403);
  assert.equal((await get(engine.port, '/health', { 'Sec-Fetch-Site': 'none' })).status, 200, 'typed into the address bar');
  // WebSockets have no same-origin protection: the upgrade itself must be refused.
  await assert.rejects(openSocket(engine.url, { origin: 'https://evil.example' }), /HTTP 403 .*forbidden/);

  // Plain clients: no Origin.
  const plain = await fetch(`${engine.url}/v1/completions`, { method: 'POST', body: completion });
  assert.equal(plain.status, 200);
  const s = await EngineSocket.open(engine.url);
  const r = await s.request({ type: 'submit', id: 'a', prompt: 'x', limits: { max_tokens: 2 } });
  assert.ok(r.done, 'a plain WebSocket client is served');
  await s.close();
  const after = await metricsText(engine.url);
  const refused = (m: string) => metric(m, 'pronto_connections_refused_total{reason="origin"}');
  assert.equal(refused(after) - refused(before), 4, 'each refusal is counted');
});

test('DNS rebinding: a Host that is not loopback or the bound address is refused (403) on HTTP and WebSocket', async () => {
  const before = await metricsText(engine.url);
  for (const host of [`attacker.example:${engine.port}`, `127.0.0.1.example.com:${engine.port}`, 'localhost.evil.example']) {
    const r = await get(engine.port, '/v1/models', { Host: host });
    assert.equal(r.status, 403, host);
    assert.match(JSON.parse(r.body).error.message, /is not this engine's address or a loopback name/);
  }
  // Rebinding pages send no Origin on same-origin GETs, so the Host check alone must catch them.
  await assert.rejects(openSocket(engine.url, { headers: { Host: `attacker.example:${engine.port}` } }), /HTTP 403/);
  for (const host of [`localhost:${engine.port}`, `127.0.0.1:${engine.port}`, `[::1]:${engine.port}`, 'LOCALHOST']) {
    assert.equal((await get(engine.port, '/health', { Host: host })).status, 200, host);
  }
  const after = await metricsText(engine.url);
  const refused = (m: string) => metric(m, 'pronto_connections_refused_total{reason="host"}');
  assert.equal(refused(after) - refused(before), 4);
});

test('--allowed-origins lets a named origin in (CORS headers, preflight); others still get 403', async () => {
  const e = await startEngine({ model, args: ['--ctx', '256', '--parallel', '1', '--allowed-origins', 'http://localhost:5173'] });
  try {
    const preflight = await rawHttp(
      e.port,
      `OPTIONS /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${e.port}\r\nOrigin: http://localhost:5173\r\n` +
        'Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n' +
        'Access-Control-Request-Private-Network: true\r\nConnection: close\r\n\r\n',
    );
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'http://localhost:5173');
    assert.match(preflight.headers['access-control-allow-methods'] ?? '', /POST/);
    assert.match(preflight.headers['access-control-allow-headers'] ?? '', /Content-Type/i);
    assert.equal(preflight.headers['access-control-allow-private-network'], 'true');
    const foreignPreflight = await rawHttp(
      e.port,
      `OPTIONS /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${e.port}\r\nOrigin: http://localhost:5174\r\n` +
        'Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n',
    );
    assert.equal(foreignPreflight.status, 403);
    const allowed = await post(e.port, '/v1/completions', completion, { Origin: 'http://localhost:5173' });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['access-control-allow-origin'], 'http://localhost:5173');
    assert.equal(allowed.headers.vary, 'Origin');
    const ws = await openSocket(e.url, { origin: 'http://localhost:5173' });
    ws.close();
    await assert.rejects(openSocket(e.url, { origin: 'http://localhost:5174' }), /HTTP 403/);
  } finally {
    await e.stop();
  }
  const bad = await runEngine(['--model', model, '--allowed-origins', 'localhost:5173']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /"localhost:5173" is not an origin \(expected scheme:\/\/host\[:port\], or \*\)/);
});

test('API keys: wrong key, a prefix of the key, the key plus a byte and no key are refused; the right key works', async () => {
  const e = await startEngine({ model, args: ['--ctx', '256', '--parallel', '1', '--api-key', 's3cret-key'] });
  try {
    const status = async (auth?: string) =>
      (await fetch(`${e.url}/v1/models`, { headers: auth === undefined ? {} : { Authorization: auth } })).status;
    assert.equal(await status(), 401);
    assert.equal(await status('Bearer s3cret-kez'), 401, 'same length, last byte wrong');
    assert.equal(await status('Bearer s3cret-ke'), 401, 'a prefix (shorter)');
    assert.equal(await status('Bearer s3cret-key!'), 401, 'the key plus a byte (longer)');
    assert.equal(await status('Bearer '), 401, 'empty key');
    assert.equal(await status('Basic s3cret-key'), 401, 'another scheme');
    assert.equal(await status('Bearer s3cret-key'), 200);
    assert.equal(await status('bearer s3cret-key'), 200, 'the scheme is case-insensitive (RFC 7235)');
    await assert.rejects(openSocket(e.url, { headers: { Authorization: 'Bearer s3cret-ke' } }), /HTTP 401/);
    const ws = await openSocket(e.url, { headers: { Authorization: 'Bearer s3cret-key' } });
    ws.close();
    assert.equal((await fetch(`${e.url}/health`)).status, 200, '/health needs no key');
  } finally {
    await e.stop();
  }
});

test('--api-keys-file: several keys naming tenants, checked for its mode; bad files are refused with the fix', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pronto-keys-'));
  const file = path.join(dir, 'keys');
  writeFileSync(file, '# tenant key\nalice 0123456789abcdef-alice\nbob   0123456789abcdef-bob\n');
  chmodSync(file, 0o644);
  const open = await runEngine(['--model', model, '--api-keys-file', file]);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /readable or writable by other users \(mode 644\): run chmod 600/);
  writeFileSync(path.join(dir, 'short'), 'alice short\n', { mode: 0o600 });
  const short = await runEngine(['--model', model, '--api-keys-file', path.join(dir, 'short')]);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /line 1: the key of tenant "alice" is 5 characters; use at least 16/);
  chmodSync(file, 0o600);
  const e = await startEngine({ model, args: ['--ctx', '256', '--parallel', '1', '--api-keys-file', file] });
  try {
    for (const key of ['0123456789abcdef-alice', '0123456789abcdef-bob']) {
      assert.equal((await fetch(`${e.url}/v1/models`, { headers: { Authorization: `Bearer ${key}` } })).status, 200);
    }
    assert.equal((await fetch(`${e.url}/v1/models`, { headers: { Authorization: 'Bearer 0123456789abcdef-carol' } })).status, 401);
  } finally {
    await e.stop();
  }
});

test('127.0.0.1.example.com is not loopback: serving on it needs a key', async () => {
  const r = await runEngine(['--model', model, '--host', '127.0.0.1.example.com']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--api-key is required when --host is not a loopback address \(127\.0\.0\.1\.example\.com\)/);
  const v6 = await runEngine(['--model', model, '--host', '::ffff:10.0.0.1']);
  assert.equal(v6.code, 2, 'an IPv4-mapped non-loopback address');
});

test('a key passed in PRONTO_API_KEY is in neither /proc/<pid>/cmdline nor /proc/<pid>/environ, and it works', async () => {
  const key = 'env-key-4f9c2a71d0b8e635';
  const e = await startEngine({
    model,
    args: ['--ctx', '256', '--parallel', '1'],
    env: { ...process.env, PRONTO_API_KEY: key },
  });
  try {
    const pid = e.pid;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    assert.ok(cmdline.includes('--model'), 'read the right process');
    assert.ok(!cmdline.includes(key), 'key not on the command line');
    assert.ok(!readFileSync(`/proc/${pid}/environ`, 'latin1').includes(key), 'key scrubbed from the environment block');
    assert.equal((await fetch(`${e.url}/v1/models`)).status, 401);
    assert.equal((await fetch(`${e.url}/v1/models`, { headers: { Authorization: `Bearer ${key}` } })).status, 200);
  } finally {
    await e.stop();
  }
});
