/** EngineClient against an in-process engine double speaking protocol/engine.ts over a real socket. */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { WebSocketServer } from 'ws';
import { EngineClient, summarizeRequest } from '../../server/src/engine/client';
import { startFakeEngine, type FakeEngine } from '../support/lsp';

const engines: FakeEngine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

async function engine(opts: Parameters<typeof startFakeEngine>[0] = {}) {
  const e = await startFakeEngine(opts);
  engines.push(e);
  return e;
}

test('submit streams tokens and resolves done with validated stats', async () => {
  const e = await engine();
  const c = new EngineClient({ baseUrl: e.url });
  assert.deepEqual(await c.connect(), { ok: true });
  const tokens: string[] = [];
  const out = await c.submit({ fim: { prefix: '/*fake:abcdefg*/', suffix: '' } }, { onToken: (t) => tokens.push(t) });
  assert.equal(out.kind, 'done');
  assert.equal(out.kind === 'done' && out.text, 'abcdefg');
  assert.equal(tokens.join(''), 'abcdefg');
  assert.ok(out.kind === 'done' && out.stats.generated_tokens === 3);
  const health = await c.health();
  assert.ok(health.ok && health.health.status === 'ok');
  c.close();
});

test('abort resolves at once as cancelled and sends cancel to the engine', async () => {
  const e = await engine();
  const c = new EngineClient({ baseUrl: e.url });
  await c.connect();
  const ac = new AbortController();
  const p = c.submit(
    { fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 1000 } },
    { signal: ac.signal, onToken: () => ac.abort() },
  );
  const out = await p;
  assert.equal(out.kind, 'cancelled');
  const submit = e.received.find((m) => m.type === 'submit')!;
  const cancel = await e.waitFor((m) => m.type === 'cancel');
  assert.equal(cancel.id, submit.id);
  assert.equal(c.pendingCount, 0);
  c.close();
});

test('pending requests are drained as cancelled when the socket dies', async () => {
  const e = await engine();
  const c = new EngineClient({ baseUrl: e.url });
  await c.connect();
  const closed = new Promise<string>((resolve) => c.onClose(resolve));
  const p = c.submit({ fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 1000 } });
  await e.waitFor((m) => m.type === 'submit');
  e.dropSockets();
  const out = await p;
  assert.equal(out.kind, 'cancelled');
  assert.match(await closed, /closed/);
  // After the socket is gone, submit answers an error instead of hanging.
  const again = await c.submit({ fim: { prefix: '', suffix: '' } });
  assert.equal(again.kind, 'error');
});

test('a wrong API key is refused with a message naming the command that sets it', async () => {
  const e = await engine({ apiKey: 'secret' });
  const bad = new EngineClient({ baseUrl: e.url, apiKey: 'wrong' });
  const r = await bad.connect();
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.message : '', /refused the API key.*Pronto: Set Remote Engine API Key/);
  const good = new EngineClient({ baseUrl: e.url, apiKey: 'secret' });
  assert.deepEqual(await good.connect(), { ok: true });
  const out = await good.submit({ fim: { prefix: '/*fake:x*/', suffix: '' } });
  assert.equal(out.kind, 'done');
  good.close();
});

test('a request past its deadline is cancelled at the engine and ends as a timeout; tokenize asks /tokenize', async () => {
  const e = await engine();
  const c = new EngineClient({ baseUrl: e.url });
  await c.connect();
  const outcomes: string[] = [];
  c.onOutcome((o) => outcomes.push(o.kind));
  const out = await c.submit({ fim: { prefix: '/*fake-slow*/', suffix: '' }, limits: { max_tokens: 4096 } }, { deadlineMs: 100 });
  assert.equal(out.kind, 'error');
  assert.equal(out.kind === 'error' && out.code, 'timeout');
  const cancel = await e.waitFor((m) => m.type === 'cancel');
  assert.equal(c.sentCancels.at(-1), cancel.id);
  assert.deepEqual(outcomes, ['error']);
  assert.deepEqual(c.lastRequest, { chars: '/*fake-slow*/'.length, longestLine: '/*fake-slow*/'.length });
  const t = await c.tokenize('abcdef');
  assert.equal(t.ok && t.tokens.length, 2);
  c.close();
});

test('summarizeRequest: characters and the longest line over every text of a request', () => {
  assert.deepEqual(summarizeRequest({ fim: { prefix: 'ab\nabcd', suffix: 'x', extra: [{ text: 'abcdefg' }] } }), {
    chars: 15,
    longestLine: 7,
  });
  assert.deepEqual(summarizeRequest({ messages: [{ role: 'user', content: 'hello\nworld!' }] }), { chars: 12, longestLine: 6 });
});

test('unreachable engine: connect and health report errors, never throw', async () => {
  const c = new EngineClient({ baseUrl: 'http://127.0.0.1:1', connectTimeoutMs: 2000 });
  const r = await c.connect();
  assert.equal(r.ok, false);
  const h = await c.health(1000);
  assert.equal(h.ok, false);
});

test('malformed and unexpected engine messages end the request as an error', async () => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/v1/stream' });
  wss.on('connection', (ws) =>
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id: string };
      ws.send('not json');
      ws.send(JSON.stringify({ type: 'done', id: msg.id, text: 'x', finish_reason: 'stop' })); // no stats
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new EngineClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  await c.connect();
  const out = await c.submit({ fim: { prefix: '', suffix: '' } });
  assert.equal(out.kind, 'error');
  assert.match(out.kind === 'error' ? out.message : '', /unexpected message/);
  c.close();
  wss.close();
  server.close();
});
