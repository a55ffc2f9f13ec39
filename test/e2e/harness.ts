/**
 * Real VS Code for end-to-end tests: code-server (VS Code 1.139's server and web workbench, run by
 * Node 24 from .cache/e2e) driven through Debian's Chromium with playwright-core. Facts behind the
 * choices: /work/shared/notes/vscode-e2e.md.
 *
 * Each test gets a throwaway root under test-output/e2e/<name>/ (HOME, XDG dirs, TMPDIR, the user
 * data and extensions dirs, a workspace) so nothing leaks between runs or into the user's setup.
 * code-server runs in its own process group and is killed as a group; Chromium is closed by
 * playwright and, should that fail, killed by pid. Every wait is for a real signal (a log line, a
 * DOM element, a reported exit code) with a deadline, never a fixed sleep.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { findEngineBinary } from '../../server/src/engine/process';
import { codeServerArgs, codeServerEnv, e2ePaths, missingE2E, type E2EPaths } from '../../scripts/install-e2e.mjs';

export const repoRoot = resolve(__dirname, '..', '..');
export const outputRoot = join(repoRoot, 'test-output', 'e2e');
export const extensionId = (() => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { publisher: string; name: string; version: string };
  return { id: `${pkg.publisher}.${pkg.name}`, folder: `${pkg.publisher}.${pkg.name}-${pkg.version}` };
})();

/** Fails with a message saying how to fix it when the e2e pieces are not installed. */
export function requireE2EInstalled(): E2EPaths {
  const missing = missingE2E();
  if (missing.length) {
    throw new Error(`e2e prerequisites missing (${missing.join('; ')}). Run: node scripts/install-e2e.mjs`);
  }
  return e2ePaths();
}

