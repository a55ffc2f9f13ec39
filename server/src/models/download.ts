/**
 * Downloads one model file and refuses to hand it over before its SHA-256 is verified.
 *
 * The bytes go to `<destination>.part`; an interrupted transfer (lost connection, cancellation,
 * a crash) leaves that file, and the next attempt asks for the rest with an HTTP `Range` request
 * (`If-Range` with the ETag of the first response, so a changed remote file restarts from zero).
 * The expected hash comes from the catalog and/or the `X-Linked-ETag` header Hugging Face puts on
 * the redirect of its LFS files (the file's SHA-256); when both are present they must agree, when
 * neither is, the download is refused before any byte is fetched. After the last byte the whole
 * `.part` on disk is hashed; only a match renames it to `<destination>` (atomic, same directory),
 * a mismatch deletes it. So `<destination>` only ever holds verified content.
 *
 * Transient failures (lost connection, a server that goes quiet for `stallTimeoutMs`, HTTP 5xx/429)
 * are retried, resuming where the bytes stopped. `<destination>.lock` (holding the writer's pid)
 * keeps two processes (two editor windows) from writing the same `.part`.
 *
 * Errors are `DownloadError`s whose `code` says what failed (http, network, disk, mismatch,
 * no-checksum, cancelled, locked, bad-response) and whose message names the file, URL or status.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { isSha256Hex } from './catalog';

export type DownloadErrorCode = 'http' | 'network' | 'disk' | 'mismatch' | 'no-checksum' | 'cancelled' | 'locked' | 'bad-response';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly code: DownloadErrorCode,
    message: string,
    /** HTTP status, for code `http`. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface DownloadProgress {
  receivedBytes: number;
  /** 0 while unknown. */
  totalBytes: number;
  phase: 'downloading' | 'verifying';
}

export interface DownloadOptions {
  url: string;
  /** Final path of the verified file. `<destination>.part` holds the bytes until then. */
  destination: string;
  /** Expected SHA-256 (hex) from the catalog, or null/undefined when unknown. */
  expectedSha256?: string | null;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Attempts after a failure that brought no new bytes (an attempt that made progress is free). Default 3. */
  retries?: number;
  /** Pause before a retry, times the failure count. Default 1000 ms. */
  retryDelayMs?: number;
  /** Minimum time between two progress reports (the first and last are always sent). Default 200 ms. */
  progressIntervalMs?: number;
  /** An attempt that receives nothing for this long is abandoned (and resumed, within `retries`). Default 60 s. */
  stallTimeoutMs?: number;
  /** Extra request headers (e.g. `Authorization: Bearer <hf token>`); dropped on a redirect to another host. */
  headers?: Record<string, string>;
  fetchImpl?: typeof fetch;
}

export interface DownloadResult {
  path: string;
  sha256: string;
  sizeBytes: number;
  /** Byte offset the last successful request started from (0 = no resume). */
  resumedFrom: number;
  /** Where the expected hash came from. */
  checksumSource: 'catalog' | 'x-linked-etag' | 'catalog+x-linked-etag';
}

/** What is kept next to the `.part` so a resume talks about the same remote file. */
interface PartMeta {
  url: string;
  sha256: string;
  etag?: string;
}

const MAX_REDIRECTS = 10;

/**
 * The SHA-256 in an `X-Linked-ETag` (or ETag) header value, or undefined when the value is not one:
 * Hugging Face sends `"<64 hex>"` for LFS files; git blobs have 40-hex SHA-1 ETags, which are ignored.
 */
export function sha256FromEtag(value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const v = value.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toLowerCase();
  return isSha256Hex(v) ? v : undefined;
}

