/**
 * Runs INSIDE the VS Code extension host (code-server started with the smoke-test driver and an
 * `extensionTestsPath` payload; see test/e2e/extension-host.test.ts). Bundled with esbuild to
 * test-output/e2e/extension-host/suite/index.js. `run()` resolving means pass; throwing means fail
 * (the workbench reports the exit code through `codeAutomationExit`).
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { ProntoApi } from '../../../extension/src/extension';
import type { ResolvedDefinition } from '../../../protocol/lsp';
import pkg from '../../../package.json';

const EXTENSION_ID = `${pkg.publisher}.${pkg.name}`;

function log(msg: string): void {
  console.log(`[host-suite] ${msg}`);
}

/** Resolves when `predicate()` holds, re-checked on every change the extension reports. */
function waitFor(api: ProntoApi, what: string, predicate: () => boolean, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last status: ${JSON.stringify(api.status())}`));
    }, timeoutMs);
    const sub = api.onDidChange(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      sub.dispose();
      resolve();
    });
  });
}

async function step(name: string, body: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  try {
    await body();
    log(`ok - ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    log(`not ok - ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    throw err;
  }
}

export async function run(): Promise<void> {
  let api: ProntoApi | undefined;

  await step('the extension is installed and activates', async () => {
    const ext = vscode.extensions.getExtension<ProntoApi>(EXTENSION_ID);
    assert.ok(ext, `extension ${EXTENSION_ID} not found`);
    api = await ext.activate();
    assert.ok(ext.isActive);
    assert.equal(typeof api.client, 'function', 'activate() returns the Pronto API');
  });

  await step('every contributed command is registered', async () => {
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = pkg.contributes.commands.map((c) => c.command).filter((c) => !registered.has(c));
    assert.deepEqual(missing, []);
  });

  await step("the engine's port is marked for VS Code not to offer it for forwarding", async () => {
    // package.json contributes a remote.portsAttributes default keyed by the engine's command line;
    // VS Code merges it into the setting (registerPortAttributesProvider is still a proposed API).
    const attributes = vscode.workspace.getConfiguration('remote').get<Record<string, { onAutoForward?: string }>>('portsAttributes') ?? {};
    assert.equal(attributes['pronto-engine']?.onAutoForward, 'ignore', JSON.stringify(attributes));
  });

  const a = api!;
  await step('the server pushes a ready status with the real engine', async () => {
    await waitFor(a, 'status "ready"', () => a.status()?.state === 'ready' || a.status()?.state === 'error', 120_000);
    const s = a.status();
    assert.equal(s?.state, 'ready', `server status: ${JSON.stringify(s)}`);
    assert.equal(s?.enabled, true);
  });

  await step('the standard inline-completion provider returns an item from the engine', async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'a workspace folder is open');
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder.uri, 'src', 'math.js'));
    const editor = await vscode.window.showTextDocument(doc);
    const end = doc.lineAt(doc.lineCount - 1).range.end;
    await editor.edit((e) => e.insert(end, 'function subtract(a, b) {\n  return '));
    const position = doc.lineAt(doc.lineCount - 1).range.end;
    const client = a.client();
    assert.ok(client, 'the language client is running');
    const feature = client.getFeature('textDocument/inlineCompletion');
    assert.ok(feature, 'vscode-languageclient has its inline-completion feature');
    const provider = feature.getProvider(doc);
    assert.ok(provider, 'an InlineCompletionItemProvider is registered for this document (the server announced inlineCompletionProvider)');
    const cts = new vscode.CancellationTokenSource();
    const result = await provider.provideInlineCompletionItems(
      doc,
      position,
      { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined },
      cts.token,
    );
    const items = !result ? [] : Array.isArray(result) ? result : result.items;
    log(`items: ${JSON.stringify(items.map((i) => i.insertText))}`);
    assert.ok(items.length > 0, 'at least one suggestion');
    const first = items[0]!;
    const text = typeof first.insertText === 'string' ? first.insertText : first.insertText.value;
    assert.ok(text.length > 0, 'a non-empty suggestion');
    assert.equal(first.command?.command, 'pronto.didAcceptCompletion', 'the client attaches the accept-reporting command');
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  await step("the extension answers pronto/resolveDefinitions with a real definition from VS Code's TypeScript features", async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'a workspace folder is open');
    const enc = new TextEncoder();
    const geometry = vscode.Uri.joinPath(folder.uri, 'src', 'defs', 'geometry.ts');
    const main = vscode.Uri.joinPath(folder.uri, 'src', 'defs', 'main.ts');
    await vscode.workspace.fs.writeFile(
      geometry,
      enc.encode(
        [
          'export interface Point {',
          '  x: number;',
          '  y: number;',
          '}',
          '',
          'export function distance(a: Point, b: Point): number {',
          '  const dx = a.x - b.x;',
          '  const dy = a.y - b.y;',
          '  return Math.sqrt(dx * dx + dy * dy);',
          '}',
          '',
        ].join('\n'),
      ),
    );
    const mainText = [
      "import { distance, type Point } from './geometry';",
      '',
      'function midpoint(a: Point, b: Point): Point {',
      '  return { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };',
      '}',
      '',
      'const o: Point = { x: 0, y: 0 };',
      'const half = distance(o, midpoint(o, ',
    ].join('\n');
    await vscode.workspace.fs.writeFile(main, enc.encode(mainText));
    const doc = await vscode.workspace.openTextDocument(main);
    await vscode.window.showTextDocument(doc);
    // The built-in TypeScript features: activated (the real signal that its provider is registered),
    // then one direct go-to-definition, which also waits for tsserver to load the project.
    const ts = vscode.extensions.getExtension('vscode.typescript-language-features');
    assert.ok(ts, 'the built-in TypeScript language features are installed');
    await ts.activate();
    const lastLine = doc.lineCount - 1;
    const distanceAt = new vscode.Position(lastLine, doc.lineAt(lastLine).text.indexOf('distance'));
    // While tsserver is still loading the project, its early (partial-semantic) answer points at the
    // import binding in main.ts; wait until it resolves into geometry.ts, the real declaration.
    const targetUri = (l: vscode.Location | vscode.LocationLink) => ('targetUri' in l ? l.targetUri : l.uri).toString();
    let direct: (vscode.Location | vscode.LocationLink)[] = [];
    const tsDeadline = Date.now() + 60_000;
    while (!direct.some((l) => targetUri(l).endsWith('geometry.ts')) && Date.now() < tsDeadline) {
      direct =
        (await vscode.commands.executeCommand<(vscode.Location | vscode.LocationLink)[]>(
          'vscode.executeDefinitionProvider',
          main,
          distanceAt,
        )) ?? [];
      if (!direct.some((l) => targetUri(l).endsWith('geometry.ts'))) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(
      direct.some((l) => targetUri(l).endsWith('geometry.ts')),
      `VS Code resolves distance() into geometry.ts directly: ${JSON.stringify(direct.map(targetUri))}`,
    );

    // A completion request makes the server ask the extension in the background. Names the
    // extension could not look up before its deadline (tsserver shares 2 cores with the engine)
    // come back as `unresolved` and are asked again on the next request: repeat a few times.
    const client = a.client();
    assert.ok(client, 'the language client is running');
    const provider = client.getFeature('textDocument/inlineCompletion')?.getProvider(doc);
    assert.ok(provider, 'an inline-completion provider for main.ts');
    let last: ReturnType<ProntoApi['lastDefinitions']>;
    const asked = new Set<string>();
    const definitions: ResolvedDefinition[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const previous = a.lastDefinitions();
      const cts = new vscode.CancellationTokenSource();
      await provider.provideInlineCompletionItems(
        doc,
        doc.lineAt(lastLine).range.end,
        { triggerKind: vscode.InlineCompletionTriggerKind.Invoke, selectedCompletionInfo: undefined },
        cts.token,
      );
      const fresh = () => {
        const l = a.lastDefinitions();
        return l !== previous && l?.params.uri === main.toString() ? l : undefined;
      };
      await waitFor(a, "the server's pronto/resolveDefinitions for main.ts", () => fresh() !== undefined, 60_000);
      last = fresh()!;
      log(`attempt ${attempt}: ${JSON.stringify(last.params.positions)} -> ${JSON.stringify(last.result)}`);
      for (const p of last.params.positions) asked.add(p.name);
      definitions.push(...last.result.definitions);
      if (!last.result.unresolved?.some((n) => n === 'distance' || n === 'Point')) break;
    }
    assert.ok(last, 'an answer');
    assert.ok(asked.has('distance') && asked.has('midpoint') && asked.has('Point'), `names asked: ${[...asked].join(', ')}`);
    const dist = definitions.find((d) => d.name === 'distance');
    assert.ok(dist, `distance resolved: ${JSON.stringify(definitions)}`);
    assert.equal(dist.uri, geometry.toString());
    assert.match(dist.text, /^export function distance\(a: Point, b: Point\): number \{/);
    assert.match(dist.text, /Math\.sqrt/, 'the whole declaration, not just its first line');
    const point = definitions.find((d) => d.name === 'Point');
    assert.ok(point && point.uri === geometry.toString() && /interface Point/.test(point.text), `Point resolved: ${JSON.stringify(point)}`);
    assert.ok(
      !definitions.some((d) => d.name === 'midpoint'),
      'midpoint is defined in the same file right above the cursor (already in the prompt): skipped',
    );
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  await step('disable and enable round-trip through the server', async () => {
    await vscode.commands.executeCommand('pronto.disable');
    await waitFor(a, 'status enabled=false', () => a.status()?.enabled === false, 20_000);
    await vscode.commands.executeCommand('pronto.enable');
    await waitFor(a, 'status enabled=true', () => a.status()?.enabled === true, 20_000);
  });

  /** Runs "Pronto: Restart Language Server" and waits for a new client that reports ready. */
  const restartServer = async (): Promise<void> => {
    const before = a.client();
    await vscode.commands.executeCommand('pronto.restartServer');
    await waitFor(
      a,
      'a new client with status "ready"',
      () => a.client() !== undefined && a.client() !== before && a.status()?.state === 'ready',
      90_000,
    );
  };

  await step('"Pronto: Restart Language Server" brings up a new server that reports ready', restartServer);

  await step('a key left in the old pronto.engine.apiKey setting moves into the secret storage and the setting is cleared', async () => {
    const config = () => vscode.workspace.getConfiguration('pronto');
    await config().update('engine.apiKey', 'e2e-old-setting-key', vscode.ConfigurationTarget.Global);
    assert.equal(config().inspect<string>('engine.apiKey')?.globalValue, 'e2e-old-setting-key');
    await restartServer();
    assert.equal(config().inspect<string>('engine.apiKey')?.globalValue, undefined, 'the setting was cleared');
    assert.equal(await a.hasEngineApiKey(), true, 'the key is in the secret storage');
  });

  await step('with the server stopped, a command that needs it says so instead of running', async () => {
    await vscode.commands.executeCommand('pronto.stopServer');
    assert.equal(a.client(), undefined, 'no running client after stop');
    assert.equal(await vscode.commands.executeCommand('pronto.restartEngine'), false, 'the disabled variant ran');
    await vscode.commands.executeCommand('pronto.startServer');
    await waitFor(a, 'status "ready" after start', () => a.client() !== undefined && a.status()?.state === 'ready', 90_000);
  });
}
