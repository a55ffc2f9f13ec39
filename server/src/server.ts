/**
 * The LSP server: builds the shared services (settings, documents, status, stats, the engine, the
 * token estimate), registers every feature (server/src/features/: status, models, prompts (chat and
 * templates), completion, engine, …) and forwards the LSP lifecycle to them. Each feature registers
 * its own handlers and owns its own state; this file only wires. Errors are caught in the handlers
 * (one per message), never deeper in the feature logic.
 *
 * Handlers are registered by method name: protocol/lsp.ts builds its message types with the
 * top-level vscode-languageserver-protocol (3.18.5), which vscode-languageserver 10 does not share.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DidChangeConfigurationNotification,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver';
import { StatusNotification, type ProntoInitializationOptions } from '../../protocol/lsp';
import { TokenEstimator } from './context/tokens';
import { DocumentStore } from './documents';
import { EngineManager, type EngineManagerDeps, type EngineState } from './engine/manager';
import type { ClientInfo, Feature, FeatureHooks, Log, ServerContext } from './features/feature';
import { defaultFeatures, type FeatureDeps } from './features/index';
import { parseSettings, type Settings } from './settings';
import { CompletionStats } from './stats';
import { StatusReporter } from './status';

export type { ModelService } from './features/models';

export interface ServerDeps extends FeatureDeps {
  /** Picks and checks the model files before each engine start (server/src/models/selection.ts). */
  resolveModel?: EngineManagerDeps['resolveModel'];
  launcher?: EngineManagerDeps['launcher'];
  findBinary?: EngineManagerDeps['findBinary'];
  backoff?: EngineManagerDeps['backoff'];
  healthCheck?: EngineManagerDeps['healthCheck'];
  /** The features to run (default: defaultFeatures(deps)). */
  features?: Feature[];
}