/** Resolves when `predicate` holds for a line of `stream`, rejects at the deadline or on exit. */
function waitForLine(
  child: ChildProcess,
  predicate: (line: string) => RegExpMatchArray | null,
  timeoutMs: number,
  what: string,
  output: () => string,
): Promise<RegExpMatchArray> {
  return new Promise((resolvePromise, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const m = predicate(line);
        if (m) {
          cleanup();
          resolvePromise(m);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanup();
      reject(new Error(`${what}: process exited (code ${code}, signal ${signal}) before it was ready. Output:\n${output()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what}: not ready within ${timeoutMs} ms. Output:\n${output()}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

export interface CodeServerOptions {
  /** Folder name under test-output/e2e/. Wiped at start. */
  name: string;
  /** User settings (settings.json). */
  settings: Record<string, unknown>;
  /** Files to create in the workspace, path -> content. */
  files?: Record<string, string>;
  /**
   * Install the built extension: 'vsix' packs it with scripts/package.mjs (without the engine) and
   * installs it with `code-server --install-extension`, as a user would; 'copy' copies the folder.
   */
  installExtension?: 'vsix' | 'copy';
  /** Extra code-server flags, e.g. ['--vscode-option', 'enable-smoke-test-driver']... */
  extraArgs?: string[];
}

export interface CodeServer {
  root: string;
  workspace: string;
  port: number;
  url: string;
  /** Everything code-server wrote to stdout/stderr so far. */
  output(): string;
  stop(): Promise<void>;
}

/** The files a .vsix of the extension would contain, copied to the extensions dir. */
export function installExtensionCopy(extensionsDir: string): string {
  const target = join(extensionsDir, extensionId.folder);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { recursive: true });
  for (const entry of ['package.json', 'dist', 'media', 'extension/walkthrough', 'extension/marketplace', 'LICENSE']) {
    const from = join(repoRoot, entry);
    if (existsSync(from)) cpSync(from, join(target, entry), { recursive: true });
  }
  cpSync(join(repoRoot, 'extension', 'marketplace', 'README.md'), join(target, 'README.md'));
  if (!existsSync(join(target, 'dist', 'extension.js'))) {
    throw new Error('dist/extension.js is missing: run `npm run build` before the e2e tests');
  }
  return target;
}

/** Packs a .vsix (no build, no engine: tests point pronto.engine.path at the build) and installs it. */
function installExtensionVsix(paths: E2EPaths, env: NodeJS.ProcessEnv, root: string, dirs: { userData: string; extensions: string }): void {
  if (!existsSync(join(repoRoot, 'dist', 'extension.js'))) {
    throw new Error('dist/extension.js is missing: run `npm run build` before the e2e tests');
  }
  const vsix = join(root, `${extensionId.folder}.vsix`);
  const pack = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'package.mjs'), '--no-build', '--no-engine', '--out', vsix], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  if (pack.status !== 0 || !existsSync(vsix))
    throw new Error(`packing the .vsix failed (exit ${pack.status}):\n${pack.stdout}\n${pack.stderr}`);
  const install = spawnSync(
    paths.node24,
    [paths.codeServerEntry, '--user-data-dir', dirs.userData, '--extensions-dir', dirs.extensions, '--install-extension', vsix],
    { env, encoding: 'utf8', timeout: 60_000 },
  );
  const out = `${install.stdout}\n${install.stderr}`;
  if (install.status !== 0 || !/successfully installed/.test(out))
    throw new Error(`code-server --install-extension failed (exit ${install.status}):\n${out}`);
  if (!existsSync(join(dirs.extensions, extensionId.folder, 'dist', 'extension.js'))) {
    throw new Error(`the installed extension has no dist/extension.js in ${join(dirs.extensions, extensionId.folder)}`);
  }
}

export async function startCodeServer(opts: CodeServerOptions): Promise<CodeServer> {
  const paths = requireE2EInstalled();
  const root = join(outputRoot, opts.name);
  rmSync(root, { recursive: true, force: true });
  const dirs = {
    home: join(root, 'home'),
    tmp: join(root, 'tmp'),
    userData: join(root, 'user-data'),
    extensions: join(root, 'extensions'),
    workspace: join(root, 'workspace'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), JSON.stringify(opts.settings, null, 2));
  for (const [rel, content] of Object.entries(opts.files ?? {})) {
    const file = join(dirs.workspace, rel);
    mkdirSync(resolve(file, '..'), { recursive: true });
    writeFileSync(file, content);
  }
  if (opts.installExtension === 'copy') installExtensionCopy(dirs.extensions);

  const env = codeServerEnv(dirs.home, dirs.tmp);
  if (opts.installExtension === 'vsix') installExtensionVsix(paths, env, root, dirs);
  const args = codeServerArgs(paths, {
    bind: '127.0.0.1:0',
    userData: dirs.userData,
    extensions: dirs.extensions,
    workspace: dirs.workspace,
    extraArgs: ['--reconnection-grace-time', '5', ...(opts.extraArgs ?? [])],
  });
  const child = spawn(paths.node24, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const logFile = join(root, 'code-server.log');
  const append = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    log += text;
    appendFileSync(logFile, text);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    // Children that left the group (the extension host's own children) go with the group kill.
    killGroup(child, 'SIGKILL');
  };
  try {
    const m = await waitForLine(
      child,
      (l) => l.match(/HTTP server listening on http:\/\/127\.0\.0\.1:(\d+)\//),
      60_000,
      'code-server',
      () => log,
    );
    const port = Number(m[1]);
    return { root, workspace: dirs.workspace, port, url: `http://127.0.0.1:${port}/`, output: () => log, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  close(): Promise<void>;
}

export async function launchBrowser(screenshotsDir: string): Promise<BrowserSession> {
  const paths = requireE2EInstalled();
  mkdirSync(screenshotsDir, { recursive: true });
  const browser = await chromium.launch({
    executablePath: paths.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const close = async () => {
    await browser.close().catch(() => undefined);
  };
  return { browser, context, page, close };
}

/** Saves a screenshot under test-output/e2e/<dir>/<name>.png; never throws (a diagnostic only). */
export async function screenshot(page: Page, dir: string, name: string): Promise<string | undefined> {
  const file = join(dir, `${name}.png`);
  try {
    await page.screenshot({ path: file });
    return file;
  } catch {
    return undefined;
  }
}

/** Absolute path of the engine, found as the sidecar finds it ($PRONTO_ENGINE_PATH, else native/build); undefined when there is none. */
export async function enginePath(): Promise<string | undefined> {
  const found = await findEngineBinary('', process.env, [repoRoot]);
  return found.ok ? found.path : undefined;
}

/**
 * The workbench URL for `server`'s workspace. `extensionLogLevel` raises the level of the Pronto
 * output channel (and so of its log file), e.g. 'debug' to see accepts, 'trace' to see each LSP
 * message when pronto.trace.server is on.
 */
export function workbenchUrl(server: CodeServer, options: { extensionLogLevel?: 'trace' | 'debug'; folder?: string } = {}): string {
  const folder = `?folder=${encodeURIComponent(options.folder ?? server.workspace)}`;
  if (!options.extensionLogLevel) return `${server.url}${folder}`;
  const payload = JSON.stringify([['logLevel', `${extensionId.id}:${options.extensionLogLevel}`]]);
  return `${server.url}${folder}&payload=${encodeURIComponent(payload)}`;
}
