#!/usr/bin/env node
// Installs what the monitoring tests need: Debian's `prometheus` package (prometheus + promtool),
// which test/integration/monitor-prometheus.test.ts runs against a real engine and which checks the
// shipped deploy/monitoring/ files. Idempotent (nothing happens when it is there); about 2 minutes
// and 100 MB the first time. No service is started: the tests run Prometheus themselves.
//
// Usage: node scripts/install-monitoring.mjs [--check]   (--check: exit 1 when missing, install nothing)
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aptInstall, aptMissing } from './apt.mjs';

export const MONITORING_APT_PACKAGES = ['prometheus'];

const log = (msg) => process.stderr.write(`[install-monitoring] ${msg}\n`);

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    if (process.argv.includes('--check')) {
      const missing = aptMissing(MONITORING_APT_PACKAGES);
      for (const m of missing) log(`missing: Debian package ${m}`);
      process.exit(missing.length ? 1 : 0);
    }
    aptInstall(MONITORING_APT_PACKAGES, log);
    log('done');
  } catch (err) {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
}
