// How the real engine treats connections: oversized bodies (413) and messages, slow headers (the
// header deadline), the connection limit (503 with Retry-After), HTTP clients that disconnect (their
// generation is cancelled), a WebSocket client that stops reading while others stream (dropped, its
// requests cancelled, counted), a 4 MiB tokenize that does not stall /health, and --exit-with-stdin /
// SIGTERM while the model is still loading. Every wait is for an event or a count, not for a time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type WebSocket from 'ws';
import { ensureTestModels } from '../support/models';
import { EngineSocket, engineBinary, startEngine } from '../support/engine';
import { get, metric, metricsText, openSocket, parseResponse, rawHttp, waitForMetric } from '../support/net';

const MiB = 1024 * 1024;
const model = async () => (await ensureTestModels()).target;

test('bodies over 64 MiB get 413 (declared or streamed), a WebSocket message over it closes the connection; the engine keeps serving', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '256', '--parallel', '1'] });
  try {
    // Declared too large: refused from the header, before any of the body is read.
    const declared = await rawHttp(
      e.port,
      `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${e.port}\r\nContent-Length: ${64 * MiB + 1}\r\n\r\n`,
    );
    assert.equal(declared.status, 413);
    assert.equal(JSON.parse(declared.body).error.code, 'payload_too_large');
    // Chunked, so the size shows only while reading: refused when it passes the limit.
    const streamed = await new Promise<number>((resolve, reject) => {
      const sock = net.connect(e.port, '127.0.0.1');
      let data = '';
      sock.on('data', (d: Buffer) => {
        data += d.toString('latin1');
        const r = parseResponse(data);
        if (r) {
          sock.destroy();
          resolve(r.status);
        }
      });
      sock.on('error', () => {}); // the engine closes while we still write
      sock.on('close', () => reject(new Error(`closed without a response: ${data.slice(0, 200)}`)));
      sock.write(`POST /tokenize HTTP/1.1\r\nHost: 127.0.0.1:${e.port}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      const chunk = Buffer.alloc(MiB, 0x61);
      const head = Buffer.from(`${chunk.length.toString(16)}\r\n`);
      let sent = 0;
      const pump = () => {
        while (sent < 70 && !sock.destroyed) {
          sent++;
          if (!sock.write(Buffer.concat([head, chunk, Buffer.from('\r\n')]))) return sock.once('drain', pump);
        }
      };
      pump();
    });
    assert.equal(streamed, 413);
    // One WebSocket message over the limit: the engine closes the connection without buffering it.
    // (It sends close code 1009, but Boost 1.74's teardown then resets the socket while the client is
    // still sending, so the client usually reports 1006: native/README.md.)
    const ws = await openSocket(e.url);
    const code = await new Promise<number>((resolve) => {
      ws.on('close', (c) => resolve(c));
      ws.on('error', () => {});
      ws.send(Buffer.alloc(64 * MiB + 16, 0x20), { binary: false });
    });
    assert.ok(code === 1009 || code === 1006, `closed with ${code}`);
    assert.equal((await fetch(`${e.url}/health`)).status, 200);
    assert.match(await metricsText(e.url), /pronto_errors_total\{kind="payload_too_large"\} 2/);
  } finally {
    await e.stop();
  }
});

test('a client trickling its request header is closed at the header deadline and counted; an idle one too', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '256', '--parallel', '1', '--header-timeout', '1'] });
  try {
    const closedBy = (trickle: boolean) =>
      new Promise<string>((resolve) => {
        const sock = net.connect(e.port, '127.0.0.1');
        const header = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ${'p'.repeat(200)}\r\n\r\n`;
        let i = 0;
        const timer = trickle ? setInterval(() => i < header.length && sock.write(header[i++]!), 100) : undefined;
        let got = '';
        sock.on('data', (d: Buffer) => (got += d.toString()));
        sock.on('error', () => {});
        sock.on('close', () => {
          clearInterval(timer);
          resolve(got);
        });
      });
    // The engine, not the client, ends both connections; neither got a reply.
    assert.equal(await closedBy(true), '');
    assert.equal(await closedBy(false), '');
    assert.equal(metric(await metricsText(e.url), 'pronto_connections_timed_out_total{phase="header"}'), 2);
  } finally {
    await e.stop();
  }
});

