/**
 * Custom LSP messages between the VS Code client (extension/) and the sidecar (server/). Standard
 * LSP is used wherever a standard method exists (`textDocument/inlineCompletion`, LSP 3.18); these
 * are the `pronto/...` extras. Each namespace gives the method name, its direction, and its types.
 * Other editors can use them too: they are plain JSON-RPC.
 */
import { NotificationType, NotificationType0, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

/** The server's state, a closed union. Clients only render it. */
export type ServerState = 'starting' | 'ready' | 'busy' | 'degraded' | 'error' | 'stopped';

export interface StatusParams {
  state: ServerState;
  /** One sentence for a person: what is happening, and what to do when something is wrong. */
  message: string;
  /** Model in use (file name), when one is loaded. */
  model?: string;
  /** "CUDA" | "Vulkan" | "CPU" | "remote" */
  backend?: string;
  /** True when running the generated demo model, whose output is meaningless. */
  demoModel?: boolean;
  /** Recent decode speed and completion latency, for the status bar. */
  tokensPerSecond?: number;
  lastLatencyMs?: number;
  /** Completions switched off by the user. */
  enabled: boolean;
  /**
   * No model is configured (and the demo model was not asked for): the engine is not started and
   * no completions are offered until the user downloads or selects one. State is `stopped`.
   */
  needsModel?: boolean;
  /** The configured model (or draft) file was refused before the engine started on it. State is `error`. */
  modelProblem?: ModelProblem;
  /**
   * pronto.chat.modelPath names a file that was refused: the engine runs without it (completions
   * work, chat uses the completion model). Optional: older servers do not send it.
   */
  chatModelProblem?: ModelProblem;
  /** The engine failed repeatedly and is no longer restarted automatically. State is `error`. */
  engineGaveUp?: boolean;
  /** Settings with invalid values, each replaced by its default. Absent when every value is valid. */
  settingsProblems?: SettingProblem[];
  /**
   * The most severe monitor alert firing now (protocol/monitor.ts), for the status bar's colour;
   * absent when none is. Optional: older servers do not send it.
   */
  alert?: StatusAlert;
}

export interface ModelProblem {
  /** The setting that names the file. */
  setting: 'pronto.model.path' | 'pronto.model.draftPath' | 'pronto.model.demo' | 'pronto.chat.modelPath';
  path: string;
  /** What is wrong, one sentence naming the file. */
  problem: string;
  /** What to pick instead, one sentence. */
  advice: string;
}

export interface SettingProblem {
  /** Full setting id, e.g. `pronto.completion.maxTokens`. */
  setting: string;
  /** One sentence: the value, why it is refused, the default used instead. */
  message: string;
}

export interface StatusAlert {
  severity: 'warning' | 'critical';
  /** Alerts firing now. */
  count: number;
  /** One line naming the worst one, e.g. "Request latency p95 412 ms above 200 ms on Local engine". */
  summary: string;
}

/** server → client, notification: the state changed or new figures are available. */
export namespace StatusNotification {
  export const method = 'pronto/status' as const;
  export const type = new NotificationType<StatusParams>(method);
}

/** One completion request as seen by monitoring. */
export interface CompletionRecord {
  /** Sequence number within this server's life; log lines about the request carry `#id`. */
  id?: number;
  at: number;
  uri: string;
  latencyMs: number;
  fromCache: boolean;
  /** The answer was computed ahead of time by a prefetch (found in the cache, or joined while running). */
  fromPrefetch?: boolean;
  promptTokens: number;
  reusedTokens: number;
  evaluatedTokens: number;
  generatedTokens: number;
  draftedTokens: number;
  acceptedTokens: number;
  outcome: 'shown' | 'empty' | 'cancelled' | 'error';
  /** Why an `error` request failed (the same text as its log line). */
  message?: string;
}

/** How prefetch (computing the next suggestion while one is shown) paid off. */
export interface PrefetchStats {
  /** Prefetches started: one per anticipated position, never restarted for the same one. */
  started: number;
  /** Prefetches aborted before they finished (the user went elsewhere). */
  aborted: number;
  /** Requests that waited for a running prefetch instead of asking the engine. */
  joined: number;
  /** Requests answered with a prefetched answer (from the cache, or by joining). */
  answered: number;
}

export interface StatsResult {
  requests: number;
  cacheHits: number;
  shown: number;
  accepted: number;
  cancelled: number;
  errors: number;
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  prefetch: PrefetchStats;
  /** Requests sent to the engine (each alternative and each prefetch counts). */
  engineRequests: number;
  recent: CompletionRecord[];
}

/** client → server, request: per-request statistics kept for monitoring. */
export namespace StatsRequest {
  export const method = 'pronto/stats' as const;
  export const type = new RequestType0<StatsResult, void>(method);
}

export interface DidAcceptParams {
  uri: string;
  /** The accepted text, as inserted. */
  text: string;
  /** Why the client inserted it. */
  kind: 'full' | 'word' | 'line';
}

/** client → server, notification: the user accepted (part of) a suggestion. Drives stats and prefetch. */
export namespace DidAcceptCompletionNotification {
  export const method = 'pronto/didAcceptCompletion' as const;
  export const type = new NotificationType<DidAcceptParams>(method);
}

/** client → server, request: stop and start the engine again (settings are re-read). */
export namespace RestartEngineRequest {
  export const method = 'pronto/restartEngine' as const;
  export const type = new RequestType0<null, void>(method);
}

/**
 * What a client may pass in `initializationOptions` of `initialize`. Settings go under `pronto`
 * (the same nested shape as workspace/configuration section "pronto").
 */
export interface ProntoInitializationOptions {
  pronto?: unknown;
  /** What the client can answer (see ProntoClientCapabilities). */
  capabilities?: ProntoClientCapabilities;
  /** Folder for downloaded and generated models. */
  storageDir?: string;
  /**
   * The API key of a remote engine (`pronto.engine.url`). VS Code keeps it in its secret storage
   * (never in settings.json) and passes it here and with `pronto/setEngineApiKey`; other editors can
   * pass it here or set $PRONTO_ENGINE_API_KEY for the server.
   */
  engineApiKey?: string;
}

/** client → server, notification: the remote engine's API key changed ('' = none); the connection is remade. */
export namespace SetEngineApiKeyNotification {
  export const method = 'pronto/setEngineApiKey' as const;
  export const type = new NotificationType<{ apiKey: string }>(method);
}

/** client → server, notification: switch completions on or off without stopping the engine. */
export namespace SetEnabledNotification {
  export const method = 'pronto/setEnabled' as const;
  export const type = new NotificationType<{ enabled: boolean }>(method);
}

// ---------------------------------------------------------------------------------------------
// Models: catalog, download, selection
// ---------------------------------------------------------------------------------------------

export interface CatalogModel {
  id: string;
  label: string;
  /** The model this file is a version of; the picker shows one row per model, then its versions. */
  model: string;
  /** The model's name without the version, e.g. "Qwen2.5-Coder 1.5B". */
  modelLabel: string;
  /** The version: quantization name, its bits per weight, a label ("8-bit (Q8_0)") and its quality cost. */
  quant: string;
  bits: number;
  quantLabel: string;
  quality: string;
  /** Parameters in billions. */
  paramsB: number;
  /** Download size (approximate until the server says). */
  sizeBytes: number;
  /** Memory it needs to run with the configured context. */
  memoryBytes: number;
  /** It fits the freest GPU, or the RAM when there is none. */
  fits: boolean;
  /** The version of its model to take on this machine. */
  suggestedVersion: boolean;
  /** Where it fits, or why not: "suggested for RTX 3060 (11.0 GiB free)". */
  fitNote: string;
  /** Already downloaded and verified. */
  installed: boolean;
  /** The catalog's suggestion for this machine (GPU free memory, or CPU). */
  recommended: boolean;
  /** Smallest model of the same family, usable as a draft. */
  draftFor?: string[];
}

/** client → server, request: the catalog of recommended models with their local state. */
export interface ListModelsResult {
  models: CatalogModel[];
  /** This machine, e.g. "CPU only, 23.4 GiB RAM" or "RTX 3060 (11.0 GiB free of 12.0 GiB); 32.0 GiB RAM". */
  hardware: string;
  /** Why the `recommended` model was chosen, one sentence. */
  suggestion: string;
}

export namespace ListModelsRequest {
  export const method = 'pronto/listModels' as const;
  export const type = new RequestType0<ListModelsResult, void>(method);
}

/**
 * Why a download failed, as the `data` of the pronto/downloadModel error: a plain sentence for a
 * person and the kind of failure (server/src/models/downloadFailure.ts).
 */
export interface DownloadFailure {
  kind: 'offline' | 'unreachable' | 'http' | 'auth' | 'not-found' | 'server' | 'disk' | 'checksum' | 'no-checksum' | 'busy' | 'other';
  /** One sentence, e.g. "Can't reach huggingface.co — are you offline?". */
  sentence: string;
  /** Host the download went to (the mirror when one is set). */
  host?: string;
}

export interface DownloadProgressParams {
  id: string;
  receivedBytes: number;
  totalBytes: number;
  state: 'downloading' | 'verifying' | 'done' | 'failed' | 'cancelled';
  message?: string;
}

/** client → server, request: download (or resume) a catalog model, verify it, and return its path. */
export interface DownloadModelParams {
  id: string;
  /**
   * Base URL replacing https://huggingface.co for this download (the client just asked the user for
   * a mirror; the setting it also writes reaches the server later). Absent: pronto.model.mirror.
   */
  mirror?: string;
}

/**
 * The error of a failed download carries a `DownloadFailure` as its `data`, and its message is that
 * failure's sentence.
 */
export namespace DownloadModelRequest {
  export const method = 'pronto/downloadModel' as const;
  export const type = new RequestType<DownloadModelParams, { path: string }, void>(method);
}

/** server → client, notification: download progress. */
export namespace DownloadProgressNotification {
  export const method = 'pronto/downloadProgress' as const;
  export const type = new NotificationType<DownloadProgressParams>(method);
}

export type CheckModelResult =
  | { ok: true; architecture: string; name?: string; notes: string[] }
  | { ok: false; problem: string; advice: string };

/**
 * client → server, request: check a model file (GGUF magic, version, weights, architecture, FIM
 * tokens) without starting anything, so a wrong pick is refused before it becomes the setting.
 */
export namespace CheckModelRequest {
  export const method = 'pronto/checkModel' as const;
  /** `purpose` `chat`: a model for pronto.chat.modelPath (no fill-in-the-middle tokens needed). */
  export const type = new RequestType<{ path: string; purpose?: 'completion' | 'chat' }, CheckModelResult, void>(method);
}

/** client → server, notification: the client wants a fresh status push (e.g. after reload). */
export namespace RequestStatusNotification {
  export const method = 'pronto/requestStatus' as const;
  export const type = new NotificationType0(method);
}

// ---------------------------------------------------------------------------------------------
// Context: definitions of symbols near the cursor, resolved by the editor
// ---------------------------------------------------------------------------------------------

/**
 * What the client says it can do, in `initializationOptions.capabilities` of `initialize`
 * (next to `pronto`, the settings). The server sends `pronto/resolveDefinitions` only to clients
 * that set `resolveDefinitions: true`; for the others it falls back to its own text-pattern search.
 */
export interface ProntoClientCapabilities {
  resolveDefinitions?: boolean;
}

/** An identifier near the cursor, at a position in the document (0-based line and UTF-16 character). */
export interface DefinitionPosition {
  line: number;
  character: number;
  name: string;
}

export interface ResolveDefinitionsParams {
  uri: string;
  positions: DefinitionPosition[];
  /**
   * Lines of `uri` the completion prompt already contains (the prefix/suffix window, inclusive):
   * definitions inside them are not worth sending back. Optional.
   */
  excludeLines?: { start: number; end: number };
}

export interface ResolvedDefinition {
  /** The identifier looked up (one of the request's names). */
  name: string;
  /** Where the definition is. */
  uri: string;
  /** A short snippet: the definition's lines (declaration or enclosing block), capped in size. */
  text: string;
  /** 0-based line of the snippet's first line in `uri`, when known. */
  line?: number;
}

export interface ResolveDefinitionsResult {
  /** Definitions found, at most one per name, in the request's order; names without one are left out. */
  definitions: ResolvedDefinition[];
  /**
   * Names the client could not look up in time (its provider was slow): unknown rather than
   * "no definition", so the server asks again later instead of caching the absence. Optional.
   */
  unresolved?: string[];
}

/**
 * server → client, request: go-to-definition for identifiers near the cursor (in VS Code, through
 * `vscode.executeDefinitionProvider`). Asked in the background, never on a keystroke's critical
 * path; results are cached per (document, name) and feed the FIM request's extra context chunks.
 */
export namespace ResolveDefinitionsRequest {
  export const method = 'pronto/resolveDefinitions' as const;
  export const type = new RequestType<ResolveDefinitionsParams, ResolveDefinitionsResult, void>(method);
}
