// The monitor reads the engine's /metrics by name (server/src/monitor/engineSample.ts): every name
// it reads must be one the engine writes (native/src), or a rename on either side would leave a
// chart silently empty. Read from the sources, so the check follows both sides.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENGINE_METRIC_NAMES, reduceExposition, unavailableReasons } from '../../server/src/monitor/engineSample';
import { parseExposition } from '../../server/src/monitor/prometheusText';
import { repoRoot } from '../support/models';

/** Read by the monitor before the engine writes them, each shown as unavailable until it does. */
const NOT_YET_EXPORTED: Record<string, string> = {
  // The gauge comes with the engine's new scheduler (the engine-core work); README says so.
  pronto_queue_depth: 'queueDepth',
};

test('every engine metric the monitor reads is written by the engine (or shown unavailable until it is)', () => {
  const dir = join(repoRoot, 'native', 'src');
  const source = readdirSync(dir)
    .filter((f) => /\.(h|hpp|cpp)$/.test(f))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  // A name is written when it opens a string literal: `"pronto_x ` in metrics.h, `"process_x` elsewhere.
  const missing = Object.values(ENGINE_METRIC_NAMES).filter((name) => !source.includes(`"${name}`));
  for (const name of missing) {
    const metric = NOT_YET_EXPORTED[name];
    assert.ok(metric, `the monitor reads ${name}, which native/src does not write`);
    // Absent from a scrape, it is named unavailable (never charted as 0).
    const parsed = parseExposition('# TYPE pronto_requests_total counter\npronto_requests_total 1\n');
    assert.ok(parsed.ok);
    const reasons = unavailableReasons(reduceExposition(parsed.families, 0)) as Record<string, string | undefined>;
    assert.ok(reasons[metric], `${name} missing from a scrape: ${metric} is marked unavailable`);
  }
});
