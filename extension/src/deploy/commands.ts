/**
 * The Deploy commands (the `pronto.deploy.*` rows of the command table in ../commands.ts): they
 * ask the sidecar's rollout controller (protocol/deploy.ts) and render what it answers. Problems
 * in `.pronto/deploy.yaml` also show as diagnostics on the file, at their line.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  DeployEndpointsRequest,
  DeployManifestsRequest,
  DeployManualRequest,
  DeployProgressNotification,
  DeployScaleRequest,
  DeployStarterRequest,
  DeployStartRequest,
  DeployStatusRequest,
  type DeployConfigProblem,
  type DeployProgressParams,
} from '../../../protocol/deploy';
import type { CommandSpec } from '../commands';
import { type Ctx, ENGINE_API_KEY_SECRET } from '../ctx';
import { RolloutView } from './rolloutView';

export const CONFIG_RELATIVE = path.join('.pronto', 'deploy.yaml');
const diagnostics = vscode.languages.createDiagnosticCollection('pronto-deploy');

/** The workspace folders' deploy configs; the one to use (asks when there are several). */
async function pickConfig(mustExist: boolean): Promise<string | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (!folders.length) {
    void vscode.window.showWarningMessage('Pronto: open a folder first: the deploy config lives in its .pronto/deploy.yaml.');
    return undefined;
  }
  const candidates = folders.map((f) => path.join(f.uri.fsPath, CONFIG_RELATIVE));
  const existing: string[] = [];
  for (const c of candidates) {
    try {
      await vscode.workspace.fs.stat(vscode.Uri.file(c));
      existing.push(c);
    } catch {
      // Not in this folder.
    }
  }
  const pool = mustExist ? existing : candidates;
  if (!pool.length) {
    const pick = await vscode.window.showWarningMessage('Pronto: this workspace has no .pronto/deploy.yaml yet.', 'Create Deploy Config');
    if (pick) await vscode.commands.executeCommand('pronto.deploy.createConfig');
    return undefined;
  }
  if (pool.length === 1) return pool[0];
  const pick = await vscode.window.showQuickPick(pool, { title: 'Pronto: which deployment?' });
  return pick;
}

function showProblems(configFile: string, problems: DeployConfigProblem[]): void {
  diagnostics.set(
    vscode.Uri.file(configFile),
    problems.map((p) => {
      const pos = new vscode.Position(Math.max(0, p.line - 1), Math.max(0, p.column - 1));
      const d = new vscode.Diagnostic(
        new vscode.Range(pos, pos.translate(0, 200)),
        `${p.path ? `${p.path}: ` : ''}${p.message}`,
        vscode.DiagnosticSeverity.Error,
      );
      d.source = 'pronto deploy';
      return d;
    }),
  );
}

