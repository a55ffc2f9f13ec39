/**
 * The HTML shell of every Pronto webview, as vscode-extension-samples' webview-sample does it:
 * CSP `default-src 'none'`, the one script allowed by a nonce from crypto.randomBytes, styles only
 * from the webview's own origin (media/page.css first, then the page's own).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

export function webviewHtml(opts: {
  webview: vscode.Webview;
  extensionUri: vscode.Uri;
  script: string;
  styles: string[];
  title: string;
  body: string;
}): string {
  const { webview, extensionUri } = opts;
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'media', opts.script));
  const links = ['page.css', ...opts.styles]
    .map((css) => `<link href="${webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', css)).toString()}" rel="stylesheet">`)
    .join('\n  ');
  const nonce = randomBytes(16).toString('base64');
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${webview.cspSource}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  ${links}
  <title>${opts.title}</title>
</head>
<body>
${opts.body}
  <script nonce="${nonce}" src="${script.toString()}"></script>
</body>
</html>`;
}
