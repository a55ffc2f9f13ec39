/**
 * Every `pronto.*` command, from one table. Each entry has an `enabled` factory, used when the
 * language server is running (it receives the running client), and optionally a `disabled` one;
 * without it, running the command while the server is down says so instead of throwing
 * (rust-analyzer's pattern). Errors from any command end in one handler: logged, and shown once.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  CheckModelRequest,
  DownloadModelRequest,
  DownloadProgressNotification,
  ListModelsRequest,
  RestartEngineRequest,
  SetEnabledNotification,
  type CatalogModel,
  type DidAcceptParams,
  type DownloadFailure,
  type DownloadModelParams,
  type ListModelsResult,
} from '../../protocol/lsp';
import { type LanguageSwitches, languageEnabled, withLanguage } from '../../protocol/languages';
import { ACCEPT_COMMAND, ENGINE_API_KEY_SECRET, type Ctx } from './ctx';
import { deployCommands } from './deploy/commands';
import { DownloadMeter, describeProgress, formatSize } from './downloadProgress';
import { openWalkthrough } from './notifier';
import { MonitorPanel } from './monitorPanel';
import { menuHint } from './statusView';

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
      'Pronto: the language server is not running. Use "Pronto: Start Language Server", or "Pronto: Show Logs" to see why it stopped.';
    ctx.log.warn(msg);
    void vscode.window.showWarningMessage(msg, 'Start Server', 'Show Logs').then((pick) => {
      if (pick === 'Start Server') void vscode.commands.executeCommand('pronto.restartServer');
      if (pick === 'Show Logs') ctx.log.show();
    });
    return false;
  };

/** Commands that work the same with or without a server. */
export const always = (f: (ctx: Ctx) => Cmd): CommandSpec => ({ enabled: (ctx) => f(ctx), disabled: f });

async function setEnabled(ctx: Ctx, client: LanguageClient | undefined, enabled: boolean): Promise<void> {
  // The setting persists the choice; the notification applies it at once.
  await vscode.workspace.getConfiguration('pronto').update('enable', enabled, vscode.ConfigurationTarget.Global);
  if (client) await client.sendNotification(SetEnabledNotification.type, { enabled });
  ctx.log.info(`completions ${enabled ? 'enabled' : 'disabled'}`);
}

/**
 * Select Model File…: only .gguf files are offered; the pick is checked by the server
 * (pronto/checkModel: magic, version, weights, architecture, FIM tokens) before it becomes the
 * setting, so a wrong file is refused at once with what is wrong and what to pick instead, and the
 * engine never starts on it. With the server down the setting is saved and checked at its start.
 */
async function selectModel(ctx: Ctx, purpose: 'completion' | 'chat' = 'completion'): Promise<void> {
  for (;;) {
    const picked = await vscode.window.showOpenDialog({
      canSelectMany: false,
      canSelectFolders: false,
      openLabel: 'Use this model',
      title: purpose === 'chat' ? 'Pronto: select a GGUF instruct (chat) model' : 'Pronto: select a GGUF code model',
      filters: { 'GGUF models': ['gguf'] },
    });
    const file = picked?.[0];
    if (!file) return;
    const client = ctx.runningClient;
    if (client) {
      const check = await client.sendRequest(CheckModelRequest.type, { path: file.fsPath, purpose });
      if (!check.ok) {
        ctx.log.warn(`refused ${file.fsPath}: ${check.problem}`);
        const again = 'Select Another File…';
        const pick = await vscode.window.showErrorMessage(`Pronto: ${check.problem} ${check.advice}`, again, 'Download a Model…');
        if (pick === 'Download a Model…') return void (await vscode.commands.executeCommand('pronto.downloadModel'));
        if (pick === again) continue;
        return;
      }
      for (const note of check.notes) void vscode.window.showInformationMessage(`Pronto: ${note}`);
    }
    if (purpose === 'chat') {
      // Loaded next to the code model (the server restarts the engine on the settings change).
      await vscode.workspace.getConfiguration('pronto').update('chat.modelPath', file.fsPath, vscode.ConfigurationTarget.Global);
      ctx.log.info(`chat model set to ${file.fsPath}; the engine restarts with it`);
    } else {
      await useModelFile(ctx, file.fsPath);
    }
    return;
  }
}

