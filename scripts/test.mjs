// The project's one test command (`npm test`): installs what is missing, builds, then runs
// type-check, unit, integration (real engine, real LSP) and end-to-end (real VS Code in Chromium)
// suites with Node's test runner, and ends with one plain line: `N passed, N failed[, N skipped]`.
//
//   npm test                 everything
//   npm test -- unit e2e     only the named phases (lint, typecheck, unit, integration, e2e)
//   npm test -- --no-setup   skip the install/build step (you built already)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const allPhases = ['lint', 'typecheck', 'unit', 'integration', 'e2e'];
let parsed;
try {
  parsed = parseArgs({ args: process.argv.slice(2), strict: true, allowPositionals: true, options: { 'no-setup': { type: 'boolean' } } });
} catch (err) {
  console.error(`${err.message}\nusage: npm test -- [--no-setup] [${allPhases.join('|')} ...]`);
  process.exit(2);
}
const phases = parsed.positionals;
const noSetup = parsed.values['no-setup'] === true;
for (const p of phases) {
  if (!allPhases.includes(p)) {
    console.error(`unknown test phase "${p}"; phases are: ${allPhases.join(', ')}`);
    process.exit(2);
  }
}
const selected = phases.length ? phases : allPhases;
const outDir = join(root, 'test-output');
mkdirSync(outDir, { recursive: true });

function run(cmd, cmdArgs, opts = {}) {
  console.log(`\n$ ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', ...opts });
  return r.status ?? 1;
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];

function setupStep(name, cmd, cmdArgs) {
  const t0 = Date.now();
  const code = run(cmd, cmdArgs);
  console.log(`[test] setup ${name}: ${code === 0 ? 'ok' : `FAILED (exit ${code})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return code === 0;
}

if (!noSetup) {
  // Each step is idempotent and cached; a failure here fails the run (nothing would be meaningful).
  const steps = [
    ['build', 'node', ['esbuild.mjs']],
    ['native', 'node', ['scripts/build-native.mjs']],
    // The demo model that ships in dist/ (needs the llama.cpp vocab the native step fetched).
    ['demo model', 'node', ['--import', 'tsx', 'scripts/build-demo-model.ts']],
  ];
  if ((selected.includes('integration') || selected.includes('e2e')) && existsSync(join(root, 'scripts/install-deploy.mjs'))) {
    steps.push(['deploy pieces (HAProxy)', 'node', ['scripts/install-deploy.mjs']]);
  }
  if (selected.includes('e2e') && existsSync(join(root, 'scripts/install-e2e.mjs'))) {
    steps.push(['e2e pieces', 'node', ['scripts/install-e2e.mjs']]);
  }
  if (selected.includes('integration')) steps.push(['monitoring pieces (Prometheus)', 'node', ['scripts/install-monitoring.mjs']]);
  for (const [name, cmd, cmdArgs] of steps) {
    if (!setupStep(name, cmd, cmdArgs)) {
      totals.failed += 1;
      failures.push(`setup: ${name}`);
      finish();
    }
  }
}

function testFiles(dir) {
  const abs = join(root, 'test', dir);
  if (!existsSync(abs)) return [];
  return readdirSync(abs, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join('test', dir, f));
}

/** Runs one suite with the spec reporter on the console and TAP into a file we count from. */
function runSuite(name, { concurrency }) {
  const files = testFiles(name);
  if (files.length === 0) {
    console.log(`[test] ${name}: no test files`);
    return;
  }
  const tapFile = join(outDir, `${name}.tap`);
  rmSync(tapFile, { force: true });
  const code = run(process.execPath, [
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files,
  ]);
  const tap = existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '';
  const count = (key) => Number(tap.match(new RegExp(`^# ${key} (\\d+)$`, 'm'))?.[1] ?? 0);
  const passed = count('pass');
  const failed = count('fail') + count('cancelled');
  const skipped = count('skipped') + count('todo');
  totals.passed += passed;
  totals.failed += failed;
  totals.skipped += skipped;
  if (failed > 0) failures.push(`${name}: ${failed} failed`);
  if (code !== 0 && failed === 0) {
    // The runner itself failed (a file that does not load, a crash): that is a failure too.
    totals.failed += 1;
    failures.push(`${name}: test runner exited ${code}`);
  }
  console.log(`[test] ${name}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
}

for (const phase of selected) {
  if (phase === 'lint') {
    // Biome (lint + format of TS/JS/JSON) and clang-format (native/): one check each.
    const code = run(process.execPath, [join(root, 'scripts/lint.mjs')]);
    if (code === 0) totals.passed += 1;
    else {
      totals.failed += 1;
      failures.push('lint (npm run format fixes formatting)');
    }
  } else if (phase === 'typecheck') {
    const code = run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', '.']);
    if (code === 0) totals.passed += 1;
    else {
      totals.failed += 1;
      failures.push('typecheck');
    }
  } else {
    // Integration and e2e suites start real engines and browsers: one file at a time on 2 cores.
    runSuite(phase, { concurrency: phase === 'unit' ? 2 : 1 });
  }
}
finish();

function finish() {
  if (failures.length) console.log(`\nFailures: ${failures.join('; ')}`);
  console.log(`\n${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
  process.exit(totals.failed > 0 ? 1 : 0);
}
