// Builds native/ (pronto-engine) into native/build/: prepares llama.cpp (scripts/prepare-llama.mjs, idempotent),
// installs the Boost headers (Beast + Asio, Debian's libboost1.74-dev) when they are missing, then
// cmake -G Ninja + ninja -j2 (incremental). Extra arguments go to cmake, e.g.
//   node scripts/build-native.mjs -DPRONTO_LLAMA_FROM_SOURCE=ON
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const buildDir = join(root, 'native/build');
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const log = (msg) => console.error(`[build-native] ${msg}`);

execFileSync(process.execPath, [join(root, 'scripts/prepare-llama.mjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
ensureBoostHeaders();

const extra = process.argv.slice(2);
const configureArgs = ['-S', join(root, 'native'), '-B', buildDir, '-G', 'Ninja', `-DPRONTO_VERSION=${version}`, ...extra];
if (!existsSync(join(buildDir, 'build.ninja')) || extra.length > 0) {
  log(`cmake ${configureArgs.join(' ')}`);
  execFileSync('cmake', configureArgs, { stdio: 'inherit' });
}
execFileSync('ninja', ['-C', buildDir, '-j2'], { stdio: 'inherit' });
log(`built ${join(buildDir, 'pronto-engine')}`);

// The engine's HTTP/WebSocket server is Boost.Beast on Boost.Asio: headers only, nothing linked at run
// time. On Debian/Ubuntu they come from libboost1.74-dev (apt-get update runs only when it is missing);
// elsewhere, install Boost >= 1.74 and point CMake at it (-DBoost_ROOT=...).
function ensureBoostHeaders() {
  const pkg = 'libboost1.74-dev';
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
  const q = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  if (q.error) {
    if (!existsSync('/usr/include/boost/beast.hpp')) log('no dpkg here: install Boost >= 1.74 (Beast, Asio) yourself');
    return;
  }
  if (q.status === 0 && q.stdout.includes('install ok installed')) return;
  if (existsSync('/usr/include/boost/beast.hpp')) return; // another Boost package provides the headers
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', '--no-install-recommends', pkg],
  ]) {
    const cmd = [...sudo, ...args];
    log(cmd.join(' '));
    const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
    if (r.status !== 0) {
      log(`could not install ${pkg} (exit ${r.status ?? r.error?.message}): install it, then run the build again`);
      process.exit(1);
    }
  }
}
