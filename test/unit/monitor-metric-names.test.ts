// The monitor reads the engine's /metrics by name (server/src/monitor/engineSample.ts): every name
// it reads must be one the engine writes (native/src), or a rename on either side would leave a
// chart silently empty ("unavailable"). Read from the sources, so the check follows both sides.
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENGINE_METRIC_NAMES } from '../../server/src/monitor/engineSample';
import { repoRoot } from '../support/models';

test('every engine metric the monitor reads is written by the engine', () => {
  const dir = join(repoRoot, 'native', 'src');
  const source = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(h|hpp|cpp)$/.test(f))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n');
  // A name is written where it opens a string literal: `"pronto_x"` in metrics.h, `"process_x` elsewhere.
  const missing = Object.values(ENGINE_METRIC_NAMES).filter((name) => !source.includes(`"${name}`));
  assert.deepEqual(missing, [], 'metric names the monitor reads but native/src does not write');
});
