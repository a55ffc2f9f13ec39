// Builds native/ (pronto-engine) into native/build/: prepares llama.cpp (scripts/prepare-llama.mjs, idempotent),
// then cmake -G Ninja + ninja -j2 (incremental). Extra arguments go to cmake, e.g.
//   node scripts/build-native.mjs -DPRONTO_LLAMA_FROM_SOURCE=ON
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'native/build');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const log = (msg) => console.error(`[build-native] ${msg}`);

execFileSync(process.execPath, [join(root, 'scripts/prepare-llama.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });

const extra = process.argv.slice(2);
const configureArgs = ['-S', join(root, 'native'), '-B', buildDir, '-G', 'Ninja', `-DPRONTO_VERSION=${version}`, ...extra];
if (!existsSync(join(buildDir, 'build.ninja')) || extra.length > 0) {
  log(`cmake ${configureArgs.join(' ')}`);
  execFileSync('cmake', configureArgs, { stdio: 'inherit' });
}
execFileSync('ninja', ['-C', buildDir, '-j2'], { stdio: 'inherit' });
log(`built ${join(buildDir, 'pronto-engine')}`);
