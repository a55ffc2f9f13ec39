// Prepares llama.cpp at the pinned release (native/llama-pin.json) into native/.deps/, offline but for
// the npm registry: `npm pack` of the pinned packages, integrity-checked, unpacked; the source comes
// out of node-llama-cpp's git bundle. Idempotent: a finished step leaves a stamp and is skipped.
//
//   node scripts/prepare-llama.mjs [--prebuilt linux-x64-cuda|linux-x64]   (default linux-x64-cuda)
//
// Prints a JSON line { sourceDir, prebuiltDir } on the last line of stdout.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pin = JSON.parse(readFileSync(join(root, 'native/llama-pin.json'), 'utf8'));
const deps = join(root, 'native/.deps');
const log = (msg) => console.error(`[prepare-llama] ${msg}`);

const { values: options } = parseArgs({ args: process.argv.slice(2), strict: true, options: { prebuilt: { type: 'string' } } });

/** npm pack + integrity check + unpack into deps/<key>; returns the unpacked package dir. */
function fetchPackage(key) {
  const entry = pin.packages[key];
  if (!entry) throw new Error(`unknown package key ${key}`);
  const dir = join(deps, key);
  const stamp = join(dir, '.stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === entry.integrity) return join(dir, 'package');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`npm pack ${entry.spec}`);
  execFileSync('npm', ['pack', entry.spec, '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tgz) throw new Error(`npm pack ${entry.spec} produced no tarball`);
  const [algo, want] = entry.integrity.split('-', 2);
  const got = createHash(algo)
    .update(readFileSync(join(dir, tgz)))
    .digest('base64');
  if (got !== want) throw new Error(`integrity mismatch for ${entry.spec}: expected ${entry.integrity}, got ${algo}-${got}`);
  execFileSync('tar', ['xzf', tgz], { cwd: dir });
  rmSync(join(dir, tgz));
  writeFileSync(stamp, entry.integrity);
  return join(dir, 'package');
}

function prepareSource() {
  const pkg = fetchPackage('source');
  const src = join(deps, 'llama.cpp');
  const stamp = join(src, '.pronto-stamp');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === pin.packages.source.integrity) return src;
  rmSync(src, { recursive: true, force: true });
  log(`git clone ${pin.llamaRelease} from the bundle`);
  execFileSync('git', ['clone', '-q', '--no-hardlinks', join(pkg, 'llama/gitRelease.bundle'), src], { stdio: 'inherit' });
  writeFileSync(stamp, pin.packages.source.integrity);
  return src;
}

const prebuiltKey = options.prebuilt ?? 'linux-x64-cuda';
const sourceDir = prepareSource();
const prebuiltDir = prebuiltKey === 'none' ? null : join(fetchPackage(prebuiltKey), 'bins', prebuiltKey);
console.log(JSON.stringify({ sourceDir, prebuiltDir, prebuiltKey }));