test('over --max-connections a new connection gets 503 with Retry-After and a message; counted', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '256', '--parallel', '1', '--max-connections', '3'] });
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < 3; i++) sockets.push(await openSocket(e.url));
    const refused = await get(e.port, '/health');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers['retry-after'], '1');
    assert.match(JSON.parse(refused.body).error.message, /too many connections \(--max-connections 3\)/);
    const closed = new Promise((r) => sockets[0]!.once('close', r));
    sockets[0]!.close();
    await closed;
    // Once the engine has seen the close there is room again (until then /metrics itself is refused).
    await waitForMetric(e.url, 'pronto_connections_open{kind="websocket"}', (v) => v === 2);
    assert.ok((await waitForMetric(e.url, 'pronto_connections_refused_total{reason="limit"}', (v) => v >= 1)) >= 1);
  } finally {
    for (const s of sockets) s.terminate();
    await e.stop();
  }
});

/** A non-streamed completion over a raw socket that the test can drop at will. */
function rawCompletion(port: number, body: object): net.Socket {
  const text = JSON.stringify(body);
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => {});
  sock.write(`POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  return sock;
}

test('a non-streaming HTTP client that disconnects cancels its generation (queued and running)', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '8192', '--parallel', '1'] });
  try {
    // Queued: one WebSocket request holds the only sequence; the HTTP request waits behind it.
    const blocker = await EngineSocket.open(e.url);
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    const blocked = blocker.request({ type: 'submit', id: 'blocker', prompt: 'x', limits: { max_tokens: 4096, ignore_eos: true } }, () =>
      started(),
    );
    await running;
    const queued = rawCompletion(e.port, { prompt: 'queued', max_tokens: 50 });
    await waitForMetric(e.url, 'pronto_http_completions_in_flight', (v) => v === 1);
    queued.destroy();
    await waitForMetric(e.url, 'pronto_http_clients_gone_total', (v) => v === 1);
    blocker.send({ type: 'cancel', id: 'blocker' });
    assert.equal((await blocked).done?.finish_reason, 'cancelled');
    // Both cancelled: the blocker by its cancel, the HTTP request by its client leaving.
    await waitForMetric(e.url, 'pronto_cancellations_total', (v) => v === 2);
    await blocker.close();

    // Running: the HTTP request holds the sequence and is decoding when its client leaves.
    const runningReq = rawCompletion(e.port, { prompt: 'running', max_tokens: 4096, ignore_eos: true });
    await waitForMetric(e.url, 'pronto_http_completions_in_flight', (v) => v === 1);
    for (;;) {
      const h = (await (await fetch(`${e.url}/health`)).json()) as { busy_sequences: number };
      if (h.busy_sequences === 1) break;
    }
    runningReq.destroy();
    await waitForMetric(e.url, 'pronto_cancellations_total', (v) => v === 3);
    assert.equal(metric(await metricsText(e.url), 'pronto_http_clients_gone_total'), 2);
    // The sequence is free again: a new request on the one sequence completes.
    const r = await fetch(`${e.url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'after', max_tokens: 2 }) });
    assert.equal(r.status, 200);
  } finally {
    await e.stop();
  }
});

