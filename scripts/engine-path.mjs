// Prints the absolute path of the built engine binary (`npm run -s engine:path`); exits 1 if it is not built.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'native/build/pronto-engine');
if (!existsSync(bin)) {
  console.error(`pronto-engine is not built (${bin}): run npm run build:native`);
  process.exit(1);
}
console.log(bin);
