/**
 * Model download through a REAL HTTP server (node:http on 127.0.0.1, port 0) laid out like Hugging
 * Face: `/<repo>/resolve/<rev>/<file>` answers 302 with `X-Linked-ETag: "<sha256>"` and redirects to
 * a "CDN" path that serves the bytes with Range support. Behaviours per test: cut the connection
 * mid-body, corrupt a byte, ignore Range, stall (for cancellation), 404.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import type { DownloadProgressParams } from '../../protocol/lsp';
import type { CatalogEntry } from '../../server/src/models/catalog';
import { DownloadError, type DownloadProgress, downloadVerified } from '../../server/src/models/download';
import { ModelService } from '../../server/src/models/service';

interface Behaviour {
  /** Send X-Linked-ETag on the redirect (default true). */
  linkedEtag?: boolean;
  /** Override the X-Linked-ETag value. */
  linkedEtagValue?: string;
  /** Cut the connection after this many body bytes, for the first `cutTimes` responses. */
  cutAt?: number;
  cutTimes?: number;
  /** Flip one byte in what is served. */
  corrupt?: boolean;
  /** Answer Range requests with the whole file (200). */
  ignoreRange?: boolean;
  /** Send this many bytes and then hold the connection open. */
  stallAt?: number;
  /** Answer with this status instead of the file. */
  status?: number;
  /** Answer the first `failTimes` requests with `status`, then serve normally. */
  failTimes?: number;
  /** Announce this Content-Length (and send nothing). */
  claimLength?: number;
}

interface Logged {
  path: string;
  range?: string;
  ifRange?: string;
  status: number;
  bytesSent: number;
}

const SIZE = 3 * 1024 * 1024 + 123;
const body = randomBytes(SIZE);
const sha = createHash('sha256').update(body).digest('hex');

let server: Server;
let base: string;
let behaviour: Behaviour = {};
let log: Logged[] = [];
let cutsDone = 0;
let dir: string;

function serveFile(req: IncomingMessage, res: ServerResponse, entry: Logged): void {
  const data = behaviour.corrupt ? Buffer.from(body) : body;
  if (behaviour.corrupt) data[1000] = data[1000]! ^ 0xff;
  const etag = `"${sha}"`;
  if (behaviour.claimLength !== undefined) {
    entry.status = 200;
    res.writeHead(200, { 'content-length': behaviour.claimLength, etag });
    res.flushHeaders();
    return; // the client must give up on its own; the server closes leftovers at the end
  }
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const ifRangeOk = !req.headers['if-range'] || req.headers['if-range'] === etag;
  if (range && !behaviour.ignoreRange && ifRangeOk) {
    start = Number(range[1]);
    if (start >= data.length) {
      entry.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    entry.status = 206;
    res.writeHead(206, {
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
      'content-length': data.length - start,
      etag,
      'accept-ranges': 'bytes',
    });
  } else {
    entry.status = 200;
    res.writeHead(200, { 'content-length': data.length, etag, 'accept-ranges': 'bytes' });
  }
  const rest = data.subarray(start);
  if (behaviour.cutAt !== undefined && cutsDone < (behaviour.cutTimes ?? 1)) {
    cutsDone++;
    const part = rest.subarray(0, behaviour.cutAt);
    entry.bytesSent = part.length;
    res.write(part, () => res.socket?.destroy());
    return;
  }
  if (behaviour.stallAt !== undefined) {
    entry.bytesSent = behaviour.stallAt;
    res.write(rest.subarray(0, behaviour.stallAt)); // and never end: the client has to cancel
    return;
  }
  entry.bytesSent = rest.length;
  res.end(rest);
}

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const entry: Logged = {
      path: url.pathname,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      status: 0,
      bytesSent: 0,
    };
    log.push(entry);
    const resolveMatch = /^\/hf\/(.+)\/resolve\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (resolveMatch) {
      if (behaviour.status && (behaviour.failTimes === undefined || behaviour.failTimes-- > 0)) {
        entry.status = behaviour.status;
        res.writeHead(behaviour.status, { 'content-type': 'text/plain' }).end('Entry not found');
        return;
      }
      const headers: Record<string, string> = { location: `/cdn/${resolveMatch[3]}?signed=1` };
      if (behaviour.linkedEtag !== false) {
        headers['x-linked-etag'] = behaviour.linkedEtagValue ?? `"${sha}"`;
        headers['x-linked-size'] = String(SIZE);
      }
      entry.status = 302;
      res.writeHead(302, headers).end();
      return;
    }
    if (url.pathname.startsWith('/cdn/')) {
      serveFile(req, res, entry);
      return;
    }
    entry.status = 404;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hf`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(async () => {
  behaviour = {};
  log = [];
  cutsDone = 0;
  dir = await mkdtemp(join(tmpdir(), 'pronto-dl-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const urlFor = (file = 'model.gguf') => `${base}/org/repo/resolve/main/${file}`;
const fileRequests = () => log.filter((l) => l.path.startsWith('/cdn/'));

async function expectDownloadError(p: Promise<unknown>, code: DownloadError['code']): Promise<DownloadError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected the download to fail with ${code}`);
}

