// One config, three targets: the VS Code extension (CommonJS, `vscode` external), the LSP sidecar
// (Node, also the `pronto-lsp` bin), and the webview scripts (browser).
// Flags: --watch rebuilds on change; --production minifies and drops source maps.
import * as esbuild from 'esbuild';
import { readdirSync, existsSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const common = {
  bundle: true,
  minify: production,
  sourcemap: !production,
  logLevel: 'info',
  legalComments: 'none',
};

const webviewEntries = existsSync('media')
  ? readdirSync('media')
      .filter((f) => /\.(ts|tsx)$/.test(f) && !f.endsWith('.d.ts'))
      .map((f) => `media/${f}`)
  : [];

const targets = [
  {
    ...common,
    entryPoints: { extension: 'extension/src/extension.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
  },
  {
    ...common,
    entryPoints: { server: 'server/src/main.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
  {
    // `pronto-deploy`: the rollout controller as a command-line tool (server/src/deploy/cli.ts).
    ...common,
    entryPoints: { deploy: 'server/src/deploy/cli.ts' },
    outdir: 'dist',
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
  ...(webviewEntries.length
    ? [{ ...common, entryPoints: webviewEntries, outdir: 'dist/media', platform: 'browser', format: 'iife', target: 'es2022' }]
    : []),
];

if (watch) {
  const contexts = await Promise.all(targets.map((t) => esbuild.context(t)));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('[esbuild] watching');
} else {
  await Promise.all(targets.map((t) => esbuild.build(t)));
}
