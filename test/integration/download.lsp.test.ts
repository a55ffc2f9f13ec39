/**
 * The models feature through the REAL LSP server (server/src/main.ts over stdio, real JSON-RPC):
 * `pronto/listModels`, `pronto/downloadModel` with `pronto/downloadProgress` notifications, LSP
 * cancellation, and an HTTP error, against a real HTTP server on 127.0.0.1 used as the model mirror
 * (`pronto.model.mirror`). The served catalog entry is Qwen2.5-Coder 1.5B, whose catalog hash is
 * unknown, so the file is verified against the mirror's X-Linked-ETag, as with Hugging Face.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancellationTokenSource } from 'vscode-jsonrpc';
import type { CatalogModel, DownloadFailure, ListModelsResult, DownloadProgressParams } from '../../protocol/lsp';
import { type LspHarness, startLspServer } from '../support/lsp';

const body = randomBytes(2 * 1024 * 1024 + 7);
const sha = createHash('sha256').update(body).digest('hex');
const paths = {
  ok: '/hf/ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF/resolve/main/qwen2.5-coder-1.5b-q8_0.gguf',
  stall: '/hf/ggml-org/Qwen2.5-Coder-7B-Q8_0-GGUF/resolve/main/qwen2.5-coder-7b-q8_0.gguf',
};

let http: Server;
let storage: string;
let h: LspHarness;
const progress: DownloadProgressParams[] = [];
const requested: string[] = [];
// vscode-jsonrpc keeps one handler per method: one handler records, waiters look at the record.
const waiters: Array<{ pred: (p: DownloadProgressParams) => boolean; resolve: (p: DownloadProgressParams) => void }> = [];
function onProgress(p: DownloadProgressParams): void {
  progress.push(p);
  for (const w of [...waiters]) {
    if (w.pred(p)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(p);
    }
  }
}
function waitForProgress(pred: (p: DownloadProgressParams) => boolean): Promise<DownloadProgressParams> {
  const found = progress.find(pred);
  if (found) return Promise.resolve(found);
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

before(async () => {
  http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    requested.push(path);
    if (path === paths.ok || path === paths.stall) {
      res.writeHead(302, { location: `/cdn${path}`, 'x-linked-etag': `"${sha}"`, 'x-linked-size': String(body.length) }).end();
    } else if (path === `/cdn${paths.ok}`) {
      res.writeHead(200, { 'content-length': body.length, etag: `"${sha}"` }).end(body);
    } else if (path === `/cdn${paths.stall}`) {
      // A slow transfer: 16 KiB every 50 ms, until the client goes away.
      res.writeHead(200, { 'content-length': body.length, etag: `"${sha}"` });
      let sent = 0;
      const timer = setInterval(() => {
        if (sent >= body.length - 16 * 1024) return; // never quite finish
        res.write(body.subarray(sent, sent + 16 * 1024));
        sent += 16 * 1024;
      }, 50);
      res.on('close', () => clearInterval(timer));
    } else {
      res.writeHead(404).end('Entry not found');
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const mirror = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hf`;

  storage = await mkdtemp(join(tmpdir(), 'pronto-lsp-models-'));
  const notAModel = join(storage, 'not-a-model.gguf');
  await writeFile(notAModel, 'x');
  h = startLspServer({ PRONTO_MODEL_MIRROR: '' });
  h.connection.onNotification('pronto/downloadProgress', onProgress);
  // No engine is needed for the models feature: point at a missing one so none is started.
  await h.initialize({ storageDir: storage, pronto: { engine: { path: '/no/such/pronto-engine' }, model: { path: notAModel, mirror } } });
});

after(async () => {
  await h.stop();
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await rm(storage, { recursive: true, force: true });
});

describe('models over LSP', () => {
  test('pronto/listModels lists the catalog with the local state and the hardware', async () => {
    const r = await h.connection.sendRequest<ListModelsResult>('pronto/listModels');
    assert.deepEqual(
      r.models.map((m) => m.id),
      [
        'qwen2.5-coder-0.5b',
        'qwen2.5-coder-1.5b',
        'qwen2.5-coder-1.5b-iq3_xxs',
        'qwen2.5-coder-3b',
        'qwen2.5-coder-7b',
        'deepseek-coder-1.3b',
        'deepseek-coder-1.3b-q8_0',
        'deepseek-coder-6.7b',
        'deepseek-coder-6.7b-q8_0',
      ],
    );
    // Every version says what it costs and whether it fits here; one version per model is suggested.
    for (const m of r.models) {
      assert.ok(m.memoryBytes > m.sizeBytes && m.quantLabel.includes(m.quant) && m.quality.length > 0, JSON.stringify(m));
      assert.match(m.fitNote, /^(suggested for|fits|too big for) /);
    }
    for (const model of new Set(r.models.map((m) => m.model))) {
      assert.ok(r.models.filter((m) => m.model === model && m.suggestedVersion).length <= 1, model);
    }
    assert.match(r.suggestion, /\w/);
    assert.ok(r.models.every((m) => !m.installed));
    assert.equal(r.models.filter((m) => m.recommended).length, 1);
    assert.deepEqual(r.models[0]!.draftFor, ['qwen2.5-coder-1.5b', 'qwen2.5-coder-3b', 'qwen2.5-coder-7b']);
    assert.match(r.hardware, /RAM/);
  });

  test('pronto/downloadModel downloads from the mirror, verifies, reports progress and returns the path', async () => {
    progress.length = 0;
    const { path } = await h.connection.sendRequest<{ path: string }>('pronto/downloadModel', { id: 'qwen2.5-coder-1.5b' });
    assert.equal(path, join(storage, 'models', 'qwen2.5-coder-1.5b-q8_0.gguf'));
    assert.ok((await readFile(path)).equals(body));
    assert.ok(requested.includes(paths.ok));
    // Notifications sent before the response are delivered before it, in order.
    const states = progress.filter((p) => p.id === 'qwen2.5-coder-1.5b').map((p) => p.state);
    assert.equal(states[0], 'downloading');
    assert.ok(states.includes('verifying'));
    assert.equal(states.at(-1), 'done');
    const done = progress.at(-1)!;
    assert.equal(done.receivedBytes, body.length);
    assert.match(done.message ?? '', new RegExp(sha));

    const r = await h.connection.sendRequest<{ models: CatalogModel[] }>('pronto/listModels');
    assert.equal(r.models.find((m) => m.id === 'qwen2.5-coder-1.5b')!.installed, true);
  });

  test('LSP cancellation of pronto/downloadModel stops a slow transfer and keeps the .part', async () => {
    progress.length = 0;
    const source = new CancellationTokenSource();
    const request = h.connection.sendRequest('pronto/downloadModel', { id: 'qwen2.5-coder-7b' }, source.token);
    await waitForProgress((p) => p.id === 'qwen2.5-coder-7b' && p.receivedBytes > 0);
    source.cancel();
    await assert.rejects(request);
    const cancelled = await waitForProgress((p) => p.id === 'qwen2.5-coder-7b' && p.state === 'cancelled');
    assert.match(cancelled.message ?? '', /cancelled/);
    const part = join(storage, 'models', 'qwen2.5-coder-7b-q8_0.gguf.part');
    assert.ok((await stat(part)).size > 0);
    assert.equal(existsSync(join(storage, 'models', 'qwen2.5-coder-7b-q8_0.gguf')), false);
  });

  test('a download the mirror does not have fails with one plain sentence and its kind; the log has the details', async () => {
    await assert.rejects(
      h.connection.sendRequest('pronto/downloadModel', { id: 'qwen2.5-coder-3b' }),
      (err: Error & { data?: DownloadFailure }) =>
        /^127\.0\.0\.1:\d+ has no such file \(HTTP 404\): the catalog or the mirror is out of date\.$/.test(err.message) &&
        err.data?.kind === 'not-found' &&
        /^127\.0\.0\.1:\d+$/.test(err.data.host ?? ''),
    );
    assert.ok(h.logs.some((l) => /download of qwen2\.5-coder-3b failed: HTTP 404 Not Found for qwen2\.5-coder-3b-q8_0\.gguf/.test(l)));
    await assert.rejects(h.connection.sendRequest('pronto/downloadModel', { id: 'no-such-model' }), /unknown model id "no-such-model"/);
  });

  test('offline (the host does not resolve): "are you offline?", and a mirror given with the request is used for it', async () => {
    await assert.rejects(
      h.connection.sendRequest('pronto/downloadModel', { id: 'qwen2.5-coder-3b', mirror: 'http://pronto-test.invalid' }),
      (err: Error & { data?: DownloadFailure }) =>
        err.message === "Can't reach pronto-test.invalid — are you offline?" && err.data?.kind === 'offline',
    );
  });
});
