#!/usr/bin/env node
// `npm run package`: production build, then `vsce package` (offline) -> pronto-<version>.vsix in the
// repository root.
//
// The .vsix is packed from a staging folder (.cache/package/stage) holding exactly what runs:
//   package.json (without scripts and devDependencies), README.md (extension/marketplace/README.md,
//   the user-facing one), extension/marketplace/icon.png,
//   dist/ (extension.js, server.js, webviews; everything is bundled, so no node_modules),
//   dist/models/pronto-demo.gguf (the demo model, made by `npm run build:demo-model`; used only when
//   pronto.model.demo is on),
//   extension/walkthrough/ (walkthrough pages), media/ (static webview assets, if any),
//   native/build/pronto-engine and the llama.cpp/ggml shared libraries it loads, when the engine is
//   built. The server finds the engine as <extension>/native/build/pronto-engine (it searches the
//   ancestors of dist/), and the engine loads its ggml backends from its own folder when
//   libggml-cpu-x64.so sits next to it. Without a built engine the .vsix still installs; the user
//   then sets pronto.engine.path (or PRONTO_ENGINE_PATH) or pronto.engine.url.
//
// Flags: --no-build (package what is in dist/ as is), --no-engine (leave the engine out),
// --out FILE.vsix (default: <repo>/<name>-<version>.vsix).
import { spawnSync, execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = 'usage: node scripts/package.mjs [--no-build] [--no-engine] [--out FILE.vsix]';
let options;
try {
  options = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { out: { type: 'string' }, 'no-build': { type: 'boolean' }, 'no-engine': { type: 'boolean' } },
  }).values;
} catch (err) {
  console.error(`${err.message}\n${USAGE}`);
  process.exit(2);
}
const outArg = options.out !== undefined ? resolve(options.out) : undefined;
const args = new Set([...(options['no-build'] ? ['--no-build'] : []), ...(options['no-engine'] ? ['--no-engine'] : [])]);
const log = (m) => process.stderr.write(`[package] ${m}\n`);

function run(cmd, argv, opts = {}) {
  log(`$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    log(`failed: ${cmd} ${argv.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

if (!args.has('--no-build')) run('npm', ['run', '-s', 'build:production']);
if (!existsSync(join(root, 'dist', 'extension.js')) || !existsSync(join(root, 'dist', 'server.js'))) {
  log('dist/extension.js or dist/server.js is missing: run npm run build');
  process.exit(1);
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const out = outArg ?? join(root, `${pkg.name}-${pkg.version}.vsix`);
// One stage per output file, so a test packing its own .vsix never races `npm run package`.
const stage = join(root, '.cache', 'package', `stage-${basename(out, '.vsix')}`);
rmSync(stage, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });

// package.json: what VS Code reads. No scripts (vsce would run vscode:prepublish), no dependencies
// (everything is bundled into dist/).
const { scripts: _s, devDependencies: _d, dependencies: _deps, private: _p, bin: _b, ...manifest } = pkg;
writeFileSync(join(stage, 'package.json'), JSON.stringify(manifest, null, 2) + '\n');

// The Extensions view shows README.md from the extension's root: the user-facing one, not the
// contributors' extension/README.md. The icon stays where package.json's "icon" points.
copyFileSync(join(root, 'extension', 'marketplace', 'README.md'), join(stage, 'README.md'));
mkdirSync(join(stage, 'extension', 'marketplace'), { recursive: true });
copyFileSync(join(root, 'extension', 'marketplace', 'icon.png'), join(stage, 'extension', 'marketplace', 'icon.png'));
for (const f of ['LICENSE', 'LICENSE.md', 'CHANGELOG.md']) if (existsSync(join(root, f))) copyFileSync(join(root, f), join(stage, f));
if (!args.has('--no-build')) run('npm', ['run', '-s', 'build:demo-model']);
cpSync(join(root, 'dist'), join(stage, 'dist'), {
  recursive: true,
  filter: (src) => !src.endsWith('.map') && !src.endsWith('.source'),
});
// The demo model (server/src/models/demoModel.ts looks in dist/models/).
if (!existsSync(join(stage, 'dist', 'models', 'pronto-demo.gguf'))) {
  log('warning: dist/models/pronto-demo.gguf is missing (npm run build:demo-model); "Try the demo model" will say so');
}
if (existsSync(join(root, 'extension', 'walkthrough')))
  cpSync(join(root, 'extension', 'walkthrough'), join(stage, 'extension', 'walkthrough'), { recursive: true });
if (existsSync(join(root, 'media'))) {
  cpSync(join(root, 'media'), join(stage, 'media'), {
    recursive: true,
    filter: (src) => statSync(src).isDirectory() || !/\.(ts|tsx|md)$/.test(src),
  });
}

// The engine and the shared libraries it needs, found with ldd, plus the ggml backends that are
// loaded at run time from the same folder (CPU variants, CUDA).
const engine = join(root, 'native', 'build', 'pronto-engine');
let engineNote = 'not included (not built: npm run build:native)';
if (args.has('--no-engine')) engineNote = 'left out (--no-engine)';
else if (existsSync(engine)) {
  const target = join(stage, 'native', 'build');
  mkdirSync(target, { recursive: true });
  copyFileSync(engine, join(target, 'pronto-engine'));
  chmodSync(join(target, 'pronto-engine'), 0o755);
  const ldd = execFileSync('ldd', [engine], { encoding: 'utf8' });
  const libDirs = new Set();
  for (const line of ldd.split('\n')) {
    const m = line.match(/=>\s+(\/\S+)/);
    if (!m) continue;
    const lib = m[1];
    // Only the project's own libraries (llama.cpp/ggml under native/); system ones stay system.
    if (!lib.startsWith(join(root, 'native'))) continue;
    libDirs.add(dirname(lib));
  }
  if (ldd.includes('not found')) {
    log(
      `warning: ldd reports missing libraries for ${engine}:\n${ldd
        .split('\n')
        .filter((l) => l.includes('not found'))
        .join('\n')}`,
    );
  }
  let copied = 0;
  for (const dir of libDirs) {
    for (const f of readdirSync(dir)) {
      if (!/\.so(\.\d+)*$/.test(f)) continue;
      copyFileSync(join(dir, f), join(target, f));
      copied++;
    }
  }
  engineNote = `included (${copied} shared libraries from ${[...libDirs].map((d) => d.replace(root + '/', '')).join(', ') || 'none'})`;
}

// The stage holds only what ships; this just tells vsce so.
writeFileSync(join(stage, '.vscodeignore'), '**/*.map\n.vscodeignore\n');

mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
const vsce = join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
run(
  process.execPath,
  [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license', '--no-update-package-json', '--out', out],
  { cwd: stage },
);
if (!existsSync(out)) {
  log(`vsce finished but ${out} is missing`);
  process.exit(1);
}
log(`engine: ${engineNote}`);
log(`wrote ${basename(out)} (${(statSync(out).size / 1e6).toFixed(1)} MB)`);
console.log(out);
