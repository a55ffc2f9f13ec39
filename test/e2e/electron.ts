/**
 * `npm run test:electron`: the extension-host suite (test/e2e/host/suite.ts, the same bundle the
 * code-server runner uses) in desktop VS Code through @vscode/test-electron, the usual way extension
 * authors run their tests. It downloads VS Code (into .vscode-test/) on first use, so it needs a
 * machine that can reach update.code.visualstudio.com; where that is not possible (this project's
 * CI) `npm test` runs the suite in code-server instead (test/e2e/extension-host.test.ts).
 *
 *   npm run test:electron                       VS Code stable
 *   VSCODE_VERSION=1.91.0 npm run test:electron  a given version (the minimum package.json allows)
 *
 * Needs the same build as npm test: npm run build, npm run build:native. Exit code 0 = the suite passed.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runTests } from '@vscode/test-electron';
import { baseSettings, realEngineAndModel, sampleFiles } from './fixtures';
import { outputRoot, repoRoot } from './harness';
import { bundleHostSuite } from './host/prepare';

async function main(): Promise<void> {
  const real = await realEngineAndModel();
  const root = join(outputRoot, 'electron');
  rmSync(root, { recursive: true, force: true });
  const dirs = { userData: join(root, 'user-data'), extensions: join(root, 'extensions'), workspace: join(root, 'workspace') };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  mkdirSync(join(dirs.userData, 'User'), { recursive: true });
  writeFileSync(join(dirs.userData, 'User', 'settings.json'), JSON.stringify(baseSettings(real), null, 2));
  for (const [rel, content] of Object.entries(sampleFiles)) {
    mkdirSync(dirname(join(dirs.workspace, rel)), { recursive: true });
    writeFileSync(join(dirs.workspace, rel), content);
  }
  const suite = join(root, 'suite', 'index.js');
  await bundleHostSuite(suite);
  await runTests({
    version: process.env.VSCODE_VERSION ?? 'stable',
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: suite,
    launchArgs: [
      dirs.workspace,
      '--user-data-dir',
      dirs.userData,
      '--extensions-dir',
      dirs.extensions,
      '--disable-workspace-trust',
      '--skip-welcome',
      '--skip-release-notes',
      '--disable-gpu',
    ],
  });
}

main().then(
  () => console.log('[test:electron] the extension-host suite passed in desktop VS Code'),
  (err: unknown) => {
    console.error(`[test:electron] failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error(
      '(It downloads VS Code first; on a machine without internet access use `npm test -- e2e`, which runs the same suite in code-server.)',
    );
    process.exit(1);
  },
);
