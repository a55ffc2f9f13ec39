/**
 * What both runners of the extension-host suite (host/suite.ts) share: the bundled suite and the
 * settings and files it expects. test/e2e/extension-host.test.ts runs it in code-server (here and in
 * CI); test/e2e/electron.ts runs the same bundle with @vscode/test-electron in desktop VS Code (for
 * machines that can download VS Code).
 */
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { repoRoot } from '../harness';

/** Bundles host/suite.ts (with `vscode` left external) to `outFile`, a CommonJS module exporting run(). */
export async function bundleHostSuite(outFile: string): Promise<void> {
  await esbuild.build({
    entryPoints: [join(repoRoot, 'test', 'e2e', 'host', 'suite.ts')],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
  });
}
