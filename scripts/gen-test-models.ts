// Generates the random-weight test models (and with --bench the benchmark model) into .cache/models/.
//   npx tsx scripts/gen-test-models.ts [--bench] [--force]
// Prints one "name<TAB>path<TAB>bytes" line per model.
import { rmSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ensureModel, modelPath, type recipes } from '../test/support/models';

async function main(): Promise<void> {
  let values: { bench?: boolean; force?: boolean };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: { bench: { type: 'boolean' }, force: { type: 'boolean' } },
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: npx tsx scripts/gen-test-models.ts [--bench] [--force]`);
    process.exit(2);
  }
  const names: Array<keyof typeof recipes> = ['target', 'draft', 'starcoder'];
  if (values.bench) names.push('bench');
  for (const name of names) {
    if (values.force) rmSync(modelPath(name), { force: true });
    const t0 = Date.now();
    const p = await ensureModel(name);
    console.log(`${name}\t${p}\t${statSync(p).size}\t${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
