#!/usr/bin/env node
// Installs what the local deploy platform needs: Debian's `haproxy` (the two "services" of a
// blue-green deployment on one machine, switched through its runtime API). Idempotent: nothing
// happens when it is present. Run by `npm test` (integration, e2e, bench) and `npm run setup:deploy`.
//
// Usage: node scripts/install-deploy.mjs [--check]   (--check: exit 1 and say what is missing)
import { spawnSync } from 'node:child_process';

const PACKAGES = ['haproxy'];

function missing() {
  return PACKAGES.filter((p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function run(cmd, args) {
  console.log(`[install-deploy] $ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.error) throw new Error(`${cmd} could not be started: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
}

const need = missing();
if (process.argv.includes('--check')) {
  if (need.length) {
    console.log(`[install-deploy] missing Debian package(s): ${need.join(', ')}`);
    process.exit(1);
  }
  process.exit(0);
}
if (!need.length) {
  console.log(`[install-deploy] Debian packages present: ${PACKAGES.join(', ')}`);
} else {
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const [c0, ...r0] = [...sudo, 'apt-get', 'update'];
  run(c0, r0);
  const [c1, ...r1] = [...sudo, 'apt-get', 'install', '-y', '--no-install-recommends', ...need];
  run(c1, r1);
}
