// Prints the absolute path of the engine binary the sidecar would use (`npm run -s engine:path`):
// $PRONTO_ENGINE_PATH, else native/build/pronto-engine, checked with --version; exits 1 with the
// reason when there is none. The same locator as the sidecar's (server/src/engine/process.ts).
import * as path from 'node:path';
import { findEngineBinary } from '../server/src/engine/process';

void findEngineBinary('', process.env, [path.resolve(__dirname, '..')]).then((r) => {
  if (r.ok) console.log(r.path);
  else {
    console.error(r.message);
    process.exitCode = 1;
  }
});
