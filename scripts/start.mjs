#!/usr/bin/env node
// `npm start`: installs what is missing, builds, and runs VS Code (code-server) in the foreground
// with the Pronto extension installed, on samples/workspace/. Prints the URL to open. Ctrl+C stops
// it (code-server, its extension host, the Pronto server and engine, as one process group).
//
//   npm start -- [--port N] [--host ADDR] [--model FILE.gguf] [--workspace DIR] [--no-install] [--state-dir DIR]
//   (--port 0 picks a free port; --state-dir defaults to .cache/start)
//
// State that should survive restarts (user settings, downloaded models in the extension's global
// storage) lives in .cache/start/. The engine is the one built in native/ (PRONTO_ENGINE_PATH is set
// for the server), unless PRONTO_ENGINE_PATH or the pronto.engine.path setting says otherwise.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { codeServerArgs, codeServerEnv, ensureE2E, missingE2E, e2ePaths } from './install-e2e.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (m) => process.stderr.write(`[start] ${m}\n`);

const USAGE = 'usage: npm start -- [--port N] [--host ADDR] [--model FILE.gguf] [--workspace DIR] [--no-install] [--state-dir DIR]';

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        model: { type: 'string' },
        workspace: { type: 'string' },
        'no-install': { type: 'boolean' },
        'state-dir': { type: 'string' },
      },
    }));
  } catch (err) {
    fail(`${err.message}\n${USAGE}`);
  }
  const opts = {
    port: Number(values.port ?? process.env.PORT ?? 8080),
    host: values.host ?? '127.0.0.1',
    model: values.model !== undefined ? resolve(values.model) : undefined,
    workspace: values.workspace !== undefined ? resolve(values.workspace) : join(root, 'samples', 'workspace'),
    install: !values['no-install'],
    stateDir: values['state-dir'] !== undefined ? resolve(values['state-dir']) : join(root, '.cache', 'start'),
  };
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535)
    fail(`--port must be an integer 0-65535, got ${values.port ?? process.env.PORT}`);
  if (opts.model && !existsSync(opts.model)) fail(`--model: no such file ${opts.model}`);
  if (!existsSync(opts.workspace)) fail(`--workspace: no such folder ${opts.workspace}`);
  return opts;
}

function fail(msg) {
  log(`error: ${msg}`);
  process.exit(2);
}

function run(cmd, args) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

const opts = parseOptions(process.argv.slice(2));

// 1. What VS Code needs.
if (opts.install) ensureE2E();
else if (missingE2E().length) fail(`missing: ${missingE2E().join('; ')} (run without --no-install)`);
const paths = e2ePaths();

// 2. Build the extension and server (fast), and the engine when it is not built yet.
run('npm', ['run', '-s', 'build']);
const engine = process.env.PRONTO_ENGINE_PATH ?? join(root, 'native', 'build', 'pronto-engine');
if (!existsSync(engine)) run('npm', ['run', '-s', 'build:native']);

// 3. A persistent profile with the extension installed (a fresh copy of the build each start).
const state = opts.stateDir;
const dirs = {
  home: join(state, 'home'),
  tmp: join(state, 'tmp'),
  userData: join(state, 'user-data'),
  extensions: join(state, 'extensions'),
};
for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const extDir = join(dirs.extensions, `${pkg.publisher}.${pkg.name}-${pkg.version}`);
rmSync(extDir, { recursive: true, force: true });
mkdirSync(extDir, { recursive: true });
for (const entry of ['package.json', 'dist', 'extension/walkthrough', 'extension/README.md', 'media']) {
  if (existsSync(join(root, entry))) cpSync(join(root, entry), join(extDir, entry), { recursive: true });
}

// The demo model's tokenizer, where the server looks for it (dist/vocab/), as in the .vsix.
const demoVocab = join(root, 'native', '.deps', 'llama.cpp', 'models', 'ggml-vocab-deepseek-coder.gguf');
if (existsSync(demoVocab)) {
  mkdirSync(join(extDir, 'dist', 'vocab'), { recursive: true });
  cpSync(demoVocab, join(extDir, 'dist', 'vocab', 'ggml-vocab-deepseek-coder.gguf'));
}

const settingsFile = join(dirs.userData, 'User', 'settings.json');
let settings = {};
if (existsSync(settingsFile)) {
  try {
    settings = JSON.parse(readFileSync(settingsFile, 'utf8'));
  } catch {
    log(`${settingsFile} is not plain JSON (comments?); leaving it as it is`);
    settings = undefined;
  }
} else {
  settings = { 'workbench.startupEditor': 'none', 'chat.disableAIFeatures': true, 'editor.inlineSuggest.enabled': true };
}
if (settings) {
  if (opts.model) settings['pronto.model.path'] = opts.model;
  mkdirSync(dirname(settingsFile), { recursive: true });
  writeFileSync(settingsFile, JSON.stringify(settings, null, 2) + '\n');
}

// 4. code-server in the foreground, in its own process group.
const env = codeServerEnv(dirs.home, dirs.tmp, { PRONTO_ENGINE_PATH: engine });
const args = codeServerArgs(paths, {
  bind: `${opts.host}:${opts.port}`,
  userData: dirs.userData,
  extensions: dirs.extensions,
  workspace: opts.workspace,
});
if (opts.host !== '127.0.0.1' && opts.host !== 'localhost') {
  log(`warning: --auth none on ${opts.host}: anyone who can reach this address gets a VS Code with a terminal on this machine`);
}
const child = spawn(paths.node24, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
let printed = false;
const onOutput = (chunk) => {
  const text = chunk.toString('utf8');
  process.stderr.write(text);
  const m = !printed && text.match(/HTTP server listening on (http:\/\/[^\s/]+)\//);
  if (m) {
    printed = true;
    const url = `${m[1]}/?folder=${encodeURIComponent(opts.workspace)}`;
    process.stdout.write(
      `\nPronto is running in VS Code at:\n\n    ${url}\n\nOpen it in a browser. The Pronto item in the status bar shows the engine state. Ctrl+C stops everything.\n\n`,
    );
  }
};
child.stdout.on('data', onOutput);
child.stderr.on('data', onOutput);

let stopping = false;
const stop = (signal) => {
  if (stopping) return;
  stopping = true;
  log(`stopping (${signal})`);
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  setTimeout(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, 5000).unref();
};
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
child.on('exit', (code, signal) => {
  // Take the rest of the group (extension host, server, engine) down too.
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  if (!stopping) log(`code-server exited (${signal ?? `code ${code}`})`);
  process.exit(stopping ? 0 : (code ?? 1));
});