test('an SSE client that disconnects mid-stream cancels its generation', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '8192', '--parallel', '1'] });
  try {
    const text = JSON.stringify({ prompt: 'stream', max_tokens: 4096, ignore_eos: true, stream: true });
    const sock = net.connect(e.port, '127.0.0.1');
    sock.on('error', () => {});
    const firstChunk = new Promise<string>((resolve) => sock.once('data', (d: Buffer) => resolve(d.toString())));
    sock.write(`POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${e.port}\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
    assert.match(await firstChunk, /^HTTP\/1\.1 200 OK\r\n[\s\S]*text\/event-stream/);
    sock.destroy();
    await waitForMetric(e.url, 'pronto_cancellations_total', (v) => v === 1);
    assert.equal(metric(await metricsText(e.url), 'pronto_http_clients_gone_total'), 1);
  } finally {
    await e.stop();
  }
});

test('a WebSocket client that stops reading is dropped and its requests cancelled while the others all finish', async () => {
  const e = await startEngine({
    model: await model(),
    args: ['--ctx', '4096', '--parallel', '4', '--client-queue-limit', '65536'],
  });
  try {
    // The stalled client asks for far more output (16 × 900 tokens × ~300-byte frames: ~4 MB) than
    // the kernel buffers and its 64 KiB queue hold, then stops reading.
    const stalled = await openSocket(e.url);
    const stalledRequests = 16;
    for (let i = 0; i < stalledRequests; i++) {
      const id = `stalled-${i}-`.padEnd(256, 'x');
      stalled.send(JSON.stringify({ type: 'submit', id, prompt: `s${i}`, limits: { max_tokens: 900, ignore_eos: true } }));
    }
    stalled.pause();
    // Others stream at the same time; every one must get its whole answer.
    const others = await Promise.all(Array.from({ length: 6 }, () => EngineSocket.open(e.url)));
    const results = await Promise.all(
      others.map((s, i) => s.request({ type: 'submit', id: `o${i}`, prompt: `def f${i}(`, limits: { max_tokens: 200, ignore_eos: true } })),
    );
    for (const r of results) {
      assert.equal(r.done?.finish_reason, 'length', JSON.stringify(r.error));
      assert.equal(r.done?.stats.generated_tokens, 200);
      assert.equal(r.tokens.join(''), r.done?.text);
    }
    assert.equal(await waitForMetric(e.url, 'pronto_clients_dropped_total{reason="queue_full"}', (v) => v >= 1), 1);
    await Promise.all(others.map((s) => s.close()));
    // Its requests were cancelled, not run to the end: the engine goes idle well short of 16 × 900 tokens.
    for (;;) {
      const h = (await (await fetch(`${e.url}/health`)).json()) as { busy_sequences: number };
      if (h.busy_sequences === 0) break;
    }
    const m = await metricsText(e.url);
    assert.ok(metric(m, 'pronto_cancellations_total') >= 1, 'the stalled requests were cancelled');
    assert.ok(metric(m, 'pronto_generated_tokens_total') < stalledRequests * 900, 'not all stalled output was generated');
    assert.match(e.stderr(), /dropped a WebSocket client that stopped reading \(its unsent output passed --client-queue-limit/);
    // The dropped client finds its connection gone once it reads again.
    const closed = new Promise((r) => stalled.once('close', r));
    stalled.resume();
    await closed;
  } finally {
    await e.stop();
  }
});

test('tokenizing a 4 MiB body runs off the I/O thread: /health answers while it is still being tokenized', async () => {
  const e = await startEngine({ model: await model(), args: ['--ctx', '256', '--parallel', '1'] });
  try {
    const content = 'let value = compute(items, scale);\n'.repeat(Math.floor((4 * MiB - 64) / 35));
    let pending = true;
    const big = fetch(`${e.url}/tokenize`, { method: 'POST', body: JSON.stringify({ content }) }).then(async (r) => {
      const json = (await r.json()) as { tokens: number[] };
      pending = false;
      return { status: r.status, n: json.tokens.length };
    });
    // /health, again and again while the body is read and tokenized: were the tokenizing on the I/O
    // thread, no answer could arrive before the tokenize reply.
    let answeredWhilePending = 0;
    while (pending) {
      const h = await fetch(`${e.url}/health`);
      assert.equal(h.status, 200);
      await h.arrayBuffer();
      if (pending) answeredWhilePending++;
    }
    const done = await big;
    assert.equal(done.status, 200);
    assert.ok(done.n > 100_000);
    assert.ok(answeredWhilePending >= 3, `/health answered ${answeredWhilePending} times while tokenizing`);
  } finally {
    await e.stop();
  }
});

test('--exit-with-stdin and SIGTERM work while the model is still loading (the watch starts first)', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pronto-fifo-'));
  for (const how of ['stdin', 'sigterm'] as const) {
    // A model file that never finishes loading: a FIFO whose writer never writes.
    const fifo = path.join(dir, `slow-${how}.gguf`);
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const child = spawn(engineBinary, ['--model', fifo, '--port', '0', '--exit-with-stdin'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // The engine opens the FIFO to load it; it then waits for bytes that never come.
      let writer = -1;
      while (writer < 0) {
        try {
          writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK); // ENXIO until a reader opened it
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
          if (child.exitCode !== null) assert.fail(`engine exited before opening the model: ${stderr}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      // The engine is now inside model loading, reading a file that does not end.
      if (how === 'stdin') child.stdin.end();
      else child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      closeSync(writer);
      assert.match(stderr, how === 'stdin' ? /stdin closed, shutting down/ : /signal 15, shutting down/);
      assert.match(stderr, /not serving yet \(model loading\), exiting now/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
});