/** Makes `path` the model (the server restarts the engine on the settings change). */
async function useModelFile(ctx: Ctx, path: string): Promise<void> {
  const config = vscode.workspace.getConfiguration('pronto');
  await config.update('model.path', path, vscode.ConfigurationTarget.Global);
  ctx.log.info(`model set to ${path}; the engine restarts with it`);
}

/**
 * Switches completions on or off for the active editor's language in the user settings
 * (pronto.completion.languages, Copilot's convention); the server applies it on the next keystroke.
 */
async function toggleLanguage(ctx: Ctx): Promise<void> {
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  if (!languageId) {
    void vscode.window.showInformationMessage('Pronto: open a file first; completions are switched per language.');
    return;
  }
  const config = vscode.workspace.getConfiguration('pronto');
  const on = !languageEnabled(config.get<LanguageSwitches>('completion.languages'), languageId);
  const user = config.inspect<LanguageSwitches>('completion.languages')?.globalValue;
  await config.update('completion.languages', withLanguage(user, languageId, on), vscode.ConfigurationTarget.Global);
  ctx.log.info(`completions ${on ? 'on' : 'off'} for ${languageId}`);
  void vscode.window.setStatusBarMessage(`Pronto: completions ${on ? 'on' : 'off'} for ${languageId}`, 3000);
}

/** Try the demo model: random weights, meaningless suggestions; only when the user asks for it. */
async function useDemoModel(ctx: Ctx): Promise<void> {
  const config = vscode.workspace.getConfiguration('pronto');
  await config.update('model.demo', true, vscode.ConfigurationTarget.Global);
  // A model set in the user settings would win over the demo; the user asked for the demo.
  if (config.inspect<string>('model.path')?.globalValue) await config.update('model.path', undefined, vscode.ConfigurationTarget.Global);
  ctx.log.info('using the demo model (its suggestions are meaningless)');
  void vscode.window
    .showWarningMessage(
      'Pronto: running the demo model. Its suggestions are random text: they show how Pronto works, not what a real model suggests.',
      'Choose a Real Model…',
    )
    .then((pick) => {
      if (pick) void vscode.commands.executeCommand('pronto.chooseModel');
    });
}

/** Choose a Model…: the three ways to get one (the menu's first entry, the walkthrough's button). */
async function chooseModel(ctx: Ctx): Promise<void> {
  type Item = vscode.QuickPickItem & { command: string };
  const current = ctx.status?.model;
  const items: Item[] = [
    {
      label: '$(cloud-download) Download a model…',
      detail: 'Qwen2.5-Coder or DeepSeek-Coder, with a suggestion for this machine; verified before use.',
      command: 'pronto.downloadModel',
    },
    { label: '$(file) Select a GGUF file…', detail: 'A code model you already have on disk.', command: 'pronto.selectModel' },
    {
      label: '$(beaker) Try the demo model',
      detail: 'Random weights: the suggestions are meaningless. Shows how Pronto works, offline.',
      command: 'pronto.useDemoModel',
    },
  ];
  const pick = await vscode.window.showQuickPick(items, {
    title: 'Pronto: choose a model',
    placeHolder: current ? `Now: ${current}${ctx.status?.demoModel ? ' (demo)' : ''}` : 'No model chosen yet',
  });
  if (pick) await vscode.commands.executeCommand(pick.command);
}

/** Groups catalog files by model, in catalog order. */
function byModel(models: CatalogModel[]): CatalogModel[][] {
  const groups = new Map<string, CatalogModel[]>();
  for (const m of models) groups.set(m.model, [...(groups.get(m.model) ?? []), m]);
  return [...groups.values()];
}

