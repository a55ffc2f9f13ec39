/**
 * Where the chat page is shown: a webview view in the Pronto sidebar container (`pronto.chatView`)
 * and, on demand, editor panels (`pronto.chatPanel`, restored by a serializer when VS Code reopens
 * them). All show the one ChatSession. Each page gets the same locked-down HTML: CSP
 * `default-src 'none'`, the script by nonce (crypto.randomBytes), styles from the webview's origin,
 * local resources only from the extension's dist/media and media folders.
 */
import * as vscode from 'vscode';
import { webviewHtml } from '../webviewHtml';
import type { ChatSession } from './session';

export const CHAT_VIEW_ID = 'pronto.chatView';
export const CHAT_PANEL_TYPE = 'pronto.chatPanel';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'media'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

/** The page's HTML: its script and stylesheet on top of media/panel.css (webviewHtml.ts). */
export function pageHtml(webview: vscode.Webview, extensionUri: vscode.Uri, name: 'chat' | 'templates', title: string): string {
  return webviewHtml({
    webview,
    extensionUri,
    base: 'panel.css',
    script: `${name}.js`,
    styles: [`${name}.css`],
    title,
    body: `  <div id="app" data-page="${name}"></div>`,
  });
}

function connect(session: ChatSession, webview: vscode.Webview, extensionUri: vscode.Uri, onDispose: (d: vscode.Disposable) => void): void {
  webview.options = webviewOptions(extensionUri);
  webview.html = pageHtml(webview, extensionUri, 'chat', 'Pronto: Chat');
  const host = {
    post: (msg: Parameters<Parameters<typeof session.attach>[0]['post']>[0]) =>
      void webview.postMessage(msg).then(undefined, () => undefined),
  };
  onDispose(session.attach(host));
  onDispose(webview.onDidReceiveMessage((raw: unknown) => void session.handle(host, raw)));
}

export class ChatViewProvider implements vscode.WebviewViewProvider {
  constructor(
    private readonly session: ChatSession,
    private readonly extensionUri: vscode.Uri,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    const subs: vscode.Disposable[] = [];
    connect(this.session, view.webview, this.extensionUri, (d) => subs.push(d));
    view.onDidDispose(() => {
      for (const d of subs.splice(0)) d.dispose();
    });
  }
}

/** Chat in an editor tab (also what VS Code restores after a reload). */
export function openChatPanel(session: ChatSession, extensionUri: vscode.Uri, existing?: vscode.WebviewPanel): vscode.WebviewPanel {
  const panel =
    existing ??
    vscode.window.createWebviewPanel(CHAT_PANEL_TYPE, 'Pronto: Chat', vscode.ViewColumn.Beside, {
      ...webviewOptions(extensionUri),
    });
  panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'pronto.svg');
  const subs: vscode.Disposable[] = [];
  connect(session, panel.webview, extensionUri, (d) => subs.push(d));
  panel.onDidDispose(() => {
    for (const d of subs.splice(0)) d.dispose();
  });
  return panel;
}

export function registerChatViews(session: ChatSession, extensionUri: vscode.Uri): vscode.Disposable[] {
  return [
    vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, new ChatViewProvider(session, extensionUri)),
    vscode.window.registerWebviewPanelSerializer(CHAT_PANEL_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        openChatPanel(session, extensionUri, panel);
      },
    }),
  ];
}
