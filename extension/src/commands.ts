/**
 * Every `pronto.*` command, from one table. Each entry has an `enabled` factory, used when the
 * language server is running (it receives the running client), and optionally a `disabled` one;
 * without it, running the command while the server is down says so instead of throwing
 * (rust-analyzer's pattern). Errors from any command end in one handler: logged, and shown once.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  DownloadModelRequest,
  DownloadProgressNotification,
  ListModelsRequest,
  RestartEngineRequest,
  SetEnabledNotification,
  type CatalogModel,
  type DidAcceptParams,
} from '../../protocol/lsp';
import { ACCEPT_COMMAND, type Ctx } from './ctx';
import { deployCommands } from './deploy/commands';
import { StatsPanel } from './statsPanel';

export type Cmd = (...args: unknown[]) => unknown;

export interface CommandSpec {
  /** Called with the running client; the command runs only while the server is up. */
  enabled?: (ctx: Ctx, client: LanguageClient) => Cmd;
  /** Called when the server is down (or for commands that never need it). */
  disabled?: (ctx: Ctx) => Cmd;
}

/** Returns false, so callers (and tests) can tell the command did not run. */
const serverDown =
  (ctx: Ctx): Cmd =>
  () => {
    const msg =
      'Pronto: the language server is not running. Use "Pronto: Restart Language Server", or "Pronto: Show Logs" to see why it stopped.';
    ctx.log.warn(msg);
    void vscode.window.showWarningMessage(msg, 'Restart Server', 'Show Logs').then((pick) => {
      if (pick === 'Restart Server') void vscode.commands.executeCommand('pronto.restartServer');
      if (pick === 'Show Logs') ctx.log.show();
    });
    return false;
  };

/** Commands that work the same with or without a server. */
const always = (f: (ctx: Ctx) => Cmd): CommandSpec => ({ enabled: (ctx) => f(ctx), disabled: f });

async function setEnabled(ctx: Ctx, client: LanguageClient | undefined, enabled: boolean): Promise<void> {
  // The setting persists the choice; the notification applies it at once.
  await vscode.workspace.getConfiguration('pronto').update('enable', enabled, vscode.ConfigurationTarget.Global);
  if (client) await client.sendNotification(SetEnabledNotification.type, { enabled });
  ctx.log.info(`completions ${enabled ? 'enabled' : 'disabled'}`);
}

async function selectModel(ctx: Ctx): Promise<void> {
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Use this model',
    title: 'Pronto: select a GGUF code model',
    filters: { 'GGUF models': ['gguf'], 'All files': ['*'] },
  });
  const file = picked?.[0];
  if (!file) return;
  await vscode.workspace.getConfiguration('pronto').update('model.path', file.fsPath, vscode.ConfigurationTarget.Global);
  ctx.log.info(`model set to ${file.fsPath}; the engine restarts with it`);
}

function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  return `${Math.round(bytes / 1e6)} MB`;
}

