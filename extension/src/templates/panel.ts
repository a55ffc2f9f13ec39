/**
 * The "Pronto: Prompt Templates" editor panel. The page edits drafts; the sidecar validates,
 * previews (rendered against the last active editor, token count from the engine's tokenizer),
 * stores and watches the templates (protocol/templates.ts). This side only relays, runs the file
 * dialogs of import/export, and asks before a reset. Restored by a serializer when VS Code reopens.
 */
import * as vscode from 'vscode';
import {
  DeleteTemplateRequest,
  type EditorSnapshot,
  ExportTemplatesRequest,
  ImportTemplatesRequest,
  ListTemplatesRequest,
  PreviewTemplateRequest,
  ResetTemplatesRequest,
  SaveTemplateRequest,
  TemplatesChangedNotification,
} from '../../../protocol/templates';
import { type ExtensionToTemplatesPage, parseTemplatesPageMessage } from '../../../protocol/templatesView';
import { pageHtml, webviewOptions } from '../chat/view';
import type { Ctx } from '../ctx';

const VIEW_TYPE = 'pronto.templates';
/** Larger documents are previewed from their first megabyte. */
const MAX_PREVIEW_TEXT = 1 << 20;

export class TemplatesPanel implements vscode.Disposable {
  private static current: TemplatesPanel | undefined;
  private static lastEditor: vscode.TextEditor | undefined;

  static show(ctx: Ctx): void {
    if (TemplatesPanel.current) {
      TemplatesPanel.current.panel.reveal(undefined, false);
      return;
    }
    const panel = vscode.window.createWebviewPanel(
      VIEW_TYPE,
      'Pronto: Prompt Templates',
      vscode.ViewColumn.Active,
      webviewOptions(ctx.extension.extensionUri),
    );
    TemplatesPanel.current = new TemplatesPanel(ctx, panel);
  }

  static restore(ctx: Ctx, panel: vscode.WebviewPanel): void {
    TemplatesPanel.current?.dispose();
    TemplatesPanel.current = new TemplatesPanel(ctx, panel);
  }

  static disposeCurrent(): void {
    TemplatesPanel.current?.dispose();
  }

  /** The preview renders against the last code editor; a new one re-renders the open panel's preview. */
  static trackEditor(editor: vscode.TextEditor | undefined): void {
    if (!editor || (editor.document.uri.scheme !== 'file' && editor.document.uri.scheme !== 'untitled')) return;
    const changed = TemplatesPanel.lastEditor !== editor;
    TemplatesPanel.lastEditor = editor;
    if (changed) void TemplatesPanel.current?.sendState();
  }

  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private clientSub: vscode.Disposable | undefined;
  private subscribedTo: unknown;

