/**
 * Entry point of the VS Code client. It stays thin: the sidecar (server/) owns completion logic,
 * the engine and models; this side starts the language client (Ctx), registers the commands and
 * renders the status the server pushes. Inline completions come from vscode-languageclient's
 * standard LSP 3.18 inline-completion feature, which registers an InlineCompletionItemProvider
 * when the server announces `inlineCompletionProvider`.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import type { ResolveDefinitionsParams, ResolveDefinitionsResult, StatusParams } from '../../protocol/lsp';
import { chatCommands } from './chat/commands';
import { PROPOSAL_SCHEME, ProposalDocuments } from './chat/codeActions';
import { ChatHistoryStore } from './chat/history';
import { ChatSession } from './chat/session';
import { registerChatViews } from './chat/view';
import { registerCommands } from './commands';
import { ContextKeys } from './contextKeys';
import { Ctx, ENGINE_API_KEY_SECRET } from './ctx';
import { watchMonitorAlerts } from './monitorAlerts';
import { MonitorPanel } from './monitorPanel';
import { registerDeployFeatures } from './deploy/commands';
import { Notifier } from './notifier';
import { registerTemplatesPanel, TemplatesPanel } from './templates/panel';
import { StatusBar } from './statusBar';

/** What `vscode.extensions.getExtension('pronto-dev.pronto').exports` gives (used by tests). */
export interface ProntoApi {
  client(): LanguageClient | undefined;
  status(): StatusParams | undefined;
  /** The last pronto/resolveDefinitions request from the server and this side's answer. */
  lastDefinitions(): { params: ResolveDefinitionsParams; result: ResolveDefinitionsResult } | undefined;
  /** A remote engine API key is in the secret storage (never the key itself). */
  hasEngineApiKey(): Promise<boolean>;
  onDidChange: vscode.Event<void>;
}

let ctx: Ctx | undefined;

export async function activate(extension: vscode.ExtensionContext): Promise<ProntoApi> {
  const log = vscode.window.createOutputChannel('Pronto', { log: true });
  extension.subscriptions.push(log);
  log.info(`Pronto ${String(extension.extension.packageJSON.version)} activating (VS Code ${vscode.version}, Node ${process.version})`);
  const c = new Ctx(extension, log);
  ctx = c;
  const statusBar = new StatusBar(c);
  const notifier = new Notifier(c);
  // Chat: one session (history stored per workspace) shown by the sidebar view and editor panels.
  const proposals = new ProposalDocuments();
  const history = new ChatHistoryStore((extension.storageUri ?? extension.globalStorageUri).fsPath, (line, level) =>
    level === 'warn' ? log.warn(line) : log.info(line),
  );
  const chat = new ChatSession(c, history, proposals);
  extension.subscriptions.push(
    c,
    statusBar,
    notifier,
    new ContextKeys(c),
    ...registerCommands(
      c,
      chatCommands(chat, extension.extensionUri, () => TemplatesPanel.show(c)),
    ),
    watchMonitorAlerts(c),
    { dispose: () => MonitorPanel.disposeCurrent() },
    chat,
    proposals,
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, proposals),
    ...registerChatViews(chat, extension.extensionUri),
    ...registerTemplatesPanel(c),
    ...registerDeployFeatures(c),
  );
  // Before the server starts, so it is in place (and focused) before any status arrives.
  await notifier.openWalkthroughOnFirstRun().catch((err: unknown) => log.warn(`could not open the walkthrough: ${String(err)}`));
  const api: ProntoApi = {
    client: () => c.runningClient,
    status: () => c.status,
    lastDefinitions: () => c.lastDefinitions,
    hasEngineApiKey: async () => Boolean(await extension.secrets.get(ENGINE_API_KEY_SECRET)),
    onDidChange: c.onDidChange,
  };
  // One place where start-up errors end: logged and shown, never thrown out of activate(), so the
  // commands (restart, logs) stay usable.
  try {
    await c.start();
    log.info('Pronto activated');
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    log.error(`Pronto could not start its language server: ${msg}`);
    void vscode.window.showErrorMessage(`Pronto could not start its language server: ${msg}`, 'Show Logs').then((pick) => {
      if (pick) log.show();
    });
  } finally {
    statusBar.firstStartFinished();
  }
  return api;
}

export async function deactivate(): Promise<void> {
  await ctx?.stop();
  ctx = undefined;
}