function abortSignalFrom(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

export function startServer(connection: Connection, deps: ServerDeps = {}): void {
  let settings: Settings = parseSettings().settings;
  let storageDir = process.env.PRONTO_STORAGE_DIR || path.join(os.homedir(), '.cache', 'pronto');
  const client: ClientInfo = {
    initializationOptions: undefined,
    capabilities: {},
    hasConfiguration: false,
    engineApiKey: process.env.PRONTO_ENGINE_API_KEY || undefined,
  };
  const log: Log = {
    info: (line) => connection.console.log(line),
    warn: (line) => connection.console.warn(line),
    error: (line) => connection.console.error(line),
  };

  const status = new StatusReporter((s) => void connection.sendNotification(StatusNotification.method, s));
  const tokens = new TokenEstimator((line) => log.info(line));
  const engineListeners = new Set<(state: EngineState) => void>();

  const engine: EngineManager = new EngineManager({
    launcher: deps.launcher,
    findBinary: deps.findBinary,
    backoff: deps.backoff,
    healthCheck: deps.healthCheck,
    engineInfoFile: process.env.PRONTO_ENGINE_INFO_FILE || undefined,
    resolveModel: deps.resolveModel,
    remoteApiKey: () => client.engineApiKey,
    onState: (s) => {
      log.info(`engine: ${s.state}: ${s.message}`);
      status.setEngine(s);
      // Calibrate the token estimate for this model (once per model; in the background).
      const c = engine.client;
      if (s.state === 'ready' && c && engine.modelKey) {
        void tokens.useModel(engine.modelKey, async (text) => {
          const r = await c.tokenize(text);
          if (!r.ok) throw new Error(r.message);
          return r.tokens.length;
        });
      }
      for (const l of engineListeners) l(s);
    },
    log: (line) => log.info(line),
  });

  let lastSettingsIssues = '[]';
  async function readSettings(): Promise<Settings> {
    const initPronto = (client.initializationOptions as { pronto?: unknown } | undefined)?.pronto;
    let fromWorkspace: unknown;
    if (client.hasConfiguration) {
      try {
        fromWorkspace = await connection.workspace.getConfiguration('pronto');
      } catch (err) {
        log.info(`workspace/configuration failed: ${(err as Error).message}`);
      }
    }
    const result = parseSettings(initPronto, fromWorkspace);
    // Settings are re-read on every change: say each problem once, and once that it is fixed.
    const issues = JSON.stringify(result.issues);
    if (issues !== lastSettingsIssues) {
      for (const p of result.problems) log.warn(p);
      if (!result.issues.length && lastSettingsIssues !== '[]') connection.console.info('Settings: every pronto.* value is valid again.');
      lastSettingsIssues = issues;
    }
    status.setSettingsProblems(result.issues);
    return result.settings;
  }

  const hooks: FeatureHooks[] = [];
  /** Runs one hook of every feature in order; a failing feature is logged and does not stop the others. */
  async function each(name: keyof FeatureHooks, run: (h: FeatureHooks) => unknown): Promise<void> {
    for (const h of hooks) {
      if (!h[name]) continue;
      try {
        await run(h);
      } catch (err) {
        log.error(`${name} of a feature failed: ${(err as Error).stack ?? err}`);
      }
    }
  }

  async function applySettings(next: Settings): Promise<Settings> {
    const previous = settings;
    settings = next;
    await each('settingsChanged', (h) => h.settingsChanged?.(previous, next));
    return next;
  }

  const documents = new DocumentStore();
  const ctx: ServerContext = {
    connection,
    log,
    documents,
    status,
    stats: new CompletionStats(),
    engine,
    onEngineState: (listener) => {
      engineListeners.add(listener);
      return () => engineListeners.delete(listener);
    },
    tokens,
    client,
    settings: () => settings,
    reloadSettings: async () => applySettings(await readSettings()),
    storageDir: () => storageDir,
    signalFrom: abortSignalFrom,
  };

  for (const feature of deps.features ?? defaultFeatures(deps)) {
    const h = feature.register(ctx);
    if (h) hooks.push(h);
  }

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    client.initializationOptions = params.initializationOptions;
    const options = params.initializationOptions as ProntoInitializationOptions | undefined;
    if (typeof options?.storageDir === 'string' && options.storageDir) storageDir = options.storageDir;
    client.capabilities = options?.capabilities && typeof options.capabilities === 'object' ? options.capabilities : {};
    if (typeof options?.engineApiKey === 'string' && options.engineApiKey) client.engineApiKey = options.engineApiKey;
    client.hasConfiguration = params.capabilities.workspace?.configuration === true;
    let capabilities: InitializeResult['capabilities'] = {
      textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
    };
    for (const h of hooks) if (h.capabilities) capabilities = { ...capabilities, ...h.capabilities(params) };
    return { capabilities, serverInfo: { name: 'pronto-lsp', version: '0.1.0' } };
  });

  connection.onInitialized(async () => {
    if (client.hasConfiguration) {
      void connection.client.register(DidChangeConfigurationNotification.type, { section: 'pronto' }).catch(() => undefined);
    }
    settings = await readSettings();
    await each('initialized', (h) => h.initialized?.());
  });

  connection.onDidChangeConfiguration(async (change) => {
    if (!client.hasConfiguration) {
      const pushed = (change.settings as { pronto?: unknown } | undefined)?.pronto;
      if (pushed) client.initializationOptions = { ...(client.initializationOptions as object | undefined), pronto: pushed };
    }
    await ctx.reloadSettings();
  });

  connection.onDidOpenTextDocument((p) => documents.applyOpen(p));
  connection.onDidChangeTextDocument((p) => documents.applyChange(p));
  connection.onDidSaveTextDocument((p) => documents.applySave(p));
  connection.onDidCloseTextDocument((p) => documents.applyClose(p));

  connection.onShutdown(async () => {
    await each('shutdown', (h) => h.shutdown?.());
  });

  connection.listen();
}
