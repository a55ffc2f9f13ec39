/**
 * The LSP server: wires the connection to the engine manager, the completion provider, settings,
 * status and stats. One handler per message; errors are caught here (the request handler is the
 * one place that turns failures into LSP answers), never deeper in the completion logic.
 *
 * Handlers are registered by method name: protocol/lsp.ts builds its message types with the
 * top-level vscode-languageserver-protocol (3.18.5), which vscode-languageserver 10 does not share.
 *
 * Message map (see protocol/lsp.ts):
 *   textDocument/inlineCompletion   → CompletionProvider.provide
 *   pronto/stats                    → CompletionStats.snapshot
 *   pronto/didAcceptCompletion      → stats + cache
 *   pronto/restartEngine            → re-read settings, EngineManager.restart
 *   pronto/setEnabled               → switch completions on/off (engine keeps running)
 *   pronto/requestStatus            → push pronto/status again
 *   pronto/listModels, downloadModel→ ModelService (server/src/models/)
 *   pronto/chat..., pronto/templates/... → registerPromptFeatures (server/src/chat/feature.ts,
 *     server/src/templates/feature.ts)
 *   pronto/status (server → client) ← StatusReporter
 *   pronto/resolveDefinitions (server → client, only when the client advertises
 *     initializationOptions.capabilities.resolveDefinitions) ← EditorDefinitions, in the background
 */
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CancellationTokenSource,
  LSPErrorCodes,
  ResponseError,
  DidChangeConfigurationNotification,
  InlineCompletionTriggerKind,
  TextDocumentSyncKind,
  type CancellationToken,
  type Connection,
  type InitializeParams,
  type InitializeResult,
  type InlineCompletionItem,
} from 'vscode-languageserver';
import { TextDocument } from 'vscode-languageserver-textdocument';
import {
  CheckModelRequest,
  DidAcceptCompletionNotification,
  DownloadModelRequest,
  DownloadProgressNotification,
  ListModelsRequest,
  RequestStatusNotification,
  ResolveDefinitionsRequest,
  RestartEngineRequest,
  SetEnabledNotification,
  StatsRequest,
  StatusNotification,
  type CheckModelResult,
  type DownloadModelParams,
  type ListModelsResult,
  type DidAcceptParams,
  type DownloadProgressParams,
  type ProntoClientCapabilities,
  type ResolveDefinitionsParams,
  type ResolveDefinitionsResult,
  type StatsResult,
} from '../../protocol/lsp';
import { languageEnabled } from '../../protocol/languages';
import { registerPromptFeatures } from './chat/feature';
import { CompletionProvider } from './completion/provider';
import { registerDeploy } from './deploy/register';
import { failureOf } from './models/downloadFailure';
import { combineDefinitions, EditorDefinitions, identifiersNearCursor } from './context/definitions';
import { ContextRing } from './context/ring';
import { EngineManager, type EngineManagerDeps } from './engine/manager';
import { cursorWindow } from './context/window';
import { engineSettingsChanged, parseSettings, type Settings } from './settings';
import { CompletionStats } from './stats';
import { StatusReporter } from './status';

/** What the server needs from the models feature (server/src/models/ModelService satisfies it). */
export interface ModelService {
  listModels(): Promise<ListModelsResult>;
  download(id: string, onProgress: (p: DownloadProgressParams) => void, signal?: AbortSignal): Promise<{ path: string }>;
}

export interface ServerDeps {
  /** Builds the model service on first use (storage folder and settings known by then). */
  createModelService?: (storageDir: string, settings: Settings) => ModelService;
  /** Picks and checks the model files before each engine start (server/src/models/selection.ts). */
  resolveModel?: EngineManagerDeps['resolveModel'];
  /** Answers pronto/checkModel (server/src/models/modelCheck.ts). */
  checkModel?: (path: string) => Promise<CheckModelResult>;
  /** Timeout of one pronto/resolveDefinitions request (default 3000 ms). */
  resolveDefinitionsTimeoutMs?: number;
  launcher?: EngineManagerDeps['launcher'];
  findBinary?: EngineManagerDeps['findBinary'];
  backoff?: EngineManagerDeps['backoff'];
}