  private constructor(
    private readonly ctx: Ctx,
    private readonly panel: vscode.WebviewPanel,
  ) {
    panel.webview.options = webviewOptions(ctx.extension.extensionUri);
    panel.webview.html = pageHtml(panel.webview, ctx.extension.extensionUri, 'templates', 'Pronto: Prompt Templates');
    panel.iconPath = vscode.Uri.joinPath(ctx.extension.extensionUri, 'media', 'pronto.svg');
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => void this.onMessage(raw)),
      panel.onDidChangeViewState(() => {
        if (!panel.visible) this.ready = false;
      }),
      ctx.onDidChange(() => this.subscribe()),
    );
    this.subscribe();
  }

  dispose(): void {
    if (TemplatesPanel.current === this) TemplatesPanel.current = undefined;
    this.clientSub?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }

  private subscribe(): void {
    const client = this.ctx.runningClient;
    if (client === this.subscribedTo) return;
    this.subscribedTo = client;
    this.clientSub?.dispose();
    this.clientSub = client?.onNotification(TemplatesChangedNotification.type, () => void this.sendState());
    void this.sendState();
  }

  private post(msg: ExtensionToTemplatesPage): void {
    if (this.ready) void this.panel.webview.postMessage(msg).then(undefined, () => undefined);
  }

  private snapshot(): EditorSnapshot | undefined {
    const e = TemplatesPanel.lastEditor;
    if (!e || e.document.isClosed) return undefined;
    const text = e.document.getText();
    const offset = Math.min(e.document.offsetAt(e.selection.active), MAX_PREVIEW_TEXT);
    return {
      uri: e.document.uri.toString(),
      languageId: e.document.languageId,
      text: text.length > MAX_PREVIEW_TEXT ? text.slice(0, MAX_PREVIEW_TEXT) : text,
      offset,
      ...(e.selection.isEmpty ? {} : { selection: e.document.getText(e.selection) }),
    };
  }

  private async sendState(): Promise<void> {
    if (!this.ready) return;
    const client = this.ctx.runningClient;
    const e = TemplatesPanel.lastEditor;
    const editor =
      e && !e.document.isClosed ? { label: vscode.workspace.asRelativePath(e.document.uri), languageId: e.document.languageId } : undefined;
    if (!client) {
      this.post({ type: 'state', templates: null, server: 'down', ...(editor ? { editor } : {}) });
      return;
    }
    try {
      const templates = await client.sendRequest(ListTemplatesRequest.type);
      this.post({ type: 'state', templates, server: 'running', ...(editor ? { editor } : {}) });
    } catch (err) {
      this.post({
        type: 'notice',
        kind: 'error',
        message: `Listing the templates failed: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseTemplatesPageMessage(raw);
    if (!parsed.ok) {
      this.ctx.log.warn(`templates panel: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    if (msg.type === 'ready') {
      this.ready = true;
      this.ctx.log.info('templates panel ready');
      await this.sendState();
      return;
    }
    const client = this.ctx.runningClient;
    if (!client) {
      this.post({
        type: 'notice',
        kind: 'error',
        message: 'The Pronto language server is not running: templates cannot be read or saved now.',
      });
      return;
    }
    try {
      switch (msg.type) {
        case 'preview': {
          const editor = this.snapshot();
          const result = await client.sendRequest(PreviewTemplateRequest.type, { template: msg.template, ...(editor ? { editor } : {}) });
          this.post({ type: 'preview', seq: msg.seq, result });
          return;
        }
        case 'save': {
          const r = await client.sendRequest(SaveTemplateRequest.type, {
            template: msg.template,
            scope: msg.scope,
            ...(msg.previousId ? { previousId: msg.previousId } : {}),
          });
          if (r.ok) {
            this.post({ type: 'saved', ok: true, id: String(msg.template.id), scope: msg.scope });
            this.ctx.log.info(`template ${String(msg.template.id)} saved (${msg.scope})`);
            await this.sendState();
          } else this.post({ type: 'saved', ok: false, problems: r.problems, ...(r.message ? { message: r.message } : {}) });
          return;
        }
        case 'delete':
          await client.sendRequest(DeleteTemplateRequest.type, { id: msg.id, scope: msg.scope });
          this.post({ type: 'notice', kind: 'info', message: `Deleted ${msg.id} from the ${msg.scope} templates.` });
          await this.sendState();
          return;
        case 'reset': {
          const pick = await vscode.window.showWarningMessage(
            `Remove every ${msg.scope} template? The built-in defaults come back in force.`,
            { modal: true },
            'Reset',
          );
          if (pick !== 'Reset') return;
          await client.sendRequest(ResetTemplatesRequest.type, { scope: msg.scope });
          this.post({ type: 'notice', kind: 'info', message: `The ${msg.scope} templates were reset to the defaults.` });
          await this.sendState();
          return;
        }
        case 'export': {
          const { text } = await client.sendRequest(ExportTemplatesRequest.type, { scope: msg.scope });
          const target = await vscode.window.showSaveDialog({
            filters: { 'Templates (JSON)': ['json'] },
            title: 'Export Pronto templates',
            saveLabel: 'Export',
          });
          if (!target) return;
          await vscode.workspace.fs.writeFile(target, new TextEncoder().encode(text));
          this.post({ type: 'notice', kind: 'info', message: `Exported to ${target.fsPath}.` });
          return;
        }
        case 'import': {
          const [source] =
            (await vscode.window.showOpenDialog({
              filters: { 'Templates (JSON)': ['json'] },
              title: 'Import Pronto templates',
              openLabel: 'Import',
            })) ?? [];
          if (!source) return;
          const text = new TextDecoder().decode(await vscode.workspace.fs.readFile(source));
          const r = await client.sendRequest(ImportTemplatesRequest.type, { scope: msg.scope, text });
          this.post(
            r.ok
              ? { type: 'notice', kind: 'info', message: `Imported ${r.imported} templates into the ${msg.scope} templates.` }
              : { type: 'notice', kind: 'error', message: r.message },
          );
          await this.sendState();
          return;
        }
        case 'openFile': {
          const state = await client.sendRequest(ListTemplatesRequest.type);
          const file = state.files[msg.scope];
          if (file) await vscode.window.showTextDocument(vscode.Uri.file(file));
          return;
        }
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.log.warn(`templates panel: ${msg.type} failed: ${message}`);
      this.post({ type: 'notice', kind: 'error', message });
    }
  }
}

export function registerTemplatesPanel(ctx: Ctx): vscode.Disposable[] {
  TemplatesPanel.trackEditor(vscode.window.activeTextEditor);
  return [
    vscode.window.onDidChangeActiveTextEditor((e) => TemplatesPanel.trackEditor(e)),
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        TemplatesPanel.restore(ctx, panel);
      },
    }),
    { dispose: () => TemplatesPanel.disposeCurrent() },
  ];
}