/**
 * Download a Model…: first the model (the one suggested for this machine starred), then, when its
 * publisher offers several, the version (quantization) with its download size, the memory it needs,
 * what it costs in quality and whether it fits the GPU or RAM here.
 */
async function pickCatalogModel(list: ListModelsResult): Promise<CatalogModel | undefined> {
  type ModelItem = vscode.QuickPickItem & { versions: CatalogModel[] };
  const groups = byModel(list.models);
  const items: ModelItem[] = groups.map((versions) => {
    const first = versions[0]!;
    const recommended = versions.some((v) => v.recommended);
    const bits = [...new Set(versions.map((v) => v.bits))].sort((a, b) => a - b);
    const smallest = Math.min(...versions.map((v) => v.sizeBytes));
    return {
      label: `${recommended ? '$(star-full) ' : ''}${first.modelLabel}`,
      description: `${bits.join('/')}-bit · ${versions.length > 1 ? 'from ' : ''}${formatSize(smallest)}${versions.some((v) => v.installed) ? ' · downloaded' : ''}`,
      detail: recommended ? `$(star-full) Suggested for this machine: ${list.suggestion}` : undefined,
      versions,
    };
  });
  const model = await vscode.window.showQuickPick(items, {
    title: 'Pronto: download a model',
    placeHolder: `This machine: ${list.hardware}`,
    matchOnDetail: true,
  });
  if (!model) return undefined;
  if (model.versions.length === 1) return model.versions[0];
  type VersionItem = vscode.QuickPickItem & { version: CatalogModel };
  const versions: VersionItem[] = [...model.versions]
    .sort((a, b) => b.bits - a.bits)
    .map((v) => ({
      label: `${v.suggestedVersion ? '$(star-full) ' : ''}${v.quantLabel}`,
      description: `${formatSize(v.sizeBytes)} download · needs ${formatSize(v.memoryBytes)} · ${v.fitNote}${v.installed ? ' · downloaded' : ''}`,
      detail: v.quality,
      version: v,
    }));
  const pick = await vscode.window.showQuickPick(versions, {
    title: `Pronto: ${model.versions[0]!.modelLabel}, which version?`,
    placeHolder: 'Fewer bits: smaller and faster, a little less accurate',
  });
  return pick?.version;
}

async function downloadModel(ctx: Ctx, client: LanguageClient): Promise<void> {
  const list = await client.sendRequest(ListModelsRequest.type);
  if (!list.models.length) {
    void vscode.window.showInformationMessage('Pronto: the model catalog is empty.');
    return;
  }
  const model = await pickCatalogModel(list);
  if (model) await downloadWithRetry(ctx, client, model);
}

const RETRY = 'Retry';
const USE_MIRROR = 'Use a Mirror…';
const LOCAL_FILE = 'Select a Local File…';

/**
 * Downloads `model` with a progress notification (percent, size, speed, time left); a failure is
 * one plain sentence from the server with Retry, Use a Mirror… (pronto.model.mirror) and Select a
 * Local File… as the ways on.
 */
