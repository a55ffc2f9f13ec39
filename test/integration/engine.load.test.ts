// Load on the real engine's network side: 256 WebSocket clients connected at once, every one getting
// its completion; 1,000 slow connections (a header byte every 2 s) while /health, an HTTP completion
// and a WebSocket completion are still served. The test client is Node's event loop with plain
// sockets (Node raises its own open-file limit to the hard limit at start), so it is not the
// bottleneck. Waits are for the engine's own counts, with generous guards only against hangs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import type WebSocket from 'ws';
import { parseServerMessage } from '../../protocol/engine';
import { ensureTestModels } from '../support/models';
import { EngineSocket, startEngine } from '../support/engine';
import { metric, metricsText, openSocket, waitForMetric } from '../support/net';

test('256 WebSocket clients connected at once all get their completions', async () => {
  const e = await startEngine({ model: (await ensureTestModels()).target, args: ['--ctx', '4096', '--parallel', '4'] });
  const clients = 256;
  const sockets: WebSocket[] = [];
  try {
    // All upgrades at once (cpp-httplib's pool held a thread per WebSocket: some of 16 timed out).
    sockets.push(...(await Promise.all(Array.from({ length: clients }, () => openSocket(e.url)))));
    assert.equal(await waitForMetric(e.url, 'pronto_connections_open{kind="websocket"}', (v) => v === clients), clients);
    const answers = await Promise.all(
      sockets.map(
        (ws, i) =>
          new Promise<{ tokens: number; done: boolean; text: string; joined: string }>((resolve) => {
            let joined = '';
            ws.on('message', (data) => {
              const m = parseServerMessage(data.toString());
              if (m.type === 'token') joined += m.text;
              else if (m.type === 'done') resolve({ tokens: m.stats.generated_tokens, done: true, text: m.text, joined });
              else resolve({ tokens: 0, done: false, text: JSON.stringify(m), joined });
            });
            ws.send(JSON.stringify({ type: 'submit', id: `c${i}`, prompt: `def f${i}(`, limits: { max_tokens: 8, ignore_eos: true } }));
          }),
      ),
    );
    for (const [i, a] of answers.entries()) {
      assert.ok(a.done, `client ${i}: ${a.text}`);
      assert.equal(a.tokens, 8, `client ${i}`);
      assert.equal(a.joined, a.text, `client ${i}: the streamed tokens add up to the final text`);
    }
    const m = await metricsText(e.url);
    assert.equal(metric(m, 'pronto_connections_refused_total{reason="limit"}'), 0);
  } finally {
    for (const s of sockets) s.terminate();
    await e.stop();
  }
});

test('1,000 slow connections (a byte every 2 s) while /health and completions are served', async () => {
  const slowCount = 1000;
  // A long header deadline so that none of them is cut while the test runs (the deadline itself is
  // tested in engine.connections.test.ts).
  const e = await startEngine({
    model: (await ensureTestModels()).target,
    args: ['--ctx', '1024', '--parallel', '2', '--header-timeout', '600'],
  });
  const slow: net.Socket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    const header = `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'s'.repeat(4000)}`;
    await Promise.all(
      Array.from(
        { length: slowCount },
        () =>
          new Promise<void>((resolve, reject) => {
            const sock = net.connect(e.port, '127.0.0.1');
            slow.push(sock);
            sock.on('error', () => {});
            sock.once('connect', () => {
              let i = 0;
              sock.write(header[i++]!);
              timers.push(setInterval(() => sock.write(header[i++ % header.length]!), 2000));
              resolve();
            });
            sock.once('close', () => reject(new Error('a slow connection was closed by the engine')));
          }),
      ),
    );
    // The engine holds every one of them (plus the connection reading /metrics).
    await waitForMetric(e.url, 'pronto_connections_open{kind="http"}', (v) => v >= slowCount + 1, { guardMs: 120_000 });
    const health = await fetch(`${e.url}/health`);
    assert.equal(health.status, 200);
    const completion = await fetch(`${e.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt: 'def f(', max_tokens: 4, ignore_eos: true }),
    });
    assert.equal(completion.status, 200);
    assert.equal(((await completion.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 4);
    const s = await EngineSocket.open(e.url);
    const r = await s.request({ type: 'submit', id: 'w', prompt: 'x', limits: { max_tokens: 4, ignore_eos: true } });
    assert.equal(r.done?.stats.generated_tokens, 4);
    await s.close();
    // Still all open: nothing was dropped to make room.
    assert.equal(slow.filter((x) => x.destroyed).length, 0);
  } finally {
    for (const t of timers) clearInterval(t);
    for (const x of slow) x.destroy();
    await e.stop();
  }
});
