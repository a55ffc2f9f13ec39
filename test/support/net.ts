// Network helpers for the engine's network tests: a raw HTTP/1.1 exchange over a plain socket (to send
// what fetch will not: a forged Host, a Content-Length with no body, a trickle), /metrics readings,
// and waiting for a metric to reach a value (the real signal, with a generous guard against hangs).
import * as net from 'node:net';
import WebSocket from 'ws';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses one HTTP/1.1 response (Content-Length or chunked) from the start of `data`; undefined if incomplete. */
export function parseResponse(data: string): RawResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = data.slice(0, headEnd).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = data.slice(headEnd + 4);
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (Buffer.byteLength(rest) < n) return undefined;
    return { status, headers, body: rest.slice(0, n) };
  }
  if (headers['transfer-encoding'] === 'chunked') {
    let body = '';
    let pos = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', pos);
      if (nl < 0) return undefined;
      const size = Number.parseInt(rest.slice(pos, nl), 16);
      if (size === 0) return { status, headers, body };
      if (rest.length < nl + 2 + size + 2) return undefined;
      body += rest.slice(nl + 2, nl + 2 + size);
      pos = nl + 2 + size + 2;
    }
  }
  if (status === 204 || status === 304) return { status, headers, body: '' };
  return undefined;
}

/** Sends raw request bytes and resolves with the first response (or rejects when the socket ends without one). */
export function rawHttp(port: number, request: string | Buffer, opts: { keepOpen?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    sock.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      const r = parseResponse(data);
      if (r && !done) {
        done = true;
        if (!opts.keepOpen) sock.destroy();
        resolve(r);
      }
    });
    sock.on('error', (e) => {
      if (!done) reject(e);
    });
    sock.on('close', () => {
      if (!done) reject(new Error(`connection closed without a complete response; got: ${data.slice(0, 300)}`));
    });
    sock.write(request);
  });
}

/** A GET request with the given headers (Host defaults to 127.0.0.1:port). */
export function get(port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  const h = { Host: `127.0.0.1:${port}`, Connection: 'close', ...headers };
  const lines = Object.entries(h).map(([k, v]) => `${k}: ${v}`);
  return rawHttp(port, `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`);
}

export async function metricsText(url: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${url}/metrics`, { headers });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}

/** The value of one series, e.g. metric(text, 'pronto_connections_open{kind="websocket"}'). NaN when absent. */
export function metric(text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return Number.NaN;
}

/**
 * Reads /metrics until `predicate(value)` holds for `series`; the deadline only guards against a hang
 * (the test waits for the engine's own count, not for a time).
 */
export async function waitForMetric(
  url: string,
  series: string,
  predicate: (v: number) => boolean,
  opts: { guardMs?: number; headers?: Record<string, string> } = {},
): Promise<number> {
  const deadline = Date.now() + (opts.guardMs ?? 60_000);
  let last = Number.NaN;
  let lastError = '';
  while (Date.now() < deadline) {
    try {
      last = metric(await metricsText(url, opts.headers), series);
      if (predicate(last)) return last;
    } catch (err) {
      lastError = ` (last read failed: ${(err as Error).message})`; // e.g. 503 while at the connection limit
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${series} stayed at ${last}${lastError}`);
}

/** Opens a WebSocket to /v1/stream; resolves with the socket, or rejects with the HTTP status of a refusal. */
export function openSocket(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url.replace(/^http/, 'ws') + '/v1/stream', options);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () =>
        reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode} ${body}`), { status: res.statusCode, body })),
      );
    });
    ws.once('error', reject);
  });
}
