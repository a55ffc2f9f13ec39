/**
 * The "Pronto: Monitor" webview panel (one at a time; the command reveals it if open). It took over
 * the Statistics panel: `pronto.showStatistics` opens it too.
 *
 * Data flow: the sidecar samples the engines all the time (server/src/monitor/); this panel only
 * asks for what it shows. The page (media/monitor.ts) posts `{ type: 'ready' }` when its script has
 * run; the extension then sends the status and a full `pronto/monitor/snapshot` of the chosen window,
 * and every sample interval while the panel is visible and not paused an incremental one (samples
 * after the newest it has). A hidden panel's page is destroyed, so polling stops and restarts with
 * the next `ready`; a closed panel costs nothing. Status pushes and alert changes trigger an update
 * at once. What the page sends is parsed with zod (protocol/webview.ts) before anything is done.
 *
 * Exports: JSON is the snapshot of the current window, written by the extension; PNG is drawn by the
 * page from the chart canvases and sent as a data URL. Both ask where to save.
 *
 * Security as in vscode-extension-samples' webview-sample: CSP `default-src 'none'`, the one script
 * allowed by a nonce from crypto.randomBytes, styles only from the webview's own origin, images only
 * as data URLs drawn by the page, local resources limited to dist/media (the built script and the
 * chart library's CSS) and media (the page's CSS).
 */
import * as vscode from 'vscode';
import { MonitorSnapshotRequest, type MonitorSnapshot } from '../../protocol/monitor';
import { MONITOR_WINDOWS_MS, parseWebviewMessage, type ExtensionToWebview } from '../../protocol/webview';
import type { Ctx } from './ctx';
import { webviewHtml } from './webviewHtml';

const VIEW_TYPE = 'pronto.monitor';
const DEFAULT_WINDOW_MS = MONITOR_WINDOWS_MS[0];

export class MonitorPanel implements vscode.Disposable {
  private static current: MonitorPanel | undefined;

