/**
 * Entry point of the sidecar (`pronto-lsp --stdio`, bundled to dist/server.js). Wires the real
 * dependencies into startServer; everything else lives in server.ts.
 */
import { createConnection, ProposedFeatures } from 'vscode-languageserver/node';
import { checkModelFile } from './models/modelCheck';
import { resolveModel } from './models/selection';
import { ModelService as CatalogModelService } from './models/service';
import { startServer, type ModelService } from './server';

if (process.argv.includes('--version')) {
  process.stdout.write('pronto-lsp 0.1.0\n');
  process.exit(0);
}

if (!process.argv.some((a) => /^--(stdio|node-ipc|socket|pipe)(=|$)/.test(a))) {
  process.stderr.write('usage: pronto-lsp --stdio   (a language server: start it from your editor; see server/README.md)\n');
  process.exit(2);
}

const connection = createConnection(ProposedFeatures.all);

startServer(connection, {
  createModelService: (storageDir, settings) =>
    new CatalogModelService({
      storageDir,
      mirror: settings['model.mirror'] || undefined,
      contextTokens: settings['engine.contextSize'],
    }) satisfies ModelService,
  resolveModel: (settings) => resolveModel(settings),
  checkModel: async (path, purpose) => {
    const r = await checkModelFile(path, purpose);
    return r.ok ? { ok: true, architecture: r.info.architecture, ...(r.info.name ? { name: r.info.name } : {}), notes: r.info.notes } : r;
  },
});
