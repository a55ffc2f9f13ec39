// Lint and format checks: Biome (TypeScript/JavaScript/JSON: lint + format) and clang-format (native/).
//
//   node scripts/lint.mjs          check only (what `npm test` runs); exits non-zero on any finding
//   node scripts/lint.mjs --fix    rewrite files: Biome's safe fixes + formatting, clang-format -i
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fix = parseArgs({ args: process.argv.slice(2), strict: true, options: { fix: { type: 'boolean' } } }).values.fix === true;
const biome = join(root, 'node_modules/@biomejs/biome/bin/biome');

function nativeSources() {
  const out = [];
  for (const dir of ['native/src', 'native/tests']) {
    for (const f of readdirSync(join(root, dir), { recursive: true }).map(String)) {
      if (/\.(cpp|h|hpp|cc)$/.test(f)) out.push(join(dir, f));
    }
  }
  return out.sort();
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error && r.error.code === 'ENOENT') return 'missing';
  return r.status ?? 1;
}

let failed = 0;
const b = run(process.execPath, [biome, fix ? 'check' : 'ci', '--colors=off', ...(fix ? ['--write'] : []), '--error-on-warnings', '.']);
if (b !== 0) {
  failed++;
  console.error(`[lint] biome: ${fix ? 'could not fix everything' : 'findings above'} (fix with: npm run format)`);
}
const cf = run('clang-format', fix ? ['-i', ...nativeSources()] : ['--dry-run', '--Werror', ...nativeSources()]);
if (cf === 'missing') {
  failed++;
  console.error('[lint] clang-format is not installed: apt-get install -y clang-format (.ci/run installs it)');
} else if (cf !== 0) {
  failed++;
  console.error('[lint] clang-format: native/ is not formatted (fix with: npm run format)');
}
process.exit(failed ? 1 : 0);