function abortSignalFrom(token: CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

export function startServer(connection: Connection, deps: ServerDeps = {}): void {
  let initOptions: unknown;
  let hasConfiguration = false;
  let settings: Settings = parseSettings().settings;
  let enabled = true;
  let storageDir = process.env.PRONTO_STORAGE_DIR || path.join(os.homedir(), '.cache', 'pronto');
  let models: { service: ModelService; mirror: string } | undefined;
  /** The model service for `mirror` (default: the pronto.model.mirror setting), made on first use. */
  const modelService = (mirror: string = settings['model.mirror']): ModelService | undefined => {
    if (!deps.createModelService) return undefined;
    if (!models || models.mirror !== mirror) {
      models = { service: deps.createModelService(storageDir, { ...settings, 'model.mirror': mirror }), mirror };
    }
    return models.service;
  };
  const documents = new Map<string, TextDocument>();
  const lastEditLine = new Map<string, number>();
  const log = (line: string) => connection.console.log(line);

  const status = new StatusReporter((s) => void connection.sendNotification(StatusNotification.type, s));
  const stats = new CompletionStats();
  const ring = new ContextRing(settings['context.ringChunks'], settings['context.ringChunkLines']);

  // Chat and templates (getters: the manager below is asked only once requests arrive).
  const prompts = registerPromptFeatures({
    connection,
    getClient: () => manager.client,
    engineInfo: () => manager.info,
    engineMessage: () => manager.state.message,
    getSettings: () => settings,
    openDocument: (uri) => {
      const d = documents.get(uri);
      return d ? { text: d.getText(), languageId: d.languageId } : undefined;
    },
    setStatusNote: (note) => status.setNote(note, 'templates'),
    log,
  });

  const manager = new EngineManager({
    launcher: deps.launcher,
    findBinary: deps.findBinary,
    backoff: deps.backoff,
    resolveModel: deps.resolveModel,
    onState: (s) => {
      log(`engine: ${s.state}: ${s.message}`);
      status.setEngine(s);
      if (s.state === 'ready') void prompts.engineReady();
    },
    log,
  });

  const openDocuments = () => [...documents.values()].map((d) => ({ uri: d.uri, filename: path.basename(d.uri), text: d.getText() }));
  /** Set at initialize when the client can answer pronto/resolveDefinitions. */
  let editorDefinitions: EditorDefinitions | undefined;
  const provider = new CompletionProvider({
    getClient: () => manager.client,
    getSettings: () => settings,
    ring,
    getDocuments: openDocuments,
    getDefinitions: (uri, prefixWindow) => {
      const names = identifiersNearCursor(prefixWindow);
      return combineDefinitions(names, editorDefinitions?.lookup(uri, names), openDocuments(), uri);
    },
    stats,
    fimPrompt: (parts) => prompts.fimPrompt(parts),
    onRequestStart: () => status.requestStarted(),
    onRequestEnd: (f) => status.requestEnded(f),
    log,
  });

  // A new FIM template makes cached suggestions stale.
  prompts.onTemplatesChanged(() => provider.cache.clear());

  let lastSettingsIssues = '[]';
  async function readSettings(): Promise<Settings> {
    const initPronto = (initOptions as { pronto?: unknown } | undefined)?.pronto;
    let fromWorkspace: unknown;
    if (hasConfiguration) {
      try {
        fromWorkspace = await connection.workspace.getConfiguration('pronto');
      } catch (err) {
        log(`workspace/configuration failed: ${(err as Error).message}`);
      }
    }
    const result = parseSettings(initPronto, fromWorkspace);
    // Settings are re-read on every change: say each problem once, and once that it is fixed.
    const issues = JSON.stringify(result.issues);
    if (issues !== lastSettingsIssues) {
      for (const p of result.problems) connection.console.warn(p);
      if (!result.issues.length && lastSettingsIssues !== '[]') connection.console.info('Settings: every pronto.* value is valid again.');
      lastSettingsIssues = issues;
    }
    status.setSettingsProblems(result.issues);
    ring.configure(result.settings['context.ringChunks'], result.settings['context.ringChunkLines']);
    return result.settings;
  }

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    initOptions = params.initializationOptions;
    const dir = (initOptions as { storageDir?: unknown } | undefined)?.storageDir;
    if (typeof dir === 'string' && dir) storageDir = dir;
    hasConfiguration = params.capabilities.workspace?.configuration === true;
    prompts.initialize(params, storageDir);
    const clientCaps = (initOptions as { capabilities?: ProntoClientCapabilities } | undefined)?.capabilities;
    if (clientCaps?.resolveDefinitions === true) {
      editorDefinitions = new EditorDefinitions({
        request: (p: ResolveDefinitionsParams, signal: AbortSignal) => {
          const source = new CancellationTokenSource();
          signal.addEventListener('abort', () => source.cancel(), { once: true });
          return connection.sendRequest(ResolveDefinitionsRequest.method, p, source.token) as Promise<ResolveDefinitionsResult>;
        },
        timeoutMs: deps.resolveDefinitionsTimeoutMs,
        log,
      });
    }
    return {
      capabilities: {
        textDocumentSync: { openClose: true, change: TextDocumentSyncKind.Incremental, save: { includeText: false } },
        inlineCompletionProvider: true,
      },
      serverInfo: { name: 'pronto-lsp', version: '0.1.0' },
    };
  });

  connection.onInitialized(async () => {
    if (hasConfiguration) {
      void connection.client.register(DidChangeConfigurationNotification.type, { section: 'pronto' }).catch(() => undefined);
    }
    settings = await readSettings();
    enabled = settings.enable;
    status.setEnabled(enabled);
    await manager.start(settings);
  });

  connection.onDidChangeConfiguration(async (change) => {
    const previous = settings;
    if (!hasConfiguration) {
      const pushed = (change.settings as { pronto?: unknown } | undefined)?.pronto;
      if (pushed) initOptions = { ...(initOptions as object | undefined), pronto: pushed };
    }
    settings = await readSettings();
    if (settings.enable !== previous.enable) {
      enabled = settings.enable;
      status.setEnabled(enabled);
    }
    if (engineSettingsChanged(previous, settings)) await manager.restart(settings);
  });

  // Document sync (kept by hand so edits also feed the context ring with their position).
  connection.onDidOpenTextDocument(({ textDocument: d }) => {
    const doc = TextDocument.create(d.uri, d.languageId, d.version, d.text);
    documents.set(d.uri, doc);
    ring.addAround(d.uri, path.basename(d.uri), d.text, 0);
  });
  connection.onDidChangeTextDocument(({ textDocument, contentChanges }) => {
    const doc = documents.get(textDocument.uri);
    if (!doc) return;
    const updated = TextDocument.update(doc, contentChanges, textDocument.version);
    documents.set(textDocument.uri, updated);
    const last = contentChanges[contentChanges.length - 1];
    if (last && 'range' in last) {
      const line = last.range.start.line;
      const prev = lastEditLine.get(textDocument.uri);
      // The user moved on from an edit site: remember the text around it.
      if (prev !== undefined && Math.abs(prev - line) > settings['context.ringChunkLines'] / 2) {
        ring.addAround(textDocument.uri, path.basename(textDocument.uri), updated.getText(), prev);
      }
      lastEditLine.set(textDocument.uri, line);
    }
  });
  connection.onDidSaveTextDocument(({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    if (doc) ring.addAround(textDocument.uri, path.basename(textDocument.uri), doc.getText(), lastEditLine.get(textDocument.uri) ?? 0);
  });
  connection.onDidCloseTextDocument(({ textDocument }) => {
    documents.delete(textDocument.uri);
    lastEditLine.delete(textDocument.uri);
    editorDefinitions?.forget(textDocument.uri);
  });

  connection.languages.inlineCompletion.on(async (params, token) => {
    if (!enabled) return { items: [] };
    const doc = documents.get(params.textDocument.uri);
    if (!doc) return { items: [] };
    // Off for this language (pronto.completion.languages): no engine request, nothing counted.
    if (!languageEnabled(settings['completion.languages'], doc.languageId)) return { items: [] };
    try {
      // A templates file edited since the last request applies now (and drops stale cached suggestions).
      prompts.store.refresh();
      const offset = doc.offsetAt(params.position);
      const explicit = params.context?.triggerKind === InlineCompletionTriggerKind.Invoked;
      // Background: ask the editor for definitions near the cursor; the answer serves this request
      // if it arrives during the debounce, and later keystrokes from the cache otherwise.
      if (editorDefinitions) {
        const text = doc.getText();
        // Lines surely in the prompt (the engine cuts the window to token budgets; 2 characters
        // per token is a low estimate): the client skips same-file definitions inside them.
        const window = cursorWindow(
          text,
          offset,
          Math.min(settings['context.prefixChars'], settings['context.prefixTokens'] * 2),
          Math.min(settings['context.suffixChars'], settings['context.suffixTokens'] * 2),
        );
        const line = params.position.line;
        editorDefinitions.prepare({
          uri: doc.uri,
          version: doc.version,
          text,
          offset,
          excludeLines: { start: line - window.prefix.split('\n').length + 1, end: line + window.suffix.split('\n').length - 1 },
        });
      }
      const result = await provider.provide(
        { uri: doc.uri, text: doc.getText(), offset, explicit, languageId: doc.languageId },
        abortSignalFrom(token),
      );
      const items: InlineCompletionItem[] = result.items.map((insertText) => ({
        insertText,
        range: { start: params.position, end: params.position },
      }));
      return { items };
    } catch (err) {
      connection.console.error(`inline completion failed: ${(err as Error).stack ?? err}`);
      return { items: [] };
    }
  });

  connection.onRequest(StatsRequest.type, (): StatsResult => stats.snapshot());
  connection.onNotification(DidAcceptCompletionNotification.type, (_p: DidAcceptParams) => provider.noteAccepted());
  connection.onRequest(RestartEngineRequest.type, async (): Promise<null> => {
    settings = await readSettings();
    await manager.restart(settings);
    return null;
  });
  connection.onNotification(SetEnabledNotification.type, ({ enabled: on }: { enabled: boolean }) => {
    enabled = on === true;
    if (!enabled) provider.abortAll();
    status.setEnabled(enabled);
  });
  connection.onNotification(RequestStatusNotification.type, () => status.resend());
  connection.onRequest(ListModelsRequest.type, async () => {
    const service = modelService();
    if (!service) throw new Error('The model catalog is not available in this build.');
    return service.listModels();
  });
  connection.onRequest(DownloadModelRequest.type, async ({ id, mirror }: DownloadModelParams, token: CancellationToken) => {
    const service = modelService(typeof mirror === 'string' ? mirror : undefined);
    if (!service) throw new Error('Model download is not available in this build.');
    try {
      return await service.download(
        id,
        (p) => void connection.sendNotification(DownloadProgressNotification.type, p),
        abortSignalFrom(token),
      );
    } catch (err) {
      // A plain sentence and its kind as the error's data (the client offers retry, a mirror, a
      // local file); the technical message goes to the log.
      const failure = failureOf(err);
      if (!failure) throw err;
      connection.console.warn(`download of ${id} failed: ${(err as Error).message}`);
      throw new ResponseError(LSPErrorCodes.RequestFailed, failure.sentence, failure);
    }
  });

  connection.onRequest(CheckModelRequest.type, async ({ path: file }: { path: string }): Promise<CheckModelResult> => {
    if (!deps.checkModel) throw new Error('Model checks are not available in this build.');
    return deps.checkModel(file);
  });

  // Deploy: blue-green rollouts of the engine to a cluster or the local platform (server/src/deploy/).
  const deploy = registerDeploy(connection, { log });

  // The client went away without shutdown (crash, closed pipe): never leave the engine behind.
  process.once('exit', () => manager.killNow());

  connection.onShutdown(async () => {
    editorDefinitions?.dispose();
    prompts.dispose();
    provider.abortAll();
    await deploy.dispose();
    await manager.stop();
  });

  connection.listen();
}
