/**
 * HAProxy for the local platform (Debian's `haproxy`, 2.6): the two "services" are two frontends,
 * `active` and `preview`, each with one backend; every engine process is a server in both backends,
 * added and switched at run time through the runtime API (the admin socket), never by a reload.
 *
 * Switching works as Argo Rollouts switches a Service selector, but per connection: the new colour's
 * servers go from `drain` (health-checked, weight 0) to `ready`, then the old colour's to `drain`.
 * A drained server gets no new requests, while requests already on it (a streaming chat) finish
 * there. Scaling a colour down puts its servers in `maint`, waits until they hold no session, then
 * deletes them and stops the engines.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';

export const BACKENDS = { active: 'be_active', preview: 'be_preview' } as const;

export interface HaproxyPaths {
  config: string;
  socket: string;
  pidFile: string;
}

/** The static part of the config; servers are added through the runtime API. */
export function haproxyConfig(opts: { host: string; activePort: number; previewPort: number; socket: string }): string {
  return `# Written by Pronto's local deploy platform; servers are managed at run time through the admin socket.
global
  stats socket ${opts.socket} mode 600 level admin
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  option redispatch
  retries 3
  timeout connect 2s
  timeout client 1h
  timeout server 1h
  timeout tunnel 1h
  timeout http-request 30s
  timeout queue 30s
  default-server inter 1s fastinter 250ms downinter 500ms rise 1 fall 2

frontend active
  bind ${opts.host}:${opts.activePort}
  default_backend ${BACKENDS.active}

frontend preview
  bind ${opts.host}:${opts.previewPort}
  default_backend ${BACKENDS.preview}

backend ${BACKENDS.active}
  balance leastconn
  option httpchk GET /health
  http-check expect status 200

backend ${BACKENDS.preview}
  balance leastconn
  option httpchk GET /health
  http-check expect status 200
`;
}

/** One command on the admin socket; resolves with HAProxy's reply. */
export function runtimeCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`HAProxy did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d) => (out += d.toString()));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('end', () => {
      clearTimeout(timer);
      resolve(out);
    });
    s.write(`${command}\n`);
  });
}

export type ServerAdmin = 'ready' | 'drain' | 'maint';

export interface ServerStat {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, "no check", … */
  status: string;
  /** Current sessions. */
  scur: number;
  /** Requests answered 5xx, and total sessions (counters). */
  hrsp5xx: number;
  stot: number;
  addr: string;
}

/** Parses `show stat` CSV (servers only). */
export function parseShowStat(csv: string): ServerStat[] {
  const lines = csv.split('\n').filter((l) => l.trim());
  const header = lines.shift()?.replace(/^# /, '').split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const out: ServerStat[] = [];
  for (const line of lines) {
    const f = line.split(',');
    const server = f[col('svname')] ?? '';
    if (server === 'FRONTEND' || server === 'BACKEND') continue;
    out.push({
      backend: f[col('pxname')] ?? '',
      server,
      status: f[col('status')] ?? '',
      scur: Number(f[col('scur')] ?? 0),
      hrsp5xx: Number(f[col('hrsp_5xx')] ?? 0),
      stot: Number(f[col('stot')] ?? 0),
      addr: f[col('addr')] ?? '',
    });
  }
  return out;
}

/** HAProxy's ALERT lines without their prefix (the NOTICE lines only repeat the version). */
function alerts(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.includes('[ALERT]'));
  return (lines.length ? lines : stderr.split('\n'))
    .map((l) => l.replace(/^\[ALERT\]\s*\(\d+\)\s*:\s*/, '').trim())
    .filter(Boolean)
    .join('; ');
}

export class Haproxy {
  constructor(
    readonly binary: string,
    readonly paths: HaproxyPaths,
  ) {}

  async command(cmd: string): Promise<string> {
    const reply = await runtimeCommand(this.paths.socket, cmd);
    // Success is an empty reply or an informational line; errors start with these words.
    if (/^(No such|Unknown|Require|Invalid|'[^']*' only|Server still|Can't|Not found|unknown)/m.test(reply.trim())) {
      throw new Error(`HAProxy refused "${cmd}": ${reply.trim()}`);
    }
    return reply;
  }

  async alive(): Promise<boolean> {
    if (!existsSync(this.paths.socket)) return false;
    try {
      await runtimeCommand(this.paths.socket, 'show info', 2000);
      return true;
    } catch {
      return false;
    }
  }

  /** Starts HAProxy as a daemon with the written config; resolves once its socket answers. */
  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.binary, ['-f', this.paths.config, '-D', '-p', this.paths.pidFile], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', (e) =>
        reject(
          (e as NodeJS.ErrnoException).code === 'ENOENT'
            ? new Error(
                `HAProxy is not installed (${this.binary}): run "apt-get install -y haproxy" (Debian's package), or npm run setup:deploy`,
              )
            : e,
        ),
      );
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`HAProxy did not start (exit ${code}): ${alerts(err)}`))));
    });
    for (let i = 0; i < 100; i++) {
      if (await this.alive()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`HAProxy started but its admin socket ${this.paths.socket} does not answer`);
  }

  async stats(): Promise<ServerStat[]> {
    return parseShowStat(await this.command('show stat'));
  }

  /** Adds a server to a backend in the given state (idempotent: an existing one is only set). */
  async addServer(backend: string, server: string, addr: string, admin: ServerAdmin): Promise<void> {
    const existing = (await this.stats()).find((s) => s.backend === backend && s.server === server);
    if (existing && existing.addr !== addr) {
      await this.command(`set server ${backend}/${server} addr ${addr.split(':')[0]} port ${addr.split(':')[1]}`);
    }
    if (!existing) {
      await this.command(`add server ${backend}/${server} ${addr} check`);
      await this.command(`enable health ${backend}/${server}`);
    }
    await this.setState(backend, server, admin);
  }

  async setState(backend: string, server: string, admin: ServerAdmin): Promise<void> {
    await this.command(`set server ${backend}/${server} state ${admin}`);
  }

  /** Removes a server once it holds no session (it must be in maint); waits at most `timeoutMs`. */
  async removeServer(backend: string, server: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = (await this.stats()).find((x) => x.backend === backend && x.server === server);
      if (!s) return;
      if (s.status !== 'MAINT') await this.setState(backend, server, 'maint');
      if (s.scur === 0 || Date.now() > deadline) {
        // Past the deadline (a WebSocket that never closes), cut what is left: its client reconnects.
        if (s.scur > 0) await this.command(`shutdown sessions server ${backend}/${server}`);
        try {
          await this.command(`del server ${backend}/${server}`);
          return;
        } catch (err) {
          if (Date.now() > deadline + 5000) throw err;
        }
      }
      if (signal?.aborted) throw signal.reason;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
