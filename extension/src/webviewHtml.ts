/**
 * The HTML shell of every Pronto webview, as vscode-extension-samples' webview-sample does it:
 * CSP `default-src 'none'`, the one script allowed by a nonce from crypto.randomBytes, styles only
 * from the webview's own origin (a base stylesheet first: media/page.css for the panels, media/panel.css
 * for chat and templates; then stylesheets esbuild bundled next to the script; then the page's own).
 * Used by every Pronto webview: the monitor, the rollout view, the chat and the templates panel.
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
  /** The shared stylesheet linked first (default media/page.css). */
  base?: 'page.css' | 'panel.css';
  /** Stylesheets esbuild emitted next to the script (dist/media), e.g. a bundled library's CSS. */
  bundledStyles?: string[];
  /** Allows `data:` images (charts exported as PNG). */
  dataImages?: boolean;
}): string {
  const { webview, extensionUri } = opts;
  const uri = (...segments: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...segments)).toString();
  const script = uri('dist', 'media', opts.script);
  const links = [
    uri('media', opts.base ?? 'page.css'),
    ...(opts.bundledStyles ?? []).map((css) => uri('dist', 'media', css)),
    ...opts.styles.map((css) => uri('media', css)),
  ]
    .map((href) => `<link href="${href}" rel="stylesheet">`)
    .join('\n  ');
  const nonce = randomBytes(16).toString('base64');
  const csp = `default-src 'none'; script-src 'nonce-${nonce}'; style-src ${webview.cspSource}${opts.dataImages ? '; img-src data:' : ''}`;
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
  <script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}
