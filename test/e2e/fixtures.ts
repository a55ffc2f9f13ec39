/**
 * What the e2e tests run Pronto on: the real engine binary from the native build and a tiny
 * generated model (test/support/models.ts). Missing pieces fail the test with the command that
 * makes them, never a skip.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { enginePath, repoRoot } from './harness';

export interface RealEngine {
  engine: string;
  model: string;
}

export async function realEngineAndModel(): Promise<RealEngine> {
  const engine = await enginePath();
  if (!engine) throw new Error('The engine binary is not built: run `npm run build:native` (then `npm run -s engine:path` prints it).');
  const modelsModule = join(repoRoot, 'test', 'support', 'models.ts');
  if (!existsSync(modelsModule)) throw new Error(`${modelsModule} is missing: it generates the test models.`);
  const mod = (await import(modelsModule)) as { ensureTestModels?: () => Promise<unknown> };
  if (typeof mod.ensureTestModels !== 'function') throw new Error('test/support/models.ts does not export ensureTestModels()');
  const models = await mod.ensureTestModels();
  const model = pickTarget(models);
  if (!model || !existsSync(model)) throw new Error(`ensureTestModels() returned no usable target model: ${JSON.stringify(models)}`);
  return { engine, model };
}

/** The tiny target model's path from whatever shape ensureTestModels() returns. */
function pickTarget(models: unknown): string | undefined {
  if (typeof models === 'string') return models;
  if (!models || typeof models !== 'object') return undefined;
  const record = models as Record<string, unknown>;
  for (const key of ['target', 'tiny', 'model', 'targetPath', 'path']) {
    const v = record[key];
    if (typeof v === 'string' && v.endsWith('.gguf')) return v;
    if (v && typeof v === 'object' && typeof (v as { path?: unknown }).path === 'string') return (v as { path: string }).path;
  }
  for (const v of Object.values(record)) if (typeof v === 'string' && v.endsWith('.gguf')) return v;
  return undefined;
}

/** User settings shared by every e2e run: keep VS Code's own suggestions and AI features out of the way. */
export function baseSettings(real: RealEngine | undefined): Record<string, unknown> {
  return {
    'editor.wordBasedSuggestions': 'off',
    'editor.quickSuggestions': { other: false, comments: false, strings: false },
    'editor.suggestOnTriggerCharacters': false,
    'editor.inlineSuggest.enabled': true,
    'chat.disableAIFeatures': true,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    'files.autoSave': 'off',
    'git.enabled': false,
    'git.openRepositoryInParentFolders': 'never',
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'editor.autoClosingBrackets': 'never',
    'editor.autoClosingQuotes': 'never',
    'editor.autoIndent': 'none',
    ...(real ? { 'pronto.model.path': real.model, 'pronto.engine.path': real.engine } : {}),
    'pronto.completion.debounceMs': 0,
    'pronto.completion.maxTokens': 16,
    'pronto.completion.multiline': 'never',
    'pronto.engine.contextSize': 1024,
    'pronto.engine.parallel': 1,
    'pronto.engine.gpuLayers': 0, // no GPU in CI
    // Monitor alerts are monitor.test.ts's subject; elsewhere a busy machine's slow requests would
    // only add a latency warning toast over what the test looks at.
    'pronto.monitor.alerts.latencyP95Ms': 0,
  };
}

/** A small source file to type into. */
export const sampleFiles: Record<string, string> = {
  'src/math.js': [
    '// Small helpers used by the e2e tests.',
    'function add(a, b) {',
    '  return a + b;',
    '}',
    '',
    'function multiply(a, b) {',
    '  return a * b;',
    '}',
    '',
    '',
  ].join('\n'),
};
