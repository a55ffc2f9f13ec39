/**
 * "Pronto: Rollout": the phase of the rollout, each gate with its threshold and measured value,
 * and the history, live. The page (media/rollout.ts) renders `state` messages; this side asks the
 * sidecar for `pronto/deploy/status` every second while the panel is visible (a rollout may be
 * driven by another process: a CI job, a terminal) and forwards the progress of a rollout this
 * window drives as it comes. Security as in monitorPanel.ts (webviewHtml.ts: CSP `default-src 'none'`,
 * a nonce from crypto.randomBytes), resources only from dist/media and media, zod-checked messages.
 */
import * as vscode from 'vscode';
import {
  DeployStatusRequest,
  type DeployProgressParams,
  type ExtensionToRolloutView,
  rolloutViewToExtensionSchema,
  type RolloutViewState,
} from '../../../protocol/deploy';
import type { Ctx } from '../ctx';
import { webviewHtml } from '../webviewHtml';

const POLL_MS = 1000;

export class RolloutView {
  private static current: RolloutView | undefined;

  static show(ctx: Ctx, configFile: string): void {
    if (RolloutView.current) {
      RolloutView.current.configFile = configFile;
      RolloutView.current.panel.reveal(undefined, true);
      void RolloutView.current.poll();
      return;
    }
    const ext = ctx.extension.extensionUri;
    const panel = vscode.window.createWebviewPanel(
      'pronto.rollout',
      'Pronto: Rollout',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      {
        enableScripts: true,
        localResourceRoots: [vscode.Uri.joinPath(ext, 'dist', 'media'), vscode.Uri.joinPath(ext, 'media')],
      },
    );
    RolloutView.current = new RolloutView(ctx, panel, configFile);
  }

  /** Progress of a rollout this window drives: shown at once, without waiting for the next poll. */
  static progress(p: DeployProgressParams): void {
    const v = RolloutView.current;
    if (!v || v.configFile !== p.configFile) return;
    v.message = p.message;
    void v.poll();
  }

  static refresh(): void {
    void RolloutView.current?.poll();
  }

  static disposeCurrent(): void {
    RolloutView.current?.dispose();
  }

  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  private pageReady = false;
  private polling = false;
  private message: string | undefined;
  private disposed = false;

  private constructor(
    private readonly ctx: Ctx,
    private readonly panel: vscode.WebviewPanel,
    private configFile: string,
  ) {
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) {
          this.pageReady = false;
          this.stop();
        }
      }),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (RolloutView.current === this) RolloutView.current = undefined;
    this.stop();
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private onMessage(raw: unknown): void {
    const r = rolloutViewToExtensionSchema.safeParse(raw);
    if (!r.success) {
      this.ctx.log.warn(`rollout view: ignored an invalid message: ${r.error.issues.map((i) => i.message).join('; ')}`);
      return;
    }
    if (r.data.type === 'ready') {
      this.pageReady = true;
      this.stop();
      this.timer = setInterval(() => void this.poll(), POLL_MS);
      void this.poll();
    } else void vscode.commands.executeCommand(r.data.command);
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    if (!this.pageReady || this.polling || this.disposed) return;
    this.polling = true;
    const configFile = this.configFile;
    try {
      const client = this.ctx.runningClient;
      const status: RolloutViewState['status'] = client
        ? await client.sendRequest(DeployStatusRequest.type, { configFile })
        : { ok: false, problems: [], serverDown: true };
      this.post({ type: 'state', configFile, status, message: this.message, at: Date.now() });
    } catch (err) {
      this.post({
        type: 'state',
        configFile,
        status: { ok: false, problems: [{ line: 0, column: 0, path: '', message: `status failed: ${(err as Error).message}` }] },
        at: Date.now(),
      });
    } finally {
      this.polling = false;
    }
  }

  private post(msg: ExtensionToRolloutView): void {
    if (!this.pageReady || this.disposed) return;
    void this.panel.webview.postMessage(msg).then(undefined, () => undefined);
  }

  private html(): string {
    return webviewHtml({
      webview: this.panel.webview,
      extensionUri: this.ctx.extension.extensionUri,
      script: 'rollout.js',
      styles: ['rollout.css'],
      title: 'Pronto: Rollout',
      body: `  <header>
    <h1 id="title">Pronto rollout</h1>
    <div class="actions">
      <button id="promote" type="button">Promote</button>
      <button id="rollback" type="button" class="secondary">Roll Back</button>
      <button id="deploy" type="button" class="secondary">Deploy Engine…</button>
    </div>
  </header>
  <p id="platform" class="muted"></p>
  <p id="problem" class="error" role="alert" hidden></p>
  <ol id="phases" class="phases" aria-label="Phases"></ol>
  <p id="phase" class="phase" role="status">Waiting for the extension…</p>
  <p id="reason" class="reason" hidden></p>
  <h2>Gates</h2>
  <table id="gates">
    <thead><tr><th>gate</th><th>measured by</th><th>threshold</th><th>measured</th><th>result</th></tr></thead>
    <tbody></tbody>
  </table>
  <h2>History</h2>
  <ul id="history" class="history"></ul>
  <p id="updated" class="muted"></p>`,
    });
  }
}
