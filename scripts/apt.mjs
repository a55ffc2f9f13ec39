// Debian packages the project's own setup installs when missing (CI starts from a clean machine).
// Shared by scripts/install-e2e.mjs (Chromium, code-server's build needs) and
// scripts/install-monitoring.mjs (Prometheus for the monitoring tests).
import { spawnSync } from 'node:child_process';

/** The packages of `packages` that are not installed. */
export function aptMissing(packages) {
  return packages.filter((p) => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

/** `apt-get update` then `apt-get install` of the missing ones (with sudo when not root); throws on failure. */
export function aptInstall(packages, log = (msg) => process.stderr.write(`${msg}\n`)) {
  const missing = aptMissing(packages);
  if (!missing.length) {
    log(`Debian packages present: ${packages.join(', ')}`);
    return;
  }
  const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['apt-get', 'update'],
    ['apt-get', 'install', '-y', '--no-install-recommends', ...missing],
  ]) {
    const [cmd, ...rest] = [...sudo, ...args];
    log(`$ ${cmd} ${rest.join(' ')}`);
    const r = spawnSync(cmd, rest, { stdio: 'inherit', env });
    if (r.error) throw new Error(`${cmd} could not be started: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${rest.join(' ')} failed with exit code ${r.status}`);
  }
}