describe('downloadVerified against a real HTTP server', () => {
  test('full download through the redirect, verified against the catalog hash, with progress', async () => {
    const destination = join(dir, 'model.gguf');
    const progress: DownloadProgress[] = [];
    const result = await downloadVerified({
      url: urlFor(),
      destination,
      expectedSha256: sha,
      progressIntervalMs: 0,
      onProgress: (p) => progress.push(p),
    });
    assert.equal(result.path, destination);
    assert.equal(result.sha256, sha);
    assert.equal(result.checksumSource, 'catalog+x-linked-etag');
    assert.equal(result.resumedFrom, 0);
    assert.ok((await readFile(destination)).equals(body));
    assert.equal(existsSync(`${destination}.part`), false);
    assert.equal(existsSync(`${destination}.part.json`), false);
    assert.equal(existsSync(`${destination}.lock`), false);
    const downloading = progress.filter((p) => p.phase === 'downloading');
    assert.ok(downloading.length >= 2, 'several progress reports');
    for (let i = 1; i < downloading.length; i++) assert.ok(downloading[i]!.receivedBytes >= downloading[i - 1]!.receivedBytes);
    assert.equal(downloading.at(-1)!.receivedBytes, SIZE);
    assert.ok(downloading.every((p) => p.totalBytes === SIZE));
    assert.ok(progress.some((p) => p.phase === 'verifying'));
  });

  test('a redirect to another host (a CDN) gets no Authorization header; the origin does', async () => {
    const seen: Array<{ host: string; auth?: string }> = [];
    const cdn = createServer((req, res) => {
      seen.push({ host: 'cdn', auth: req.headers.authorization });
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
    const origin = createServer((req, res) => {
      seen.push({ host: 'origin', auth: req.headers.authorization });
      const cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}/signed/model.gguf`;
      res.writeHead(302, { location: cdnUrl, 'x-linked-etag': `"${sha}"` }).end();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    try {
      const result = await downloadVerified({
        url: `http://127.0.0.1:${(origin.address() as AddressInfo).port}/org/repo/resolve/main/model.gguf`,
        destination: join(dir, 'model.gguf'),
        expectedSha256: null,
        headers: { authorization: 'Bearer hf_secret' },
      });
      assert.equal(result.checksumSource, 'x-linked-etag');
      assert.deepEqual(seen, [
        { host: 'origin', auth: 'Bearer hf_secret' },
        { host: 'cdn', auth: undefined },
      ]);
    } finally {
      for (const s of [cdn, origin]) {
        s.closeAllConnections();
        await new Promise<void>((r) => s.close(() => r()));
      }
    }
  });

  test('no hash in the catalog: verified against X-Linked-ETag', async () => {
    const result = await downloadVerified({ url: urlFor(), destination: join(dir, 'model.gguf'), expectedSha256: null });
    assert.equal(result.checksumSource, 'x-linked-etag');
    assert.equal(result.sha256, sha);
  });

  test('connection cut mid-body: the same call resumes with a Range request and verifies', async () => {
    behaviour = { cutAt: 1024 * 1024 };
    const destination = join(dir, 'model.gguf');
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retryDelayMs: 0 });
    const requests = fileRequests();
    assert.equal(requests.length, 2, JSON.stringify(requests));
    assert.equal(requests[0]!.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]!.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 1024 * 1024, `resumed from ${resumedAt}`);
    assert.equal(requests[1]!.status, 206);
    assert.equal(requests[1]!.ifRange, `"${sha}"`, 'If-Range carries the ETag of the first response');
    assert.equal(result.resumedFrom, resumedAt);
    assert.ok((await readFile(destination)).equals(body));
  });

  test('interrupted download fails clearly, keeps the .part, and the next call resumes from it', async () => {
    behaviour = { cutAt: 1024 * 1024 };
    const destination = join(dir, 'model.gguf');
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retries: 0 }), 'network');
    assert.match(err.message, /connection lost while downloading model\.gguf/);
    assert.match(err.message, /download again to resume/);
    const partSize = (await stat(`${destination}.part`)).size;
    assert.ok(partSize > 0 && partSize <= 1024 * 1024, `part has ${partSize} bytes`);
    assert.equal(existsSync(destination), false, 'nothing unverified under the final name');

    log = [];
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retries: 0 });
    assert.equal(fileRequests()[0]!.range, `bytes=${partSize}-`);
    assert.equal(fileRequests()[0]!.bytesSent, SIZE - partSize, 'only the missing bytes were sent');
    assert.equal(result.resumedFrom, partSize);
    assert.ok((await readFile(destination)).equals(body));
  });

  test('a server that ignores Range: the download restarts from zero and is still right', async () => {
    behaviour = { cutAt: 500_000, ignoreRange: true };
    const destination = join(dir, 'model.gguf');
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retryDelayMs: 0 });
    assert.equal(fileRequests()[1]!.status, 200);
    assert.equal(result.resumedFrom, 0);
    assert.ok((await readFile(destination)).equals(body));
  });

  test('corrupted bytes fail verification, the .part is deleted and nothing is used', async () => {
    behaviour = { corrupt: true };
    const destination = join(dir, 'model.gguf');
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: null }), 'mismatch');
    assert.match(err.message, /SHA-256 mismatch for model\.gguf/);
    assert.ok(err.message.includes(sha), 'names the expected hash');
    assert.match(err.message, /from the server \(X-Linked-ETag\)/);
    assert.match(err.message, /deleted and not used/);
    assert.equal(existsSync(destination), false);
    assert.equal(existsSync(`${destination}.part`), false);
  });

  test('404 gives a clear HTTP error and writes nothing', async () => {
    behaviour = { status: 404 };
    const destination = join(dir, 'model.gguf');
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: sha }), 'http');
    assert.equal(err.status, 404);
    assert.match(
      err.message,
      /^HTTP 404 Not Found for model\.gguf from http:\/\/127\.0\.0\.1:\d+\/hf\/org\/repo\/resolve\/main\/model\.gguf: the file does not exist/,
    );
    assert.equal(existsSync(destination), false);
    assert.equal(existsSync(`${destination}.part`), false);
  });

  test('a transient 503 is retried; a lasting one ends with the status in the error', async () => {
    behaviour = { status: 503, failTimes: 1 };
    const destination = join(dir, 'model.gguf');
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retryDelayMs: 0 });
    assert.equal(result.sha256, sha);
    assert.deepEqual(
      log.filter((l) => l.path.startsWith('/hf/')).map((l) => l.status),
      [503, 302],
    );

    behaviour = { status: 503 };
    log = [];
    const err = await expectDownloadError(
      downloadVerified({
        url: urlFor('other.gguf'),
        destination: join(dir, 'other.gguf'),
        expectedSha256: sha,
        retries: 2,
        retryDelayMs: 0,
      }),
      'http',
    );
    assert.equal(err.status, 503);
    assert.match(err.message, /HTTP 503 Service Unavailable for other\.gguf .*: the server failed, try again later/);
    assert.equal(log.length, 3, 'first try + 2 retries');
  });

  test('no hash anywhere: refused before any byte is fetched', async () => {
    behaviour = { linkedEtag: false };
    const destination = join(dir, 'model.gguf');
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: null }), 'no-checksum');
    assert.match(err.message, /refusing to download model\.gguf: no SHA-256 is known/);
    assert.equal(existsSync(destination), false);
    assert.equal(existsSync(`${destination}.part`), false);
  });

  test('catalog hash and X-Linked-ETag disagree: refused before download', async () => {
    behaviour = { linkedEtagValue: `"${'b'.repeat(64)}"` };
    const err = await expectDownloadError(
      downloadVerified({ url: urlFor(), destination: join(dir, 'model.gguf'), expectedSha256: sha }),
      'mismatch',
    );
    assert.match(err.message, /catalog expects [0-9a-f]{64} but the server reports b{64}/);
  });

  test('cancellation through AbortSignal keeps the .part, and a later call completes it', async () => {
    behaviour = { stallAt: 700_000 };
    const destination = join(dir, 'model.gguf');
    const controller = new AbortController();
    const err = await expectDownloadError(
      downloadVerified({
        url: urlFor(),
        destination,
        expectedSha256: sha,
        progressIntervalMs: 0,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.receivedBytes >= 700_000) controller.abort();
        },
      }),
      'cancelled',
    );
    assert.match(err.message, /cancelled/);
    assert.equal(existsSync(destination), false);
    // Writes still buffered when the stream is torn down may be dropped: the .part is a prefix of what arrived.
    const partSize = (await stat(`${destination}.part`)).size;
    assert.ok(partSize > 0 && partSize <= 700_000, `part has ${partSize} bytes`);

    behaviour = {};
    log = [];
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha });
    assert.equal(fileRequests()[0]!.range, `bytes=${partSize}-`);
    assert.equal(result.sha256, sha);
  });

  test('a server that goes quiet mid-body: the attempt is abandoned with a clear error, the .part kept', async () => {
    behaviour = { stallAt: 300_000 };
    const destination = join(dir, 'model.gguf');
    const t0 = Date.now();
    const err = await expectDownloadError(
      downloadVerified({ url: urlFor(), destination, expectedSha256: sha, retries: 0, stallTimeoutMs: 300 }),
      'network',
    );
    assert.match(err.message, /the server sent nothing for 0\.3 s\); the partial file is kept/);
    assert.ok(Date.now() - t0 < 5000);
    assert.ok((await stat(`${destination}.part`)).size > 0);
  });

  test('a file bigger than the free disk space is refused before writing, naming the sizes', async () => {
    behaviour = { claimLength: 1e15 };
    const destination = join(dir, 'model.gguf');
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: sha }), 'disk');
    assert.match(err.message, /not enough disk space for model\.gguf in .+: 909\.5 TiB needed, [\d.]+ [KMGT]?i?B free/);
    assert.equal(existsSync(`${destination}.part`), false);
  });

  test('a lock held by a live process refuses a second writer; a stale lock is taken over', async () => {
    const destination = join(dir, 'model.gguf');
    await writeFile(`${destination}.lock`, String(process.pid));
    const err = await expectDownloadError(downloadVerified({ url: urlFor(), destination, expectedSha256: sha }), 'locked');
    assert.match(err.message, /model\.gguf is already being downloaded by this process; wait for it to finish/);
    assert.equal(fileRequests().length, 0);

    // The pid of a process that has exited.
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => child.once('exit', r));
    await writeFile(`${destination}.lock`, String(child.pid));
    const result = await downloadVerified({ url: urlFor(), destination, expectedSha256: sha });
    assert.equal(result.sha256, sha);
    assert.equal(existsSync(`${destination}.lock`), false, 'the lock is released');
  });

  test('a destination that cannot be written gives a disk error naming the path', async () => {
    const blocker = join(dir, 'not-a-dir');
    await writeFile(blocker, 'x');
    const err = await expectDownloadError(
      downloadVerified({ url: urlFor(), destination: join(blocker, 'model.gguf'), expectedSha256: sha }),
      'disk',
    );
    assert.ok(err.message.includes(blocker), err.message);
  });

  test('an unreachable server gives a network error after the retries', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const err = await expectDownloadError(
      downloadVerified({
        url: `http://127.0.0.1:${port}/x/resolve/main/m.gguf`,
        destination: join(dir, 'm.gguf'),
        expectedSha256: sha,
        retries: 1,
        retryDelayMs: 0,
      }),
      'network',
    );
    assert.match(err.message, /cannot reach http:\/\/127\.0\.0\.1:\d+\/x\/resolve\/main\/m\.gguf/);
    assert.match(err.message, /ECONNREFUSED/);
  });
});