async function downloadModel(ctx: Ctx, client: LanguageClient): Promise<void> {
  const { models, hardware } = await client.sendRequest(ListModelsRequest.type);
  if (!models.length) {
    void vscode.window.showInformationMessage('Pronto: the model catalog is empty.');
    return;
  }
  type Item = vscode.QuickPickItem & { model: CatalogModel };
  const items: Item[] = models.map((m) => ({
    label: `${m.recommended ? '$(star-full) ' : ''}${m.label}`,
    description: `${m.paramsB}B · ${formatSize(m.sizeBytes)}${m.installed ? ' · downloaded' : ''}`,
    detail: m.recommended ? `Recommended for this machine (${hardware})` : undefined,
    model: m,
  }));
  const pick = await vscode.window.showQuickPick(items, {
    title: `Pronto: download a model (this machine: ${hardware})`,
    placeHolder: 'Choose a code model; it is downloaded, verified and then used',
  });
  if (!pick) return;
  const id = pick.model.id;
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Pronto: ${pick.model.label}`, cancellable: true },
    async (progress, token) => {
      let reported = 0;
      const sub = client.onNotification(DownloadProgressNotification.type, (p) => {
        if (p.id !== id) return;
        const pct = p.totalBytes > 0 ? (100 * p.receivedBytes) / p.totalBytes : 0;
        progress.report({
          increment: Math.max(0, pct - reported),
          message: p.state === 'downloading' ? `${formatSize(p.receivedBytes)} of ${formatSize(p.totalBytes)}` : (p.message ?? p.state),
        });
        reported = Math.max(reported, pct);
      });
      try {
        return await client.sendRequest(DownloadModelRequest.type, { id }, token);
      } finally {
        sub.dispose();
      }
    },
  );
  await vscode.workspace.getConfiguration('pronto').update('model.path', result.path, vscode.ConfigurationTarget.Global);
  ctx.log.info(`downloaded ${id} to ${result.path}; now using it`);
  void vscode.window.showInformationMessage(`Pronto: now using ${pick.model.label}.`);
}

/**
 * Accept the next word or line of the visible suggestion with VS Code's own command, and report
 * the inserted text (seen as the document change the command causes) to the server.
 */
async function acceptPartial(ctx: Ctx, kind: 'word' | 'line'): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const builtin = kind === 'word' ? 'editor.action.inlineSuggest.acceptNextWord' : 'editor.action.inlineSuggest.acceptNextLine';
  if (!editor) {
    await vscode.commands.executeCommand(builtin);
    return;
  }
  let inserted = '';
  const sub = vscode.workspace.onDidChangeTextDocument((e) => {
    if (e.document === editor.document) for (const c of e.contentChanges) inserted += c.text;
  });
  try {
    await vscode.commands.executeCommand(builtin);
  } finally {
    sub.dispose();
  }
  if (inserted) ctx.notifyAccepted({ uri: editor.document.uri.toString(), text: inserted, kind });
}

/** Quick pick opened by clicking the status bar item. */
async function showMenu(ctx: Ctx): Promise<void> {
  const status = ctx.status;
  const running = ctx.runningClient !== undefined;
  const enabled = status?.enabled ?? vscode.workspace.getConfiguration('pronto').get<boolean>('enable', true);
  type Item = vscode.QuickPickItem & { command?: string };
  const items: Item[] = [];
  if (running) {
    items.push(
      enabled
        ? { label: '$(circle-slash) Disable completions', command: 'pronto.disable' }
        : { label: '$(check) Enable completions', command: 'pronto.enable' },
      { label: '$(debug-restart) Restart engine', command: 'pronto.restartEngine' },
    );
  }
  items.push({ label: '$(file) Select model file…', command: 'pronto.selectModel' });
  if (running) items.push({ label: '$(cloud-download) Download a model…', command: 'pronto.downloadModel' });
  items.push({ label: '$(output) Show logs', command: 'pronto.showLogs' });
  items.push({ label: '$(graph) Show statistics', command: 'pronto.showStatistics' });
  items.push({ label: '$(refresh) Restart language server', command: 'pronto.restartServer' });
  items.push({ label: '$(gear) Settings', command: 'workbench.action.openSettings', description: 'pronto.' });
  const title = status
    ? `Pronto: ${status.state}${status.model ? ` · ${status.model}` : ''}`
    : running
      ? 'Pronto'
      : 'Pronto: server not running';
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: status?.message });
  if (!pick?.command) return;
  if (pick.command === 'workbench.action.openSettings') await vscode.commands.executeCommand(pick.command, 'pronto.');
  else await vscode.commands.executeCommand(pick.command);
}

export const commandTable: Record<string, CommandSpec> = {
  'pronto.showMenu': always((ctx) => () => showMenu(ctx)),
  'pronto.showLogs': always((ctx) => () => ctx.log.show()),
  'pronto.restartServer': always((ctx) => async () => {
    await ctx.restart();
    void vscode.window.setStatusBarMessage('Pronto: language server restarted', 3000);
  }),
  'pronto.stopServer': always((ctx) => () => ctx.stop()),
  'pronto.startServer': always((ctx) => () => ctx.start()),
  'pronto.selectModel': always((ctx) => () => selectModel(ctx)),
  'pronto.enable': {
    enabled: (ctx, client) => () => setEnabled(ctx, client, true),
    disabled: (ctx) => () => setEnabled(ctx, undefined, true),
  },
  'pronto.disable': {
    enabled: (ctx, client) => () => setEnabled(ctx, client, false),
    disabled: (ctx) => () => setEnabled(ctx, undefined, false),
  },
  'pronto.toggle': {
    enabled: (ctx, client) => () => setEnabled(ctx, client, !(ctx.status?.enabled ?? true)),
  },
  'pronto.restartEngine': {
    enabled: (ctx, client) => async () => {
      ctx.log.info('restarting the engine');
      await client.sendRequest(RestartEngineRequest.type);
    },
  },
  'pronto.downloadModel': { enabled: (ctx, client) => () => downloadModel(ctx, client) },
  // Opens with the server down too: the panel says so, and shows figures once it is back.
  'pronto.showStatistics': always((ctx) => () => StatsPanel.show(ctx)),
  'pronto.acceptWord': always((ctx) => () => acceptPartial(ctx, 'word')),
  'pronto.acceptLine': always((ctx) => () => acceptPartial(ctx, 'line')),
  [ACCEPT_COMMAND]: always((ctx) => (params: unknown) => ctx.notifyAccepted(params as DidAcceptParams)),
  // Deploy Engine…, Promote, Roll Back, Show Rollout Status, Use Deployed Endpoint, … (extension/src/deploy/)
  ...deployCommands,
};

/** Registers every command of the table; the right factory is chosen each time one runs. */
export function registerCommands(ctx: Ctx): vscode.Disposable[] {
  return Object.entries(commandTable).map(([id, spec]) =>
    vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      const client = ctx.runningClient;
      const cmd = client && spec.enabled ? spec.enabled(ctx, client) : (spec.disabled ?? serverDown)(ctx);
      try {
        return await cmd(...args);
      } catch (err) {
        if (err instanceof vscode.CancellationError) return undefined;
        const msg = err instanceof Error ? err.message : String(err);
        ctx.log.error(`${id} failed: ${msg}`);
        void vscode.window.showErrorMessage(`Pronto: ${id.replace('pronto.', '')} failed: ${msg}`);
        return undefined;
      }
    }),
  );
}