/** Checks the config; problems go to the Problems view and an error message. */
async function checkedStatus(ctx: Ctx, client: LanguageClient, configFile: string) {
  const status = await client.sendRequest(DeployStatusRequest.type, { configFile });
  if (!status.ok) {
    showProblems(configFile, status.problems);
    const first = status.problems[0];
    ctx.log.warn(`deploy config problems: ${status.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`).join('; ')}`);
    void vscode.window
      .showErrorMessage(
        `Pronto: ${CONFIG_RELATIVE} has ${status.problems.length} problem(s); line ${first?.line}: ${first?.message}`,
        'Open Config',
      )
      .then(
        (pick) =>
          pick &&
          vscode.window.showTextDocument(vscode.Uri.file(configFile), {
            selection: new vscode.Range(Math.max(0, (first?.line ?? 1) - 1), 0, Math.max(0, (first?.line ?? 1) - 1), 0),
          }),
      );
    return undefined;
  }
  diagnostics.delete(vscode.Uri.file(configFile));
  return status;
}

async function createConfig(ctx: Ctx, client: LanguageClient): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showWarningMessage('Pronto: open a folder first.');
    return;
  }
  const file = vscode.Uri.file(path.join(folder.uri.fsPath, CONFIG_RELATIVE));
  try {
    await vscode.workspace.fs.stat(file);
    await vscode.window.showTextDocument(file);
    void vscode.window.showInformationMessage('Pronto: the deploy config exists already; here it is.');
    return;
  } catch {
    // Create it.
  }
  const kind = await vscode.window.showQuickPick(
    [
      { label: 'Local platform', description: 'engine processes on this machine behind HAProxy', target: 'local' as const },
      { label: 'Kubernetes', description: 'a context of your kubeconfig', target: 'kubernetes' as const },
    ],
    { title: 'Pronto: where should the engine run?' },
  );
  if (!kind) return;
  const modelPath = vscode.workspace.getConfiguration('pronto').get<string>('model.path') || undefined;
  const name =
    folder.name
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^[^a-z]+/, '')
      .replace(/-+$/, '') || undefined;
  const { text } = await client.sendRequest(DeployStarterRequest.type, { kind: kind.target, name, modelPath });
  await vscode.workspace.fs.writeFile(file, Buffer.from(text, 'utf8'));
  ctx.log.info(`wrote ${file.fsPath}`);
  await vscode.window.showTextDocument(file);
}

async function deploy(ctx: Ctx, client: LanguageClient): Promise<void> {
  const configFile = await pickConfig(true);
  if (!configFile) return;
  const status = await checkedStatus(ctx, client, configFile);
  if (!status) return;
  if (status.drivenBy && !status.drivenHere) {
    const pick = await vscode.window.showWarningMessage(
      `Pronto: a rollout of ${status.name} is in progress (${status.rollout?.phase}), driven by ${status.drivenBy}.`,
      'Show Rollout Status',
    );
    if (pick) RolloutView.show(ctx, configFile);
    return;
  }
  const resuming = status.interrupted && status.rollout;
  const confirm = await vscode.window.showQuickPick(
    [
      {
        label: resuming ? `$(debug-continue) Resume the interrupted rollout of ${status.name}` : `$(rocket) Deploy ${status.name}`,
        description: resuming
          ? `phase ${status.rollout!.phase}`
          : `revision ${status.revision}${status.active ? `, now on ${status.active}` : ', first deploy'}`,
        detail: status.platform,
      },
    ],
    { title: 'Pronto: Deploy Engine', placeHolder: 'Enter to start; the rollout view shows each gate' },
  );
  if (!confirm) return;
  RolloutView.show(ctx, configFile);
  await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Pronto: deploying ${status.name}`, cancellable: true },
    async (progress, token) => {
      let finish: (p: DeployProgressParams) => void = () => undefined;
      const finished = new Promise<DeployProgressParams>((resolve) => (finish = resolve));
      const sub = client.onNotification(DeployProgressNotification.type, (p) => {
        if (p.configFile !== configFile) return;
        progress.report({ message: `${p.rollout.phase}: ${p.message}` });
        RolloutView.progress(p);
        if (p.finished) finish(p);
      });
      const cancel = token.onCancellationRequested(() => {
        ctx.log.info('deploy cancelled: rolling back');
        progress.report({ message: 'cancelled: rolling back to the stable colour' });
        void client
          .sendRequest(DeployManualRequest.type, { configFile, action: 'abort' })
          .catch((err: Error) => ctx.log.warn(`abort: ${err.message}`));
      });
      try {
        const started = await client.sendRequest(DeployStartRequest.type, { configFile });
        ctx.log.info(`rollout ${started.rolloutId} ${started.resumed ? 'resumed' : 'started'}`);
        const end = await finished;
        const r = end.rollout;
        if (end.error) throw new Error(end.error);
        if (r.phase === 'succeeded') {
          void vscode.window
            .showInformationMessage(`Pronto: ${status.name} is live on ${r.candidate}.`, 'Use Deployed Endpoint')
            .then((pick) => {
              if (pick) void vscode.commands.executeCommand('pronto.deploy.useEndpoint');
            });
        } else {
          void vscode.window
            .showErrorMessage(
              `Pronto: the rollout of ${status.name} ${r.phase === 'aborted' ? 'was aborted' : 'rolled back'}: ${r.reason}`,
              'Show Rollout Status',
            )
            .then((pick) => {
              if (pick) RolloutView.show(ctx, configFile);
            });
        }
      } finally {
        sub.dispose();
        cancel.dispose();
      }
    },
  );
}

async function manual(ctx: Ctx, client: LanguageClient, action: 'promote' | 'abort'): Promise<void> {
  const configFile = await pickConfig(true);
  if (!configFile) return;
  if (action === 'abort') {
    const ok = await vscode.window.showWarningMessage(
      'Pronto: roll back the rollout in progress to the stable colour?',
      { modal: true },
      'Roll Back',
    );
    if (!ok) return;
  }
  const { message } = await client.sendRequest(DeployManualRequest.type, { configFile, action });
  ctx.log.info(`${action}: ${message}`);
  void vscode.window.showInformationMessage(`Pronto: ${message}`);
  RolloutView.refresh();
}

