/**
 * The "Pronto: Statistics" webview panel (one at a time; the command reveals it if open).
 *
 * Data flow: the page (media/stats.ts) never talks to the server. It posts `{ type: 'ready' }`
 * when its script has run; the extension then sends the current status and asks the server for
 * `pronto/stats`, and keeps asking every POLL_MS while the panel is visible (a hidden panel's page
 * is destroyed, so polling stops and restarts with the next `ready`). Status pushes from the
 * server (Ctx.onDidChange) are forwarded as they come. Messages are typed in protocol/webview.ts;
 * what the page sends is parsed with zod before anything is done with it.
 *
 * Security as in vscode-extension-samples' webview-sample: CSP `default-src 'none'`, the one
 * script allowed by a nonce from crypto.randomBytes, styles only from the webview's own origin,
 * local resources limited to dist/media (the built script) and media (the CSS).
 */
import * as vscode from 'vscode';
import { StatsRequest } from '../../protocol/lsp';
import { parseWebviewMessage, type ExtensionToWebview } from '../../protocol/webview';
import type { Ctx } from './ctx';
import { webviewHtml } from './webviewHtml';

const VIEW_TYPE = 'pronto.statistics';
const POLL_MS = 2000;

export class StatsPanel implements vscode.Disposable {
  private static current: StatsPanel | undefined;

  /** Opens the panel, or reveals it when it is already open. */
  static show(ctx: Ctx): void {
    if (StatsPanel.current) {
      StatsPanel.current.panel.reveal(undefined, false);
      return;
    }
    const ext = ctx.extension.extensionUri;
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'Pronto: Statistics', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ext, 'dist', 'media'), vscode.Uri.joinPath(ext, 'media')],
    });
    StatsPanel.current = new StatsPanel(ctx, panel);
  }

  /** Closes the panel if open (on deactivation, so no poll timer outlives the extension). */
  static disposeCurrent(): void {
    StatsPanel.current?.dispose();
  }

  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Set between the page's `ready` and its disposal or hiding: only then is data sent. */
  private pageReady = false;
  private inFlight: vscode.CancellationTokenSource | undefined;
  private disposed = false;

  private constructor(
    private readonly ctx: Ctx,
    private readonly panel: vscode.WebviewPanel,
  ) {
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
      panel.onDidChangeViewState(() => {
        // Hidden (without retainContextWhenHidden) means the page is gone; it says `ready` again
        // when it is re-created.
        if (!panel.visible) {
          this.pageReady = false;
          this.stopPolling();
        }
      }),
      ctx.onDidChange(() => {
        if (!this.pageReady) return;
        this.sendStatus();
        // The server just came up, or went down: show that without waiting for the next tick.
        void this.poll();
      }),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (StatsPanel.current === this) StatsPanel.current = undefined;
    this.pageReady = false;
    this.stopPolling();
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private onMessage(raw: unknown): void {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.ctx.log.warn(`statistics panel: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'ready':
        this.ctx.log.info('statistics panel ready');
        this.pageReady = true;
        this.sendStatus();
        this.startPolling();
        void this.poll();
        return;
      case 'refresh':
        void this.poll();
        return;
      case 'runCommand':
        void vscode.commands.executeCommand(msg.command);
        return;
    }
  }

  private post(msg: ExtensionToWebview): void {
    if (!this.pageReady || this.disposed) return;
    // postMessage resolves false when the page is gone; the next `ready` resends everything.
    void this.panel.webview.postMessage(msg).then(undefined, () => undefined);
  }

  private sendStatus(): void {
    const running = this.ctx.runningClient !== undefined;
    this.post({ type: 'status', server: running ? 'running' : 'down', status: this.ctx.status ?? null });
  }

  private startPolling(): void {
    this.stopPolling();
    this.timer = setInterval(() => void this.poll(), POLL_MS);
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.inFlight?.cancel();
    this.inFlight = undefined;
  }

  /** One `pronto/stats` request; skipped while one is still running. */
  private async poll(): Promise<void> {
    if (!this.pageReady || this.inFlight) return;
    const client = this.ctx.runningClient;
    // Down: the status message already says so, and the page keeps the last figures with their time.
    if (!client) return;
    const cts = new vscode.CancellationTokenSource();
    this.inFlight = cts;
    try {
      const stats = await client.sendRequest(StatsRequest.type, cts.token);
      if (!cts.token.isCancellationRequested) this.post({ type: 'stats', stats, receivedAt: Date.now() });
    } catch (err) {
      if (!cts.token.isCancellationRequested) {
        const message = err instanceof Error ? err.message : String(err);
        this.ctx.log.warn(`statistics panel: pronto/stats failed: ${message}`);
        this.post({ type: 'statsError', message: `pronto/stats failed: ${message}` });
      }
    } finally {
      if (this.inFlight === cts) this.inFlight = undefined;
      cts.dispose();
    }
  }

  private html(): string {
    return webviewHtml({
      webview: this.panel.webview,
      extensionUri: this.ctx.extension.extensionUri,
      script: 'stats.js',
      styles: ['stats.css'],
      title: 'Pronto: Statistics',
      body: `  <header>
    <h1>Pronto statistics</h1>
    <div class="actions">
      <button id="refresh" type="button">Refresh</button>
      <button id="logs" type="button" class="secondary">Show logs</button>
      <button id="restart" type="button" class="secondary" hidden>Restart server</button>
    </div>
  </header>
  <p id="server" class="server" role="status">Waiting for the extension…</p>
  <p id="error" class="error" role="alert" hidden></p>
  <section id="counters" class="counters" aria-label="Counters"></section>
  <h2>Recent completions</h2>
  <div class="table-wrap">
  <table id="recent">
    <thead><tr>
      <th>time</th><th>file</th><th>outcome</th><th class="num">latency</th><th class="num">reused / evaluated</th>
      <th class="num">generated</th><th class="num">drafted / accepted</th>
    </tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <p id="updated" class="updated"></p>`,
    });
  }
}