  /** Opens the panel, or reveals it when it is already open. */
  static show(ctx: Ctx): void {
    if (MonitorPanel.current) {
      MonitorPanel.current.panel.reveal(undefined, false);
      return;
    }
    const ext = ctx.extension.extensionUri;
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'Pronto: Monitor', vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ext, 'dist', 'media'), vscode.Uri.joinPath(ext, 'media')],
    });
    MonitorPanel.current = new MonitorPanel(ctx, panel);
  }

  /** An alert changed: the open panel shows it now rather than at the next tick. */
  static alertChanged(): void {
    void MonitorPanel.current?.poll();
  }

  /** Closes the panel if open (on deactivation, so no poll timer outlives the extension). */
  static disposeCurrent(): void {
    MonitorPanel.current?.dispose();
  }

  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Set between the page's `ready` and its disposal or hiding: only then is data sent. */
  private pageReady = false;
  private paused = false;
  private windowMs: number = DEFAULT_WINDOW_MS;
  /** Newest sample the page has; undefined: the next snapshot is a full one. */
  private newestSample: number | undefined;
  private intervalMs = 2000;
  private inFlight: vscode.CancellationTokenSource | undefined;
  private disposed = false;

  private constructor(
    private readonly ctx: Ctx,
    private readonly panel: vscode.WebviewPanel,
  ) {
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
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
        if (!this.ctx.runningClient) this.newestSample = undefined;
        void this.poll();
      }),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (MonitorPanel.current === this) MonitorPanel.current = undefined;
    this.pageReady = false;
    this.stopPolling();
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.ctx.log.warn(`monitor panel: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'ready':
        this.ctx.log.info('monitor panel ready');
        this.pageReady = true;
        this.newestSample = undefined;
        this.sendStatus();
        void this.poll();
        return;
      case 'refresh':
        void this.poll();
        return;
      case 'setWindow':
        this.windowMs = msg.windowMs;
        this.newestSample = undefined;
        void this.poll();
        return;
      case 'setPaused':
        this.paused = msg.paused;
        if (this.paused) this.stopPolling();
        else {
          this.newestSample = undefined;
          void this.poll();
        }
        return;
      case 'exportJson':
        await this.exportJson();
        return;
      case 'exportPng':
        await this.exportPng(msg.dataUrl);
        return;
      case 'openAlertSettings':
        void vscode.commands.executeCommand('workbench.action.openSettings', 'pronto.monitor.alerts');
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

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.pageReady || this.paused || this.disposed) return;
    this.timer = setTimeout(() => void this.poll(), this.intervalMs);
  }

  private stopPolling(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.cancel();
    this.inFlight = undefined;
  }

  private async request(windowMs: number, since: number | undefined): Promise<MonitorSnapshot> {
    const client = this.ctx.runningClient;
    if (!client) throw new Error('the language server is not running');
    const cts = new vscode.CancellationTokenSource();
    this.inFlight = cts;
    try {
      return await client.sendRequest(MonitorSnapshotRequest.type, { windowMs, ...(since !== undefined ? { since } : {}) }, cts.token);
    } finally {
      if (this.inFlight === cts) this.inFlight = undefined;
      cts.dispose();
    }
  }

  /** One snapshot request (full or incremental); skipped while one is running or when paused. */
  private async poll(): Promise<void> {
    if (!this.pageReady || this.paused || this.inFlight) return;
    clearTimeout(this.timer);
    // Down: the status message already says so, and the page keeps the last figures with their time.
    if (!this.ctx.runningClient) return;
    const full = this.newestSample === undefined;
    try {
      const snapshot = await this.request(this.windowMs, this.newestSample);
      if (!this.pageReady || this.paused) return;
      this.intervalMs = snapshot.intervalMs;
      for (const s of Object.values(snapshot.series)) {
        const last = s.t[s.t.length - 1];
        if (last !== undefined && (this.newestSample === undefined || last > this.newestSample)) this.newestSample = last;
      }
      this.post({ type: 'snapshot', snapshot, windowMs: this.windowMs, full, receivedAt: Date.now() });
    } catch (err) {
      if (err instanceof vscode.CancellationError || !this.pageReady) return;
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.log.warn(`monitor panel: pronto/monitor/snapshot failed: ${message}`);
      this.post({ type: 'snapshotError', message: `pronto/monitor/snapshot failed: ${message}` });
    } finally {
      this.schedule();
    }
  }

  private async exportJson(): Promise<void> {
    let snapshot: MonitorSnapshot;
    try {
      snapshot = await this.request(this.windowMs, undefined);
    } catch (err) {
      this.post({ type: 'exported', format: 'json', error: err instanceof Error ? err.message : String(err) });
      return;
    }
    const body = JSON.stringify({ exportedAt: new Date().toISOString(), windowMs: this.windowMs, ...snapshot }, null, 2);
    await this.save('json', new TextEncoder().encode(`${body}\n`));
  }

  private async exportPng(dataUrl: string): Promise<void> {
    await this.save('png', Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64'));
  }

  private async save(format: 'png' | 'json', bytes: Uint8Array): Promise<void> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri ?? this.ctx.extension.globalStorageUri;
    const target = await vscode.window.showSaveDialog({
      title: `Pronto: save the monitor snapshot (${format.toUpperCase()})`,
      defaultUri: vscode.Uri.joinPath(folder, `pronto-monitor-${stamp}.${format}`),
      filters: format === 'png' ? { 'PNG image': ['png'] } : { JSON: ['json'] },
      saveLabel: 'Save snapshot',
    });
    if (!target) return;
    try {
      await vscode.workspace.fs.writeFile(target, bytes);
      this.ctx.log.info(`monitor snapshot saved: ${target.fsPath}`);
      this.post({ type: 'exported', format, path: target.fsPath });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.log.error(`monitor snapshot not saved to ${target.fsPath}: ${message}`);
      this.post({ type: 'exported', format, error: message });
      void vscode.window.showErrorMessage(`Pronto: the monitor snapshot could not be saved: ${message}`);
    }
  }

  private html(): string {
    const webview = this.panel.webview;
    const ext = this.ctx.extension.extensionUri;
    const windows = MONITOR_WINDOWS_MS.map(
      (w) => `<option value="${w}">${w >= 3_600_000 ? `${w / 3_600_000} h` : `${w / 60_000} min`}</option>`,
    ).join('');
    return webviewHtml({
      webview,
      extensionUri: ext,
      script: 'monitor.js',
      // The chart library's CSS, emitted by esbuild next to the script (media/monitor.ts imports it).
      bundledStyles: ['monitor.css'],
      styles: ['monitor.css'],
      dataImages: true,
      title: 'Pronto: Monitor',
      body: `  <header>
    <h1>Pronto monitor</h1>
    <div class="actions">
      <label>Window <select id="window">${windows}</select></label>
      <button id="pause" type="button" class="secondary" aria-pressed="false">Pause</button>
      <button id="export-png" type="button" class="secondary">Export PNG</button>
      <button id="export-json" type="button" class="secondary">Export JSON</button>
      <button id="logs" type="button" class="secondary">Show logs</button>
      <button id="restart" type="button" hidden>Restart server</button>
    </div>
  </header>
  <p id="server" class="server" role="status">Waiting for the extension…</p>
  <p id="error" class="error" role="alert" hidden></p>
  <p id="exported" class="exported" role="status" hidden></p>
  <ul id="sources" class="sources" aria-label="Sources"></ul>
  <section id="deployments" class="deployments" aria-label="Deployments" hidden></section>
  <section id="alerts" class="alerts" aria-label="Alerts" data-severity="none">
    <div class="alerts-head"><h2>Alerts</h2><button id="alert-settings" type="button" class="link">Thresholds…</button></div>
    <ul id="alerts-active" class="alerts-active"></ul>
    <details id="alerts-history-box"><summary>Recent incidents</summary><ul id="alerts-history"></ul></details>
  </section>
  <section id="charts" class="charts" aria-label="Charts"></section>
  <h2>Suggestions</h2>
  <section id="counters" class="counters" aria-label="Counters"></section>
  <div class="table-wrap">
  <table id="acceptance">
    <thead><tr>
      <th>language</th><th class="num">shown</th><th class="num">accepted in full</th><th class="num">accepted in part</th>
      <th class="num">dismissed</th><th class="num">on screen</th><th class="num">acceptance</th>
    </tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <div class="recent-head">
    <h2>Recent completions</h2>
    <label><input id="show-cancelled" type="checkbox"> show cancelled</label>
  </div>
  <div class="table-wrap">
  <table id="recent">
    <thead><tr>
      <th>time</th><th>#</th><th>file</th><th>outcome</th><th class="num">latency</th><th class="num">reused / evaluated</th>
      <th class="num">generated</th><th class="num">drafted / accepted</th>
    </tr></thead>
    <tbody></tbody>
  </table>
  </div>
  <p id="updated" class="updated"></p>
`,
    });
  }
}
