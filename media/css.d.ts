// Stylesheets imported by webview scripts for their side effect: esbuild emits them next to the
// script (dist/media/<name>.css), and the panel links that file.
declare module '*.css';
