#!/usr/bin/env node
// A fault injected in front of a real engine, for the deploy tests: it takes pronto-engine's flags,
// starts the real engine (FAULT_REAL_ENGINE) on a port of its own, and serves an HTTP proxy on the
// port it was asked for, printing the engine's ready line with the proxy's port. /health and
// /metrics pass through untouched; of the POSTs to /v1/..., the first FAULT_PASS_FIRST pass (the
// smoke test) and then every FAULT_FAIL_EVERY-th answers 503 without reaching the engine. So the
// engine's own counters stay clean, and only what clients see through the real path (HAProxy →
// this proxy → engine) shows the fault. SIGTERM stops both.
import { spawn } from 'node:child_process';
import * as http from 'node:http';

const real = process.env.FAULT_REAL_ENGINE;
if (!real) {
  process.stderr.write('fault-engine: set FAULT_REAL_ENGINE to the real pronto-engine\n');
  process.exit(2);
}
const args = process.argv.slice(2);
if (args.includes('--version')) {
  const v = spawn(real, ['--version'], { stdio: 'inherit' });
  v.on('exit', (code) => process.exit(code ?? 1));
} else {
  const passFirst = Number(process.env.FAULT_PASS_FIRST ?? 2);
  const failEvery = Number(process.env.FAULT_FAIL_EVERY ?? 2);
  const portIndex = args.indexOf('--port');
  const wanted = portIndex >= 0 ? Number(args[portIndex + 1]) : 0;
  const engineArgs = [...args];
  if (portIndex >= 0) engineArgs[portIndex + 1] = '0';
  const engine = spawn(real, engineArgs, { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => {
    engine.kill('SIGTERM');
    setTimeout(() => process.exit(0), 3500).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  engine.on('exit', (code) => process.exit(code ?? 1));
  let buffered = '';
  engine.stdout.on('data', (d) => {
    buffered += d.toString();
    const nl = buffered.indexOf('\n');
    if (nl < 0) return;
    const ready = JSON.parse(buffered.slice(0, nl));
    buffered = '';
    engine.stdout.removeAllListeners('data');
    engine.stdout.resume();
    let posts = 0;
    const server = http.createServer((req, res) => {
      if (req.method === 'POST' && req.url?.startsWith('/v1/')) {
        posts++;
        if (posts > passFirst && (posts - passFirst) % failEvery === 0) {
          req.resume();
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end('{"error":{"code":"injected","message":"fault injected by the test"}}');
          return;
        }
      }
      const upstream = http.request(
        { host: '127.0.0.1', port: ready.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      req.pipe(upstream);
    });
    server.listen(wanted, '127.0.0.1', () => {
      process.stdout.write(`${JSON.stringify({ ...ready, port: server.address().port })}\n`);
    });
  });
}
