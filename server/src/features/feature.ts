/**
 * A server feature (tabby-agent's and rust-analyzer's shape): one module per feature under
 * server/src/features/, which registers its own LSP handlers and owns its own state. server.ts
 * builds the shared `ServerContext` once, calls every feature's `register(ctx)`, and forwards the
 * lifecycle (initialize, initialized, settings changes, shutdown) to the hooks it returns.
 *
 * Adding a feature (see server/README.md, "Adding a feature"):
 *   1. `server/src/features/<name>.ts` exporting `const <name>Feature: Feature` (or a factory when it
 *      needs dependencies from main.ts, like `modelsFeature(deps)`);
 *   2. one line in `defaultFeatures()` (features/index.ts);
 *   3. its messages in protocol/lsp.ts (`pronto/...`), registered by method name in `register`.
 */
import type { CancellationToken, Connection, InitializeParams, ServerCapabilities } from 'vscode-languageserver';
import type { ProntoClientCapabilities } from '../../../protocol/lsp';
import type { TokenEstimator } from '../context/tokens';
import type { DocumentStore } from '../documents';
import type { EngineManager, EngineState } from '../engine/manager';
import type { Settings } from '../settings';
import type { CompletionStats } from '../stats';
import type { StatusReporter } from '../status';

export interface Log {
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
}

/** What the client told the server at `initialize` (filled in before any feature hook runs). */
export interface ClientInfo {
  /** `initializationOptions` as sent (settings under `pronto`, `capabilities`, `storageDir`, …). */
  initializationOptions: unknown;
  /** `initializationOptions.capabilities`: what the client can answer (protocol/lsp.ts). */
  capabilities: ProntoClientCapabilities;
  /** The client answers workspace/configuration. */
  hasConfiguration: boolean;
  /**
   * The remote engine's API key: `initializationOptions.engineApiKey` (VS Code: from its secret
   * storage), replaced by `pronto/setEngineApiKey`; else $PRONTO_ENGINE_API_KEY. Never a setting.
   */
  engineApiKey: string | undefined;
}

/** The services every feature may use. Narrow on purpose: no feature reaches into another's state. */
export interface ServerContext {
  readonly connection: Connection;
  readonly log: Log;
  readonly documents: DocumentStore;
  /** Builds the `pronto/status` push; features report engine state, requests and notes to it. */
  readonly status: StatusReporter;
  /** Per-request records and counters behind `pronto/stats`. */
  readonly stats: CompletionStats;
  /** The engine (local process or remote URL): `engine.client` is the connection, when ready. */
  readonly engine: EngineManager;
  /** Called on every engine state change (ready, degraded, …); returns the unsubscribe function. */
  onEngineState(listener: (state: EngineState) => void): () => void;
  /** Characters per token of the engine's model, calibrated once per model: for every token budget. */
  readonly tokens: TokenEstimator;
  readonly client: ClientInfo;
  /** The current, validated settings. */
  settings(): Settings;
  /** Reads the settings again (initializationOptions + workspace/configuration) and tells every feature. */
  reloadSettings(): Promise<Settings>;
  /** Where downloaded and generated files go (`initializationOptions.storageDir`, `$PRONTO_STORAGE_DIR`, ~/.cache/pronto). */
  storageDir(): string;
  /** An AbortSignal that aborts when the LSP request is cancelled. */
  signalFrom(token: CancellationToken): AbortSignal;
}

/** What a feature does at each step of the server's life; every hook is optional. */
export interface FeatureHooks {
  /** At `initialize`: server capabilities this feature adds (merged into the InitializeResult). */
  capabilities?(params: InitializeParams): Partial<ServerCapabilities>;
  /** After `initialized`, once the settings have been read. Features run in registration order. */
  initialized?(): void | Promise<void>;
  /** The settings changed (workspace/didChangeConfiguration, or a reload). */
  settingsChanged?(previous: Settings, next: Settings): void | Promise<void>;
  /** LSP `shutdown`: abort work and stop what the feature started. */
  shutdown?(): void | Promise<void>;
}

export interface Feature {
  readonly name: string;
  register(ctx: ServerContext): FeatureHooks | undefined;
}