describe('ModelService against a real HTTP server', () => {
  const entry = (over: Partial<CatalogEntry> = {}): CatalogEntry => ({
    id: 'test-model',
    model: 'test-model',
    modelLabel: 'Test model',
    label: 'Test model',
    family: 'qwen2.5-coder',
    paramsB: 0.1,
    quant: 'F16',
    repo: 'org/repo',
    file: 'test-model.gguf',
    revision: 'main',
    sizeBytes: SIZE,
    sha256: sha,
    sha256Source: 'test',
    kvBytesPerToken: 1,
    ...over,
  });
  const cpuOnly = async () => ({ gpus: [], totalRamBytes: 16 * 2 ** 30, freeRamBytes: 8 * 2 ** 30 });

  test('listModels → download via PRONTO_MODEL_MIRROR with progress notifications → installed', async () => {
    const service = new ModelService({
      storageDir: dir,
      env: { PRONTO_MODEL_MIRROR: base },
      catalog: [entry()],
      probe: cpuOnly,
      downloadOptions: { progressIntervalMs: 0 },
    });
    const before = await service.listModels();
    assert.equal(before.models.length, 1);
    assert.equal(before.models[0]!.installed, false);
    assert.equal(before.models[0]!.recommended, true);
    assert.equal(before.hardware, 'CPU only, 16.0 GiB RAM');
    assert.equal(before.suggestion, 'the fastest on the CPU (no NVIDIA GPU found)');

    const notes: DownloadProgressParams[] = [];
    const { path } = await service.download('test-model', (p) => notes.push(p));
    assert.equal(path, join(dir, 'models', 'test-model.gguf'));
    assert.ok((await readFile(path)).equals(body));
    assert.equal(log.find((l) => l.path.startsWith('/hf/'))?.path, '/hf/org/repo/resolve/main/test-model.gguf');
    assert.ok(notes.every((n) => n.id === 'test-model'));
    assert.ok(notes.some((n) => n.state === 'downloading'));
    assert.ok(notes.some((n) => n.state === 'verifying'));
    assert.equal(notes.at(-1)!.state, 'done');
    assert.equal(notes.at(-1)!.receivedBytes, SIZE);

    assert.equal((await service.listModels()).models[0]!.installed, true);
    assert.equal(await service.installedPath('test-model'), path);
    log = [];
    assert.equal((await service.download('test-model')).path, path);
    assert.equal(log.length, 0, 'an installed model is not fetched again');
  });

  test('two downloads of the same model at once share one transfer', async () => {
    const service = new ModelService({
      storageDir: dir,
      mirror: base,
      env: {},
      catalog: [entry()],
      probe: cpuOnly,
      downloadOptions: { progressIntervalMs: 0 },
    });
    const a: DownloadProgressParams[] = [];
    const b: DownloadProgressParams[] = [];
    const [ra, rb] = await Promise.all([
      service.download('test-model', (p) => a.push(p)),
      service.download('test-model', (p) => b.push(p)),
    ]);
    assert.equal(ra.path, rb.path);
    assert.equal(fileRequests().length, 1, 'one transfer');
    assert.equal(a.at(-1)!.state, 'done');
    assert.equal(b.at(-1)!.state, 'done');
  });

  test('a failed download is reported as a failed notification and the model stays uninstalled', async () => {
    behaviour = { corrupt: true };
    const service = new ModelService({ storageDir: dir, mirror: base, env: {}, catalog: [entry()], probe: cpuOnly });
    const notes: DownloadProgressParams[] = [];
    await assert.rejects(
      service.download('test-model', (p) => notes.push(p)),
      /SHA-256 mismatch/,
    );
    assert.equal(notes.at(-1)!.state, 'failed');
    assert.match(notes.at(-1)!.message ?? '', /SHA-256 mismatch for test-model\.gguf/);
    assert.equal((await service.listModels()).models[0]!.installed, false);
  });

  test('cancelled download is reported as cancelled', async () => {
    behaviour = { stallAt: 100_000 };
    const service = new ModelService({
      storageDir: dir,
      mirror: base,
      env: {},
      catalog: [entry()],
      probe: cpuOnly,
      downloadOptions: { progressIntervalMs: 0 },
    });
    const controller = new AbortController();
    const notes: DownloadProgressParams[] = [];
    await assert.rejects(
      service.download(
        'test-model',
        (p) => {
          notes.push(p);
          if (p.receivedBytes >= 100_000) controller.abort();
        },
        controller.signal,
      ),
      (err: unknown) => err instanceof DownloadError && err.code === 'cancelled',
    );
    assert.equal(notes.at(-1)!.state, 'cancelled');
  });

  test('a file placed under the model name without a verification record is not "installed"', async () => {
    const service = new ModelService({ storageDir: dir, mirror: base, env: {}, catalog: [entry()], probe: cpuOnly });
    await service.download('test-model');
    await rm(join(dir, 'models', 'test-model.gguf.verified.json'));
    assert.equal(await service.installedPath('test-model'), undefined);
  });

  test('unknown ids and bad mirror settings give errors naming the problem', async () => {
    const service = new ModelService({ storageDir: dir, mirror: 'not a url', env: {}, catalog: [entry()], probe: cpuOnly });
    await assert.rejects(service.download('nope'), /unknown model id "nope"; the catalog has: test-model/);
    await assert.rejects(service.download('test-model'), /setting pronto\.model\.mirror is not a valid URL/);
  });
});
