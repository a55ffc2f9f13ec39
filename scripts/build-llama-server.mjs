#!/usr/bin/env node
// Builds llama.cpp's llama-server (CPU, Release) from the pinned source in native/.deps/llama.cpp
// into native/.deps/llama-server-build. It is the peer the engine benchmark compares against.
// Incremental: re-running only rebuilds what changed. Prints the binary path on success.
// PRONTO_LLAMA_SERVER_BUILD=dir builds elsewhere (e.g. when native/.deps is a shared read-only cache).
//   node scripts/build-llama-server.mjs [--print-path]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'native/.deps/llama.cpp');
const build = process.env.PRONTO_LLAMA_SERVER_BUILD
  ? resolve(process.env.PRONTO_LLAMA_SERVER_BUILD)
  : join(root, 'native/.deps/llama-server-build');
const bin = join(build, 'bin/llama-server');

const { values: options } = parseArgs({ args: process.argv.slice(2), strict: true, options: { 'print-path': { type: 'boolean' } } });
if (options['print-path']) {
  if (!existsSync(bin)) {
    console.error(`llama-server not built yet: run node scripts/build-llama-server.mjs (expected ${bin})`);
    process.exit(1);
  }
  console.log(bin);
  process.exit(0);
}
if (!existsSync(join(src, 'CMakeLists.txt'))) {
  console.error(`llama.cpp source missing at ${src}: run node scripts/prepare-llama.mjs first`);
  process.exit(1);
}

function run(cmd, args) {
  console.error(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.error) {
    console.error(`cannot run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`${cmd} failed with exit code ${r.status}`);
    process.exit(r.status ?? 1);
  }
}

if (!existsSync(join(build, 'build.ninja'))) {
  run('cmake', [
    '-S',
    src,
    '-B',
    build,
    '-G',
    'Ninja',
    '-DCMAKE_BUILD_TYPE=Release',
    '-DLLAMA_OPENSSL=OFF',
    '-DLLAMA_BUILD_TESTS=OFF',
    '-DLLAMA_BUILD_EXAMPLES=OFF',
    '-DLLAMA_USE_PREBUILT_UI=OFF',
    '-DLLAMA_BUILD_UI=OFF',
    '-DBUILD_SHARED_LIBS=OFF',
  ]);
}
run('cmake', ['--build', build, '--target', 'llama-server', '-j', '2']);
console.log(bin);