async function useEndpoint(ctx: Ctx, client: LanguageClient): Promise<void> {
  const configFile = await pickConfig(true);
  if (!configFile) return;
  const endpoints = await client.sendRequest(DeployEndpointsRequest.type, { configFile });
  if (!endpoints.active) {
    throw new Error('the deployment has no reachable active service yet (nothing deployed, or on Kubernetes target.publicUrl is not set)');
  }
  // The key first (Ctx hands a changed secret to the sidecar: pronto/setEngineApiKey), then the URL
  // (the sidecar reconnects on the settings change).
  await ctx.extension.secrets.store(ENGINE_API_KEY_SECRET, endpoints.active.apiKey);
  await vscode.workspace.getConfiguration('pronto').update('engine.url', endpoints.active.url, vscode.ConfigurationTarget.Global);
  ctx.log.info(`completions and chat now use ${endpoints.active.url} (API key in SecretStorage as ${ENGINE_API_KEY_SECRET})`);
  void vscode.window.showInformationMessage(
    `Pronto: completions and chat now use ${endpoints.active.url}; the API key is kept in VS Code's secret storage.`,
  );
}

async function showManifests(client: LanguageClient): Promise<void> {
  const configFile = await pickConfig(true);
  if (!configFile) return;
  const { yaml } = await client.sendRequest(DeployManifestsRequest.type, { configFile });
  const doc = await vscode.workspace.openTextDocument({ language: 'yaml', content: yaml });
  await vscode.window.showTextDocument(doc, { preview: false });
}

async function scale(ctx: Ctx, client: LanguageClient): Promise<void> {
  const configFile = await pickConfig(true);
  if (!configFile) return;
  const value = await vscode.window.showInputBox({
    title: 'Pronto: replicas of the active colour',
    prompt: 'Engine processes (local) or pods (Kubernetes); each takes the config’s gpus',
    validateInput: (v) => (/^\d+$/.test(v.trim()) && Number(v) <= 64 ? undefined : 'a whole number from 0 to 64'),
  });
  if (value === undefined) return;
  const r = await client.sendRequest(DeployScaleRequest.type, { configFile, replicas: Number(value.trim()) });
  ctx.log.info(`scaled ${r.colour} to ${r.replicas}`);
  void vscode.window.showInformationMessage(`Pronto: ${r.colour} now runs ${r.replicas} replica(s).`);
  RolloutView.refresh();
}

export const deployCommands: Record<string, CommandSpec> = {
  'pronto.deploy.createConfig': { enabled: (ctx, client) => () => createConfig(ctx, client) },
  'pronto.deploy.start': { enabled: (ctx, client) => () => deploy(ctx, client) },
  'pronto.deploy.promote': { enabled: (ctx, client) => () => manual(ctx, client, 'promote') },
  'pronto.deploy.rollBack': { enabled: (ctx, client) => () => manual(ctx, client, 'abort') },
  'pronto.deploy.showStatus': {
    enabled: (ctx) => async () => {
      const configFile = await pickConfig(true);
      if (configFile) RolloutView.show(ctx, configFile);
    },
  },
  'pronto.deploy.useEndpoint': { enabled: (ctx, client) => () => useEndpoint(ctx, client) },
  'pronto.deploy.showManifests': { enabled: (_ctx, client) => () => showManifests(client) },
  'pronto.deploy.scale': { enabled: (ctx, client) => () => scale(ctx, client) },
};

/** Re-checks the deploy config when it is saved, so its problems show at their lines. */
export function registerDeployFeatures(ctx: Ctx): vscode.Disposable[] {
  return [
    diagnostics,
    { dispose: () => RolloutView.disposeCurrent() },
    vscode.workspace.onDidSaveTextDocument((doc) => {
      if (!doc.uri.fsPath.endsWith(CONFIG_RELATIVE)) return;
      const client = ctx.runningClient;
      if (!client) return;
      void client.sendRequest(DeployStatusRequest.type, { configFile: doc.uri.fsPath }).then(
        (s) => (s.ok ? diagnostics.delete(doc.uri) : showProblems(doc.uri.fsPath, s.problems)),
        (err: Error) => ctx.log.warn(`deploy config check failed: ${err.message}`),
      );
    }),
  ];
}
