/**
 * The one owner of the extension's lifecycle (as rust-analyzer's `ctx.ts`): it starts, stops and
 * restarts the language client for the sidecar (dist/server.js), keeps the last `pronto/status`
 * the server pushed, and tells listeners when either changes. Everything else (commands, status
 * bar, menu) receives a Ctx and asks it for a running client instead of holding one itself.
 */
import * as vscode from 'vscode';
import { LanguageClient, State, TransportKind, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import { resolveDefinitions } from './definitions';
import {
  DidAcceptCompletionNotification,
  RequestStatusNotification,
  ResolveDefinitionsRequest,
  SetEngineApiKeyNotification,
  StatusNotification,
  type ProntoInitializationOptions,
  type ProntoClientCapabilities,
  type ResolveDefinitionsParams,
  type ResolveDefinitionsResult,
  type DidAcceptParams,
  type StatusParams,
} from '../../protocol/lsp';

export const ACCEPT_COMMAND = 'pronto.didAcceptCompletion';
/**
 * The remote engine's API key in VS Code's SecretStorage (never in settings.json). The deploy
 * feature stores the key of an engine it deploys under the same name.
 */
export const ENGINE_API_KEY_SECRET = 'pronto.engine.apiKey';

export class Ctx implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private clientSubscriptions: vscode.Disposable[] = [];
  private lastStatus: StatusParams | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires when the client starts or stops, or a new status arrives. */
  readonly onDidChange = this.changed.event;
  /** Serialises start/stop/restart so two clicks cannot race. */
  private lifecycle: Promise<unknown> = Promise.resolve();

  private readonly secretWatch: vscode.Disposable;

  constructor(
    readonly extension: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    // The key changed (the command below, or the deploy feature): the server reconnects with it.
    this.secretWatch = extension.secrets.onDidChange((e) => {
      if (e.key !== ENGINE_API_KEY_SECRET) return;
      void extension.secrets.get(ENGINE_API_KEY_SECRET).then((apiKey) => {
        this.log.info(`the remote engine API key was ${apiKey ? 'set' : 'cleared'}`);
        void this.runningClient?.sendNotification(SetEngineApiKeyNotification.type, { apiKey: apiKey ?? '' });
      });
    });
  }

  /** The client when the server is up and initialised, else undefined. */
  get runningClient(): LanguageClient | undefined {
    return this.client?.state === State.Running ? this.client : undefined;
  }

  get status(): StatusParams | undefined {
    return this.lastStatus;
  }

  /** The last pronto/resolveDefinitions the server asked and what this side answered (logs, tests). */
  get lastDefinitions(): { params: ResolveDefinitionsParams; result: ResolveDefinitionsResult } | undefined {
    return this.lastResolved;
  }
  private lastResolved: { params: ResolveDefinitionsParams; result: ResolveDefinitionsResult } | undefined;

  start(): Promise<void> {
    return this.serialise(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serialise(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serialise(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  /** Report an accepted (part of a) suggestion to the server; a no-op when it is down. */
  notifyAccepted(params: DidAcceptParams): void {
    this.log.debug(`accepted (${params.kind}): ${JSON.stringify(params.text.length > 80 ? `${params.text.slice(0, 80)}…` : params.text)}`);
    const client = this.runningClient;
    if (!client) return;
    client.sendNotification(DidAcceptCompletionNotification.type, params).catch((err: unknown) => {
      this.log.warn(`could not report an accepted suggestion: ${String(err)}`);
    });
  }

  dispose(): void {
    void this.stop();
    this.secretWatch.dispose();
    this.changed.dispose();
  }

  private serialise(step: () => Promise<void>): Promise<void> {
    const next = this.lifecycle.then(step, step);
    this.lifecycle = next.catch(() => undefined);
    return next;
  }

  private async doStart(): Promise<void> {
    if (this.client) return;
    await migrateApiKeySetting(this);
    const engineApiKey = await this.extension.secrets.get(ENGINE_API_KEY_SECRET);
    const serverModule = this.extension.asAbsolutePath('dist/server.js');
    const env = {
      ...process.env,
      // Where the server can find files shipped with the extension (engine binary in a .vsix) and
      // where it may keep its own (downloaded models, the generated demo model).
      PRONTO_EXTENSION_DIR: this.extension.extensionPath,
      PRONTO_STORAGE_DIR: this.extension.globalStorageUri.fsPath,
    };
    const serverOptions: ServerOptions = {
      run: { module: serverModule, transport: TransportKind.stdio, options: { env } },
      debug: {
        module: serverModule,
        transport: TransportKind.stdio,
        options: { env, execArgv: ['--nolazy', '--inspect=6011'] },
      },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file' }, { scheme: 'untitled' }, { scheme: 'vscode-notebook-cell' }],
      outputChannel: this.log,
      // Editors without workspace/configuration get the settings here; VS Code's are re-read by
      // the server through workspace/configuration and win.
      // `capabilities`: what this client answers (protocol/lsp.ts ProntoClientCapabilities).
      initializationOptions: {
        pronto: plainSettings(),
        capabilities: { resolveDefinitions: true } satisfies ProntoClientCapabilities,
        ...(engineApiKey ? { engineApiKey } : {}),
      } satisfies ProntoInitializationOptions,
      synchronize: { configurationSection: 'pronto' },
      middleware: {
        // Attach a command to every suggestion so a full accept (Tab) reaches the server's stats
        // and prefetch. Partial accepts go through pronto.acceptWord / pronto.acceptLine.
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const result = await next(document, position, context, token);
          if (!result) return result;
          const items = Array.isArray(result) ? result : result.items;
          for (const item of items) {
            if (item.command) continue;
            const text = typeof item.insertText === 'string' ? item.insertText : item.insertText.value;
            const params: DidAcceptParams = { uri: document.uri.toString(), text, kind: 'full' };
            item.command = { command: ACCEPT_COMMAND, title: 'Accepted', arguments: [params] };
          }
          return result;
        },
      },
    };
    const client = new LanguageClient('pronto', 'Pronto', serverOptions, clientOptions);
    this.client = client;
    this.lastStatus = undefined;
    this.clientSubscriptions.push(
      client.onDidChangeState((e) => {
        this.log.info(`language server: ${State[e.oldState]} -> ${State[e.newState]}`);
        if (e.newState === State.Stopped) this.lastStatus = undefined;
        this.changed.fire();
      }),
      client.onNotification(StatusNotification.type, (params) => {
        this.lastStatus = params;
        // Trace only: busy/ready flips come with every completion, and the server has already
        // logged each engine state change (with its message) in this channel.
        this.log.trace(`status: ${params.state}${params.enabled ? '' : ' (disabled)'}: ${params.message}`);
        this.changed.fire();
      }),
      client.onRequest(ResolveDefinitionsRequest.method, async (params: ResolveDefinitionsParams, token) => {
        const t0 = Date.now();
        const result = await resolveDefinitions(params, token);
        this.log.trace(
          `resolveDefinitions: ${params.positions.map((p) => p.name).join(', ')} -> ${result.definitions.map((d) => d.name).join(', ') || 'none'} (${Date.now() - t0} ms)`,
        );
        this.lastResolved = { params, result };
        this.changed.fire();
        return result;
      }),
    );
    this.log.info(`starting the language server ${serverModule}`);
    this.changed.fire();
    try {
      await client.start();
    } catch (err) {
      this.log.error(`the language server did not start: ${err instanceof Error ? err.message : String(err)}`);
      await this.doStop();
      throw err;
    }
    this.log.info('language server running');
    await client.sendNotification(RequestStatusNotification.type);
    this.changed.fire();
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.lastStatus = undefined;
    if (!client) return;
    try {
      if (client.needsStop()) await client.stop(5000);
    } catch (err) {
      this.log.warn(`stopping the language server: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      for (const d of this.clientSubscriptions.splice(0)) d.dispose();
      await client.dispose().catch(() => undefined);
      this.changed.fire();
    }
  }
}

/** The `pronto.*` settings as a plain nested object (for initializationOptions); the old API key setting left out. */
export function plainSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration('pronto');
  const plain = JSON.parse(JSON.stringify(config)) as Record<string, unknown>;
  const engine = plain.engine as Record<string, unknown> | undefined;
  if (engine) delete engine.apiKey;
  return plain;
}

/**
 * A key left in the old `pronto.engine.apiKey` setting (settings.json, readable by any extension
 * and often committed with a workspace) moves into the secret storage, the setting is cleared
 * wherever it was set, and the user is told.
 */
export async function migrateApiKeySetting(ctx: Pick<Ctx, 'extension' | 'log'>): Promise<boolean> {
  const config = vscode.workspace.getConfiguration('pronto');
  const found = config.inspect<string>('engine.apiKey');
  const places: [string | undefined, vscode.ConfigurationTarget, string][] = [
    [found?.workspaceFolderValue, vscode.ConfigurationTarget.WorkspaceFolder, 'workspace folder'],
    [found?.workspaceValue, vscode.ConfigurationTarget.Workspace, 'workspace'],
    [found?.globalValue, vscode.ConfigurationTarget.Global, 'user'],
  ];
  const set = places.filter(([v]) => typeof v === 'string' && v.length > 0);
  if (set.length === 0) return false;
  // The most specific value is the one that was in effect.
  await ctx.extension.secrets.store(ENGINE_API_KEY_SECRET, set[0]![0]!);
  const cleared: string[] = [];
  for (const [, target, name] of set) {
    try {
      await config.update('engine.apiKey', undefined, target);
      cleared.push(name);
    } catch (err) {
      ctx.log.warn(`could not clear pronto.engine.apiKey in the ${name} settings: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const msg = `Pronto moved the remote engine API key from settings.json (${cleared.join(', ') || 'not cleared'}) into VS Code's secret storage, where other extensions and shared settings files cannot read it. Change it with "Pronto: Set Remote Engine API Key…".`;
  ctx.log.info(msg);
  void vscode.window.showInformationMessage(msg);
  return true;
}