async function downloadWithRetry(ctx: Ctx, client: LanguageClient, model: CatalogModel): Promise<void> {
  let mirror: string | undefined;
  for (;;) {
    const params: DownloadModelParams = { id: model.id, ...(mirror !== undefined ? { mirror } : {}) };
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Downloading ${model.modelLabel} (${model.quant})`, cancellable: true },
      async (progress, token) => {
        const meter = new DownloadMeter();
        let shown = 0;
        const sub = client.onNotification(DownloadProgressNotification.type, (p) => {
          if (p.id !== model.id) return;
          if (p.state === 'verifying') return progress.report({ message: 'checking the SHA-256…' });
          if (p.state !== 'downloading') return;
          const { percent, message } = describeProgress(p.receivedBytes, p.totalBytes, meter.sample(p.receivedBytes, Date.now()));
          progress.report({ increment: Math.max(0, percent - shown), message });
          shown = Math.max(shown, percent);
        });
        try {
          return { ok: true as const, result: await client.sendRequest(DownloadModelRequest.type, params, token) };
        } catch (err) {
          if (token.isCancellationRequested) return { ok: false as const, cancelled: true };
          return { ok: false as const, cancelled: false, err };
        } finally {
          sub.dispose();
        }
      },
    );
    if (outcome.ok) {
      await useModelFile(ctx, outcome.result.path);
      void vscode.window.showInformationMessage(`Pronto: downloaded and checked ${model.label}; now using it.`);
      return;
    }
    if (outcome.cancelled) return;
    const failure = (outcome.err as { data?: DownloadFailure }).data;
    const sentence = failure?.sentence ?? (outcome.err instanceof Error ? outcome.err.message : String(outcome.err));
    const pick = await vscode.window.showErrorMessage(`Pronto: ${sentence}`, RETRY, USE_MIRROR, LOCAL_FILE);
    if (pick === RETRY) continue;
    if (pick === USE_MIRROR) {
      const chosen = await askForMirror();
      if (chosen === undefined) return;
      mirror = chosen;
      continue;
    }
    if (pick === LOCAL_FILE) await vscode.commands.executeCommand('pronto.selectModel');
    return;
  }
}

/** Asks for a mirror of Hugging Face and saves it as pronto.model.mirror; undefined when dismissed. */
async function askForMirror(): Promise<string | undefined> {
  const config = vscode.workspace.getConfiguration('pronto');
  const value = await vscode.window.showInputBox({
    title: 'Pronto: a mirror of Hugging Face',
    prompt: 'Base URL that serves <repo>/resolve/<revision>/<file> like huggingface.co. Empty: Hugging Face.',
    value: config.get<string>('model.mirror', ''),
    placeHolder: 'https://hf-mirror.example.com',
    ignoreFocusOut: true,
    validateInput: (v) => {
      if (!v.trim()) return undefined;
      try {
        const url = new URL(v.trim());
        return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : 'An http:// or https:// URL, please.';
      } catch {
        return 'Not a URL.';
      }
    },
  });
  if (value === undefined) return undefined;
  const mirror = value.trim().replace(/\/+$/, '');
  await config.update('model.mirror', mirror, vscode.ConfigurationTarget.Global);
  return mirror;
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

/** Asks for the remote engine's API key and keeps it in the secret storage ('' clears it). */
async function setEngineApiKey(ctx: Ctx): Promise<void> {
  const existing = await ctx.extension.secrets.get(ENGINE_API_KEY_SECRET);
  const key = await vscode.window.showInputBox({
    title: 'Pronto: API key of the remote engine (pronto.engine.url)',
    prompt: existing
      ? 'A key is stored. Enter a new one, or leave this empty and press Enter to remove it.'
      : 'Kept in VS Code’s secret storage, never in settings.json.',
    password: true,
    ignoreFocusOut: true,
    placeHolder: 'API key',
    validateInput: (v) => (/\s/.test(v) ? 'An API key has no spaces or line breaks.' : undefined),
  });
  if (key === undefined) return;
  if (key) await ctx.extension.secrets.store(ENGINE_API_KEY_SECRET, key);
  else await ctx.extension.secrets.delete(ENGINE_API_KEY_SECRET);
  void vscode.window.showInformationMessage(key ? 'Pronto: remote engine API key saved.' : 'Pronto: remote engine API key removed.');
}

/**
 * Quick pick opened by clicking the status bar item. The first (pre-selected) entry is Choose a
 * model…: a stray Enter opens a picker instead of switching completions off.
 */
async function showMenu(ctx: Ctx): Promise<void> {
  const status = ctx.status;
  const running = ctx.runningClient !== undefined;
  const enabled = status?.enabled ?? vscode.workspace.getConfiguration('pronto').get<boolean>('enable', true);
  type Item = vscode.QuickPickItem & { command?: string; args?: unknown[] };
  const modelNow = status?.needsModel ? 'none chosen' : status?.model ? `${status.model}${status.demoModel ? ' (demo)' : ''}` : undefined;
  const items: Item[] = [{ label: '$(symbol-file) Choose a model…', description: modelNow, command: 'pronto.chooseModel' }];
  const languageId = vscode.window.activeTextEditor?.document.languageId;
  if (languageId) {
    const on = languageEnabled(vscode.workspace.getConfiguration('pronto').get<LanguageSwitches>('completion.languages'), languageId);
    items.push({
      label: on ? `$(check) Completions in ${languageId}: on` : `$(circle-slash) Completions in ${languageId}: off`,
      description: on ? 'turn off for this language' : 'turn on for this language',
      command: 'pronto.toggleLanguage',
    });
  }
  if (running && !status?.needsModel) {
    items.push(
      enabled
        ? { label: '$(circle-slash) Disable completions', description: 'everywhere', command: 'pronto.disable' }
        : { label: '$(check) Enable completions', description: 'everywhere', command: 'pronto.enable' },
      { label: '$(debug-restart) Restart engine', command: 'pronto.restartEngine' },
    );
  }
  items.push({ label: '', kind: vscode.QuickPickItemKind.Separator });
  items.push({ label: '$(output) Show logs', command: 'pronto.showLogs' });
  items.push({ label: '$(graph-line) Show monitor', command: 'pronto.showMonitor' });
  items.push({ label: '$(gear) Settings', command: 'workbench.action.openSettings', args: ['pronto.'] });
  items.push({ label: '$(book) Get started', command: 'pronto.openWalkthrough' });
  items.push({ label: '$(refresh) Restart language server', command: 'pronto.restartServer' });
  const title = status ? `Pronto: ${status.needsModel ? 'no model' : status.state}${status.model ? ` · ${status.model}` : ''}` : 'Pronto';
  const pick = await vscode.window.showQuickPick(items, { title, placeHolder: menuHint(status, running) });
  if (!pick?.command) return;
  await vscode.commands.executeCommand(pick.command, ...(pick.args ?? []));
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
  'pronto.selectChatModel': always((ctx) => () => selectModel(ctx, 'chat')),
  'pronto.chooseModel': always((ctx) => () => chooseModel(ctx)),
  'pronto.toggleLanguage': always((ctx) => () => toggleLanguage(ctx)),
  'pronto.useDemoModel': always((ctx) => () => useDemoModel(ctx)),
  'pronto.openWalkthrough': always(() => () => openWalkthrough()),
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
  // Works with the server down too: the key is stored, and the server gets it when it starts.
  'pronto.setEngineApiKey': always((ctx) => () => setEngineApiKey(ctx)),
  // Open with the server down too: the panel says so, and shows figures once it is back. The
  // Statistics panel became the monitor; its command stays as an alias.
  'pronto.showMonitor': always((ctx) => () => MonitorPanel.show(ctx)),
  'pronto.showStatistics': always((ctx) => () => MonitorPanel.show(ctx)),

  'pronto.acceptWord': always((ctx) => () => acceptPartial(ctx, 'word')),
  'pronto.acceptLine': always((ctx) => () => acceptPartial(ctx, 'line')),
  [ACCEPT_COMMAND]: always((ctx) => (params: unknown) => ctx.notifyAccepted(params as DidAcceptParams)),
  // Deploy Engine…, Promote, Roll Back, Show Rollout Status, Use Deployed Endpoint, … (extension/src/deploy/)
  ...deployCommands,
};

/**
 * Registers every command of the table (and of feature tables, e.g. chat's); the right factory is
 * chosen each time one runs.
 */
export function registerCommands(ctx: Ctx, extra: Record<string, CommandSpec> = {}): vscode.Disposable[] {
  return Object.entries({ ...commandTable, ...extra }).map(([id, spec]) =>
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
