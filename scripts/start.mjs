#!/usr/bin/env node
// `npm start`: installs what is missing, builds, and runs VS Code (code-server) in the foreground
// with the Pronto extension installed, on a scratch copy of samples/workspace/ (so trying
// completions never edits the tracked samples). Prints the URL to open. Ctrl+C stops it
// (code-server, its extension host, the Pronto server and engine, as one process group).
//
// State that should survive restarts (user settings, the scratch workspace, downloaded models in the
// extension's global storage) lives in .cache/start/. The engine is the one built in native/
// (PRONTO_ENGINE_PATH is set for the server), unless PRONTO_ENGINE_PATH or the pronto.engine.path
// setting says otherwise. Without --model, the demo model runs (pronto.model.demo in the profile's
// settings): its suggestions are meaningless, and the status bar says so.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseCommandLine } from 'node:util';
import { codeServerArgs, codeServerEnv, ensureE2E, missingE2E, e2ePaths } from './install-e2e.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (m) => process.stderr.write(`[start] ${m}\n`);

const USAGE = `usage: npm start -- [options]        (or: node scripts/start.mjs [options])

Builds Pronto and runs it in VS Code (code-server) in your browser; prints the URL.

options:
  --port N            port to listen on (default $PORT or 8080; 0 picks a free one)
  --host ADDR         address to bind (default 127.0.0.1; anything else exposes a VS Code with a terminal)
  --model FILE.gguf   use this model instead of the demo model
  --workspace DIR     open DIR itself (default: a scratch copy of samples/workspace in <state-dir>/workspace)
  --fresh-workspace   replace the scratch copy with a new copy of samples/workspace
  --state-dir DIR     profile, scratch workspace and downloads (default .cache/start)
  --no-install        do not install missing pieces (fail instead)
  -h, --help          show this help`;

function parseArgs(argv) {
  let parsed;
  try {
    parsed = parseCommandLine({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        host: { type: 'string', default: '127.0.0.1' },
        model: { type: 'string' },
        workspace: { type: 'string' },
        'fresh-workspace': { type: 'boolean', default: false },
        'state-dir': { type: 'string' },
        'no-install': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    fail(`${err.message}\n\n${USAGE}`);
  }
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const stateDir = resolve(parsed['state-dir'] ?? join(root, '.cache', 'start'));
  const opts = {
    port: Number(parsed.port ?? process.env.PORT ?? 8080),
    host: parsed.host,
    model: parsed.model ? resolve(parsed.model) : undefined,
    workspace: parsed.workspace ? resolve(parsed.workspace) : undefined,
    freshWorkspace: parsed['fresh-workspace'],
    install: !parsed['no-install'],
    stateDir,
  };
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) fail(`--port must be an integer 0-65535, got ${parsed.port}`);
  if (opts.model && !existsSync(opts.model)) fail(`--model: no such file ${opts.model}`);
  if (opts.workspace && !existsSync(opts.workspace)) fail(`--workspace: no such folder ${opts.workspace}`);
  if (opts.workspace && opts.freshWorkspace) fail('--fresh-workspace applies to the scratch copy, not to --workspace');
  return opts;
}

/**
 * The folder VS Code opens: --workspace as given, else <state-dir>/workspace, a copy of
 * samples/workspace made on the first start (and by --fresh-workspace). Edits stay in the copy.
 */
function prepareWorkspace(opts) {
  if (opts.workspace) return opts.workspace;
  const scratch = join(opts.stateDir, 'workspace');
  if (opts.freshWorkspace) rmSync(scratch, { recursive: true, force: true });
  if (!existsSync(scratch)) {
    cpSync(join(root, 'samples', 'workspace'), scratch, { recursive: true });
    log(`copied samples/workspace to ${scratch} (your edits stay there; --fresh-workspace starts over)`);
  }
  return scratch;
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

const opts = parseArgs(process.argv.slice(2));
const workspace = prepareWorkspace(opts);

// 1. What VS Code needs.
if (opts.install) ensureE2E();
else if (missingE2E().length) fail(`missing: ${missingE2E().join('; ')} (run without --no-install)`);
const paths = e2ePaths();

// 2. Build the extension and server (fast), and the engine when it is not built yet.
run('npm', ['run', '-s', 'build']);
const engine = process.env.PRONTO_ENGINE_PATH ?? join(root, 'native', 'build', 'pronto-engine');
if (!existsSync(engine)) run('npm', ['run', '-s', 'build:native']);
run('npm', ['run', '-s', 'build:demo-model']);

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
for (const entry of ['package.json', 'dist', 'extension/walkthrough', 'extension/marketplace', 'media']) {
  if (existsSync(join(root, entry))) cpSync(join(root, entry), join(extDir, entry), { recursive: true });
}
// The Extensions view reads README.md from the extension's root (as in the .vsix).
cpSync(join(root, 'extension', 'marketplace', 'README.md'), join(extDir, 'README.md'));

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
  settings = {
    // Pronto opens its own walkthrough on the first run; VS Code's Welcome page would compete with it.
    'workbench.startupEditor': 'none',
    // The secondary side bar (chat) would squeeze the walkthrough's details out of view.
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'editor.inlineSuggest.enabled': true,
    // The scratch workspace sits inside this repository (.cache/): do not offer to open the repository.
    'git.openRepositoryInParentFolders': 'never',
  };
}
if (settings) {
  if (opts.model) settings['pronto.model.path'] = opts.model;
  // The demo model, unless the profile already says otherwise (a model chosen in the UI, or off).
  if (!('pronto.model.demo' in settings)) settings['pronto.model.demo'] = true;
  mkdirSync(dirname(settingsFile), { recursive: true });
  writeFileSync(settingsFile, JSON.stringify(settings, null, 2) + '\n');
}

// 4. code-server in the foreground, in its own process group.
const env = codeServerEnv(dirs.home, dirs.tmp, { PRONTO_ENGINE_PATH: engine });
const args = codeServerArgs(paths, {
  bind: `${opts.host}:${opts.port}`,
  userData: dirs.userData,
  extensions: dirs.extensions,
  workspace,
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
    const url = `${m[1]}/?folder=${encodeURIComponent(workspace)}`;
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