/** Parses Content-Range: "bytes 100-199/1000" gives start 100, end 199, total 1000; "bytes (star)/1000" gives total only. */
export function parseContentRange(value: string | null | undefined): { start?: number; end?: number; total?: number } | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const num = (s: string | undefined) => (s === undefined || s === '*' ? undefined : Number(s));
  return { start: num(m[1]), end: num(m[2]), total: num(m[3]) };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(1)} ${units[i]}`;
}

function abortError(file: string): DownloadError {
  return new DownloadError('cancelled', `download of ${file} was cancelled; the partial file is kept to resume later`);
}

function describeCause(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const inner = cause instanceof Error ? `: ${(cause as NodeJS.ErrnoException).code ?? ''} ${cause.message}`.trimEnd() : '';
  return `${err.message}${inner}`;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

async function readMeta(path: string): Promise<PartMeta | undefined> {
  try {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<PartMeta>;
    if (typeof parsed.url === 'string' && typeof parsed.sha256 === 'string') {
      return { url: parsed.url, sha256: parsed.sha256, etag: typeof parsed.etag === 'string' ? parsed.etag : undefined };
    }
  } catch {
    // missing or damaged: treated as no metadata
  }
  return undefined;
}

function diskError(path: string, err: unknown): DownloadError {
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === 'ENOSPC' ? 'the disk is full' : describeCause(err);
  return new DownloadError('disk', `cannot write ${path}: ${what}`, undefined, { cause: err });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * `<destination>.lock` holds the pid of the process writing the `.part`, so two editor windows
 * never append to the same file. A lock whose process is gone is stale and taken over.
 */
async function acquireLock(lockPath: string, file: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw diskError(lockPath, err);
    }
    const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
      throw new DownloadError(
        'locked',
        `${file} is already being downloaded by ${pid === process.pid ? 'this process' : `another process (pid ${pid})`}; wait for it to finish (lock file ${lockPath})`,
      );
    }
    await rm(lockPath, { force: true });
  }
  throw new DownloadError('locked', `could not take the download lock ${lockPath} for ${file}`);
}

/** Aborts its signal when `kick()` has not been called for `ms`. */
class StallWatchdog {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout;
  fired = false;
  constructor(private readonly ms: number) {
    this.timer = this.arm();
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  private arm(): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.fired = true;
      this.controller.abort(new Error(`no data for ${this.ms} ms`));
    }, this.ms);
    t.unref();
    return t;
  }
  kick(): void {
    clearTimeout(this.timer);
    this.timer = this.arm();
  }
  stop(): void {
    clearTimeout(this.timer);
  }
}

function sinkClosed(sink: import('node:fs').WriteStream): Promise<void> {
  if (sink.closed) return Promise.resolve();
  return new Promise((resolve) => {
    sink.once('close', () => resolve());
  });
}

export async function sha256OfFile(path: string, onBytes?: (hashed: number) => void, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  let hashed = 0;
  const stream = createReadStream(path, { highWaterMark: 1 << 20, signal });
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    hashed += (chunk as Buffer).length;
    onBytes?.(hashed);
  }
  return hash.digest('hex');
}

interface OpenedResponse {
  response: Response;
  finalUrl: string;
  linkedSha256?: string;
  linkedSize?: number;
}

/** GET with redirects followed by hand, so the headers of each hop (X-Linked-ETag) are seen. */
async function openResponse(
  fetchImpl: typeof fetch,
  url: string,
  headers: Record<string, string>,
  extraHeaders: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<OpenedResponse> {
  let current = url;
  let linkedSha256: string | undefined;
  let linkedSize: number | undefined;
  let sendExtra = true;
  const originHost = new URL(url).host;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await fetchImpl(current, {
      method: 'GET',
      headers: { ...headers, ...(sendExtra ? extraHeaders : {}) },
      redirect: 'manual',
      signal,
    });
    linkedSha256 ??= sha256FromEtag(response.headers.get('x-linked-etag'));
    const size = Number(response.headers.get('x-linked-size'));
    if (linkedSize === undefined && Number.isFinite(size) && size > 0) linkedSize = size;
    if (response.status >= 300 && response.status < 400 && response.status !== 304) {
      const location = response.headers.get('location');
      await response.body?.cancel().catch(() => undefined);
      if (!location) {
        throw new DownloadError('bad-response', `HTTP ${response.status} redirect without a Location header from ${current}`);
      }
      current = new URL(location, current).toString();
      // Credentials are for the origin only (Hugging Face's CDN URLs are pre-signed).
      if (new URL(current).host !== originHost) sendExtra = false;
      continue;
    }
    return { response, finalUrl: current, linkedSha256, linkedSize };
  }
  throw new DownloadError('bad-response', `more than ${MAX_REDIRECTS} redirects starting from ${url}`);
}

function httpError(status: number, statusText: string, url: string, file: string): DownloadError {
  let hint = '';
  if (status === 404) hint = ': the file does not exist there (check the model mirror setting and the catalog entry)';
  else if (status === 401 || status === 403) hint = ': access denied (the repository may be gated or need a token)';
  else if (status === 429) hint = ': too many requests, try again later';
  else if (status >= 500) hint = ': the server failed, try again later';
  return new DownloadError('http', `HTTP ${status}${statusText ? ` ${statusText}` : ''} for ${file} from ${url}${hint}`, status);
}

/** Download `url` to `destination`, resuming `<destination>.part`, and verify its SHA-256. */
export async function downloadVerified(options: DownloadOptions): Promise<DownloadResult> {
  const {
    url,
    destination,
    onProgress,
    signal,
    retries = 3,
    retryDelayMs = 1000,
    progressIntervalMs = 200,
    headers: extraHeaders = {},
    fetchImpl = fetch,
    stallTimeoutMs = 60_000,
  } = options;
  const file = basename(destination);
  const partPath = `${destination}.part`;
  const metaPath = `${destination}.part.json`;
  const catalogSha = options.expectedSha256?.toLowerCase() ?? undefined;
  if (catalogSha !== undefined && !isSha256Hex(catalogSha)) {
    throw new DownloadError('no-checksum', `the expected SHA-256 for ${file} is not 64 hex digits: "${options.expectedSha256}"`);
  }
  if (signal?.aborted) throw abortError(file);

  try {
    await mkdir(dirname(destination), { recursive: true });
  } catch (err) {
    throw diskError(dirname(destination), err);
  }

  const releaseLock = await acquireLock(`${destination}.lock`, file);
  try {
    return await downloadLocked();
  } finally {
    await releaseLock();
  }

  async function downloadLocked(): Promise<DownloadResult> {
    let lastReport = 0;
    const report = (p: DownloadProgress, force = false) => {
      const now = Date.now();
      if (!onProgress || (!force && now - lastReport < progressIntervalMs)) return;
      lastReport = now;
      onProgress(p);
    };

    let meta = await readMeta(metaPath);
    if (meta && meta.url !== url) {
      // A .part from another URL (other revision or mirror layout) is not the same file.
      await rm(partPath, { force: true });
      meta = undefined;
    }

    let failures = 0;
    let expected: string | undefined;
    let checksumSource: DownloadResult['checksumSource'] = 'catalog';
    let totalBytes = 0;
    let resumedFrom = 0;

    for (;;) {
      if (signal?.aborted) throw abortError(file);
      let offset = await fileSize(partPath);
      const requestHeaders: Record<string, string> = { 'accept-encoding': 'identity' };
      if (offset > 0) {
        requestHeaders['range'] = `bytes=${offset}-`;
        if (meta?.etag && !meta.etag.startsWith('W/')) requestHeaders['if-range'] = meta.etag;
      }

      // One attempt = one request; it is abandoned when the server goes quiet for stallTimeoutMs.
      const watchdog = new StallWatchdog(stallTimeoutMs);
      const attemptSignal = signal ? AbortSignal.any([signal, watchdog.signal]) : watchdog.signal;
      try {
        let opened: OpenedResponse;
        try {
          opened = await openResponse(fetchImpl, url, requestHeaders, extraHeaders, attemptSignal);
        } catch (err) {
          if (signal?.aborted) throw abortError(file);
          if (err instanceof DownloadError) throw err;
          failures++;
          if (failures > retries) {
            const why = watchdog.fired ? `no answer for ${stallTimeoutMs / 1000} s` : describeCause(err);
            throw new DownloadError('network', `cannot reach ${url} for ${file}: ${why}`, undefined, { cause: err });
          }
          await delay(retryDelayMs * failures, undefined, { signal }).catch(() => undefined);
          continue;
        }
        const { response, linkedSha256, linkedSize } = opened;

        // Which bytes is the server sending?
        if (response.status === 416 && offset > 0) {
          await response.body?.cancel().catch(() => undefined);
          const range = parseContentRange(response.headers.get('content-range'));
          if (range?.total !== undefined && range.total === offset && (catalogSha ?? meta?.sha256 ?? linkedSha256)) {
            // The .part is already complete (e.g. a crash between the last byte and the rename).
            expected = catalogSha ?? linkedSha256 ?? meta?.sha256;
            checksumSource = catalogSha ? (linkedSha256 ? 'catalog+x-linked-etag' : 'catalog') : 'x-linked-etag';
            totalBytes = offset;
            break;
          }
          await rm(partPath, { force: true });
          failures++;
          if (failures > retries)
            throw new DownloadError('bad-response', `the server refused every byte range for ${file} (HTTP 416)`, 416);
          continue;
        }
        if (!response.ok) {
          await response.body?.cancel().catch(() => undefined);
          const transient = response.status >= 500 || response.status === 429;
          if (transient && failures < retries) {
            failures++;
            await delay(retryDelayMs * failures, undefined, { signal }).catch(() => undefined);
            continue;
          }
          throw httpError(response.status, response.statusText, url, file);
        }
        if (!response.body) throw new DownloadError('bad-response', `empty response body for ${file} from ${url}`);

        if (response.status === 206) {
          const range = parseContentRange(response.headers.get('content-range'));
          if (range?.start !== offset) {
            await response.body.cancel().catch(() => undefined);
            throw new DownloadError(
              'bad-response',
              `asked for ${file} from byte ${offset} but the server answered with range "${response.headers.get('content-range') ?? '(none)'}"`,
            );
          }
          totalBytes = range.total ?? linkedSize ?? 0;
        } else {
          // 200: the whole file. If we asked for a range, the server ignored it or the file changed: start over.
          offset = 0;
          const length = Number(response.headers.get('content-length'));
          totalBytes = Number.isFinite(length) && length > 0 ? length : (linkedSize ?? 0);
        }

        // Which hash must the file have?
        if (catalogSha && linkedSha256 && catalogSha !== linkedSha256) {
          await response.body.cancel().catch(() => undefined);
          await rm(partPath, { force: true });
          await rm(metaPath, { force: true });
          throw new DownloadError(
            'mismatch',
            `SHA-256 mismatch for ${file} before download: the catalog expects ${catalogSha} but the server reports ${linkedSha256} (X-Linked-ETag); the remote file changed, the catalog entry needs updating`,
          );
        }
        expected = catalogSha ?? linkedSha256;
        if (!expected) {
          await response.body.cancel().catch(() => undefined);
          throw new DownloadError(
            'no-checksum',
            `refusing to download ${file}: no SHA-256 is known for it (none in the catalog and no X-Linked-ETag header from ${url}), so it could not be verified`,
          );
        }
        checksumSource = catalogSha ? (linkedSha256 ? 'catalog+x-linked-etag' : 'catalog') : 'x-linked-etag';
        if (offset > 0 && meta && meta.sha256 !== expected) {
          // The .part belongs to another version of the file.
          await response.body.cancel().catch(() => undefined);
          await rm(partPath, { force: true });
          meta = undefined;
          continue;
        }

        // Room on the disk for the rest?
        if (totalBytes > 0) {
          try {
            const fsStats = await statfs(dirname(destination));
            const free = Number(fsStats.bavail) * Number(fsStats.bsize);
            const needed = totalBytes - offset;
            if (free < needed) {
              await response.body.cancel().catch(() => undefined);
              throw new DownloadError(
                'disk',
                `not enough disk space for ${file} in ${dirname(destination)}: ${formatBytes(needed)} needed, ${formatBytes(free)} free`,
              );
            }
          } catch (err) {
            if (err instanceof DownloadError) throw err;
            // statfs unsupported: the write itself will report a full disk
          }
        }

        const etag = response.headers.get('etag') ?? undefined;
        meta = { url, sha256: expected, etag };
        try {
          await writeFile(metaPath, JSON.stringify(meta));
          if (offset === 0) await truncate(partPath, 0).catch(() => undefined);
        } catch (err) {
          await response.body.cancel().catch(() => undefined);
          throw diskError(metaPath, err);
        }

        resumedFrom = offset;
        let received = offset;
        report({ receivedBytes: received, totalBytes, phase: 'downloading' }, true);
        const sink = createWriteStream(partPath, { flags: offset > 0 ? 'a' : 'w' });
        let sinkError: unknown;
        let sourceError: unknown;
        sink.on('error', (err) => {
          sinkError = err;
        });
        try {
          await pipeline(
            Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>),
            async function* count(source: AsyncIterable<Buffer>) {
              try {
                for await (const chunk of source) {
                  watchdog.kick();
                  received += chunk.length;
                  report({ receivedBytes: received, totalBytes, phase: 'downloading' });
                  yield chunk;
                }
              } catch (err) {
                sourceError = err;
                throw err;
              }
            },
            sink,
            { signal: attemptSignal },
          );
          await sinkClosed(sink);
        } catch (err) {
          // Let every buffered write land (or fail) before the .part size is read for the next range.
          await sinkClosed(sink);
          if (signal?.aborted) throw abortError(file);
          // The pipeline hands the first error to every stream: the sink's own error counts only if the network did not fail first.
          if (sinkError && sourceError === undefined && typeof (sinkError as NodeJS.ErrnoException).syscall === 'string') {
            throw diskError(partPath, sinkError);
          }
          if (received > offset) failures = 0;
          failures++;
          if (failures > retries) {
            throw new DownloadError(
              'network',
              `connection lost while downloading ${file} after ${formatBytes(received)}${totalBytes ? ` of ${formatBytes(totalBytes)}` : ''} (${watchdog.fired ? `the server sent nothing for ${stallTimeoutMs / 1000} s` : describeCause(err)}); the partial file is kept, download again to resume`,
              undefined,
              { cause: err },
            );
          }
          await delay(retryDelayMs * failures, undefined, { signal }).catch(() => undefined);
          continue;
        }
        if (totalBytes > 0 && received < totalBytes) {
          // The body ended early without an error (no Content-Length on the wire): resume.
          if (received > offset) failures = 0;
          failures++;
          if (failures > retries) {
            throw new DownloadError(
              'network',
              `the server ended ${file} after ${formatBytes(received)} of ${formatBytes(totalBytes)}; the partial file is kept, download again to resume`,
            );
          }
          continue;
        }
        totalBytes = received;
        report({ receivedBytes: received, totalBytes, phase: 'downloading' }, true);
        break;
      } finally {
        watchdog.stop();
      }
    }

    // Verify the bytes on disk, then (and only then) give the file its real name.
    if (!expected) throw new DownloadError('no-checksum', `no SHA-256 known for ${file}`);
    report({ receivedBytes: 0, totalBytes, phase: 'verifying' }, true);
    let actual: string;
    try {
      actual = await sha256OfFile(partPath, (n) => report({ receivedBytes: n, totalBytes, phase: 'verifying' }), signal);
    } catch (err) {
      if (signal?.aborted) throw abortError(file);
      throw diskError(partPath, err);
    }
    if (actual !== expected) {
      await rm(partPath, { force: true });
      await rm(metaPath, { force: true });
      const source = checksumSource === 'x-linked-etag' ? 'the server (X-Linked-ETag)' : 'the catalog';
      throw new DownloadError(
        'mismatch',
        `SHA-256 mismatch for ${file}: expected ${expected} (from ${source}) but the downloaded file has ${actual}; the corrupt file was deleted and not used`,
      );
    }
    const sizeBytes = await fileSize(partPath);
    try {
      await rename(partPath, destination);
    } catch (err) {
      throw diskError(destination, err);
    }
    await rm(metaPath, { force: true });
    report({ receivedBytes: sizeBytes, totalBytes: sizeBytes, phase: 'verifying' }, true);
    return { path: destination, sha256: actual, sizeBytes, resumedFrom, checksumSource };
  }
}
