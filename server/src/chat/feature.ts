/**
 * Chat and prompt templates in the sidecar: the `pronto/chat...` and `pronto/templates/...` handlers
 * (protocol/chat.ts, protocol/templates.ts) and the FIM-template hook of completions. server.ts
 * wires it with one call (`registerPromptFeatures`) and tells it when the engine is ready.
 *
 *   pronto/chat            → context (tokenizer-counted budget) → messages (system + history + user)
 *                            → engine `messages` submit, tokens → `$/progress`, `$/cancelRequest` →
 *                            AbortController → engine `cancel`
 *   pronto/chat/context    → the same context assembly, for the token count shown before sending
 *   pronto/chat/commands   → slash commands in force
 *   pronto/templates/*     → TemplateStore (list, save, delete, reset, import, export, preview)
 *   pronto/templates/didChange (server → client) ← the store changed (file edited, saved, broken)
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { CancellationToken, Connection, InitializeParams } from 'vscode-languageserver';
import {
  ChatContextRequest,
  ChatRequest,
  ListSlashCommandsRequest,
  type ChatContextReport,
  type ChatParams,
  type ChatProgress,
  type ChatResult,
  type ChatTurn,
  type SlashCommandInfo,
} from '../../../protocol/chat';
import type { ReadyLine } from '../../../protocol/engine';
import {
  DeleteTemplateRequest,
  ExportTemplatesRequest,
  ImportTemplatesRequest,
  ListTemplatesRequest,
  PreviewTemplateRequest,
  ResetTemplatesRequest,
  SaveTemplateRequest,
  TemplatesChangedNotification,
  type EditorSnapshot,
  type ImportTemplatesResult,
  type PreviewTemplateResult,
  type SaveTemplateResult,
  type TemplatesState,
} from '../../../protocol/templates';
import type { EngineClient } from '../engine/client';
import type { Settings } from '../settings';
import { assembleContext, type CountTokens, languageFromUri, uriLabel } from './context';
import { chatMessages, systemMessage, userMessage } from './prompt';
import { customFimPrompt, type FimParts, renderFimTemplate } from '../templates/fim';
import { readFimTokens } from '../templates/fimTokens';
import { fimAppendOnly, renderTemplate } from '../templates/render';
import { validateTemplate } from '../templates/schema';
import { TemplateStore } from '../templates/store';

export interface PromptFeatureDeps {
  connection: Connection;
  getClient(): EngineClient | undefined;
  /** The local engine's ready line (undefined for a remote engine, or while it is down). */
  engineInfo(): ReadyLine | undefined;
  /** One sentence on the engine's state, for "cannot answer" messages. */
  engineMessage(): string;
  getSettings(): Settings;
  openDocument(uri: string): { text: string; languageId: string } | undefined;
  setStatusNote(note: string | undefined): void;
  log(line: string): void;
}

// pronto/chat params come from any editor: checked before use.
const contextItemSchema = z.object({
  kind: z.enum(['selection', 'file']),
  uri: z.string().min(1).max(8192),
  text: z
    .string()
    .max(8 << 20)
    .optional(),
  languageId: z.string().max(100).optional(),
  range: z.object({ startLine: z.number().int().min(0), endLine: z.number().int().min(0) }).optional(),
  current: z.boolean().optional(),
});
const turnSchema = z.object({ role: z.enum(['user', 'assistant']), content: z.string().max(8 << 20) });
const chatParamsSchema = z.object({
  history: z.array(turnSchema).max(1000).optional(),
  message: z.string().max(1 << 20),
  command: z.string().max(64).optional(),
  context: z.array(contextItemSchema).max(64).optional(),
  maxTokens: z.number().int().min(1).max(4096).optional(),
  partialResultToken: z.union([z.string(), z.number()]).optional(),
});
const contextParamsSchema = z.object({
  context: z.array(contextItemSchema).max(64),
  history: z.array(turnSchema).max(1000).optional(),
  message: z
    .string()
    .max(1 << 20)
    .optional(),
});
const snapshotSchema = z.object({
  uri: z.string().max(8192),
  languageId: z.string().max(100),
  text: z.string().max(8 << 20),
  offset: z.number().int().min(0),
  selection: z
    .string()
    .max(8 << 20)
    .optional(),
});

const emptyReport = (): ChatContextReport => ({ items: [], sentTokens: 0, budgetTokens: 0, droppedTurns: 0 });

/** Token counts by text, so an unchanged file or turn is not sent to /tokenize again. */
class TokenCounts {
  private readonly counts = new Map<string, number>();
  constructor(private readonly limit = 256) {}
  counter(client: EngineClient): CountTokens {
    return async (text) => {
      const hit = this.counts.get(text);
      if (hit !== undefined) return hit;
      const r = await client.tokenize(text);
      if (!r.ok) throw new Error(r.message);
      this.counts.set(text, r.tokens.length);
      if (this.counts.size > this.limit) this.counts.delete(this.counts.keys().next().value!);
      return r.tokens.length;
    };
  }
}

/** Per-message markup of a chat template (role headers, separators), counted on top of the contents. */
const MESSAGE_OVERHEAD_TOKENS = 8;

export class PromptFeatures {
  readonly store: TemplateStore;
  private readonly counts = new TokenCounts();
  private workspaceName = '';
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly deps: PromptFeatureDeps) {
    this.store = new TemplateStore(deps.log);
    this.store.onChange((state) => {
      deps.setStatusNote(this.store.statusNote());
      void deps.connection.sendNotification(TemplatesChangedNotification.method, state);
      for (const l of this.changeListeners) l();
    });
  }

  /** From the server's initialize: where the workspace and the user's storage are. */
  initialize(params: InitializeParams, storageDir: string): void {
    const folder = params.workspaceFolders?.[0]?.uri ?? params.rootUri ?? undefined;
    let root: string | undefined;
    if (folder) {
      try {
        root = fileURLToPath(folder);
      } catch {
        root = undefined;
      }
    }
    this.workspaceName = root ? path.basename(root) : '';
    this.store.configure({ userDir: storageDir, workspaceRoot: root });
    this.store.watch();
    this.deps.setStatusNote(this.store.statusNote());
  }

  /** Templates changed (a completion cache keyed on the old prompt is stale). */
  onTemplatesChanged(listener: () => void): void {
    this.changeListeners.add(listener);
  }

  /** The engine is ready: learn its model (FIM tokens, family) for the templates. */
  async engineReady(): Promise<void> {
    const info = this.deps.engineInfo();
    if (info) {
      const tokens = readFimTokens(info.model.path);
      this.store.setModel(
        { name: `${info.model.name} (${path.basename(info.model.path)})`, arch: info.model.arch },
        { tokens, order: info.fim.supported ? info.fim.order : 'none', unknown: !tokens && info.fim.supported },
      );
      return;
    }
    const model = await this.deps.getClient()?.model();
    this.store.setModel(model, { order: 'spm', unknown: true });
  }

  /** The completion hook: a raw prompt from a custom FIM template, or undefined for the engine's own. */
  fimPrompt(parts: FimParts): string | undefined {
    const entry = this.store.active('fim');
    if (!entry) return undefined;
    return customFimPrompt({ text: entry.template.template, isDefault: entry.scope === 'default' }, parts, this.store.fimInfo);
  }

  dispose(): void {
    this.store.unwatch();
  }

  private modelName(): string {
    return this.store.state().model?.name ?? this.deps.engineInfo()?.model.name ?? 'the model';
  }

  // -----------------------------------------------------------------------------------------
  // Chat
  // -----------------------------------------------------------------------------------------

  /**
   * Fits history and context into the context window: the oldest turns go first when the window is
   * short, and the context gets what is left, up to pronto.chat.contextTokens.
   */
  private async budget(
    count: CountTokens,
    history: ChatTurn[],
    fixedText: string,
    maxTokens: number,
  ): Promise<{ history: ChatTurn[]; droppedTurns: number; contextBudget: number }> {
    const settings = this.deps.getSettings();
    const nCtx = this.deps.engineInfo()?.n_ctx ?? settings['engine.contextSize'];
    const room = nCtx - maxTokens - 16;
    const fixed = (await count(fixedText)) + 2 * MESSAGE_OVERHEAD_TOKENS;
    const turnTokens = await Promise.all(history.map(async (t) => (await count(t.content)) + MESSAGE_OVERHEAD_TOKENS));
    const reserve = Math.min(settings['chat.contextTokens'], Math.floor(Math.max(0, room) / 4));
    let start = 0;
    let total = turnTokens.reduce((a, b) => a + b, 0);
    while (start < history.length && fixed + total + reserve > room) {
      // Whole exchanges: a user turn and the answer after it.
      const n = history[start]?.role === 'user' && history[start + 1]?.role === 'assistant' ? 2 : 1;
      for (let i = 0; i < n; i++) total -= turnTokens[start + i] ?? 0;
      start += n;
    }
    return {
      history: history.slice(start),
      droppedTurns: start,
      contextBudget: Math.max(0, Math.min(settings['chat.contextTokens'], room - fixed - total)),
    };
  }

  async contextReport(raw: unknown): Promise<ChatContextReport> {
    const parsed = contextParamsSchema.safeParse(raw);
    if (!parsed.success)
      throw new Error(`pronto/chat/context: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const client = this.deps.getClient();
    if (!client) throw new Error(`The engine is not available: ${this.deps.engineMessage()}`);
    const count = this.counts.counter(client);
    const plan = await this.budget(count, parsed.data.history ?? [], parsed.data.message ?? '', this.deps.getSettings()['chat.maxTokens']);
    const assembled = await assembleContext(parsed.data.context, plan.contextBudget, count, {
      openDocument: (u) => this.deps.openDocument(u),
    });
    return { ...assembled.report, droppedTurns: plan.droppedTurns };
  }

  async chat(raw: unknown, token: CancellationToken): Promise<ChatResult> {
    const parsed = chatParamsSchema.safeParse(raw);
    if (!parsed.success) {
      return {
        text: '',
        finishReason: 'error',
        userMessage: '',
        context: emptyReport(),
        error: { code: 'bad_request', message: parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; ') },
      };
    }
    const params = parsed.data as ChatParams;
    const settings = this.deps.getSettings();
    const fail = (code: NonNullable<ChatResult['error']>['code'], message: string, context = emptyReport(), userMsg = ''): ChatResult => ({
      text: '',
      finishReason: 'error',
      userMessage: userMsg,
      context,
      error: { code, message },
    });
    const progress = (value: ChatProgress) => {
      if (params.partialResultToken !== undefined)
        void this.deps.connection.sendNotification('$/progress', { token: params.partialResultToken, value });
    };

    const client = this.deps.getClient();
    if (!client) return fail('engine_unavailable', `The engine is not available: ${this.deps.engineMessage()}`);

    let slash: string | undefined;
    if (params.command) {
      const entry = this.store.slash(params.command);
      if (entry?.template.kind !== 'slash') {
        const known = this.slashCommands()
          .map((c) => `/${c.name}`)
          .join(', ');
        return fail('unknown_command', `There is no slash command /${params.command}. Known: ${known || 'none'}.`);
      }
      slash = entry.template.template;
    }
    const systemTemplate = this.store.active('chat-system')?.template.template;
    const maxTokens = params.maxTokens ?? settings['chat.maxTokens'];
    const count = this.counts.counter(client);
    let plan: Awaited<ReturnType<PromptFeatures['budget']>>;
    let assembled: Awaited<ReturnType<typeof assembleContext>>;
    try {
      plan = await this.budget(count, params.history ?? [], `${systemTemplate ?? ''}\n${slash ?? ''}\n${params.message}`, maxTokens);
      assembled = await assembleContext(params.context ?? [], plan.contextBudget, count, {
        openDocument: (u) => this.deps.openDocument(u),
      });
    } catch (err) {
      return fail('engine_unavailable', `Counting tokens failed: ${(err as Error).message}`);
    }
    const report: ChatContextReport = { ...assembled.report, droppedTurns: plan.droppedTurns };
    progress({ kind: 'context', context: report });
    const system = systemMessage(systemTemplate, { workspace: this.workspaceName, model: this.modelName() }, assembled.items);
    const user = userMessage(params.message, slash, assembled.items);

    const controller = new AbortController();
    if (token.isCancellationRequested) controller.abort();
    const sub = token.onCancellationRequested(() => controller.abort());
    let text = '';
    try {
      const outcome = await client.submit(
        {
          messages: chatMessages(system, plan.history, user),
          ...(settings['chat.template'] ? { chat_template: settings['chat.template'] } : {}),
          sampling: { temperature: settings['chat.temperature'] },
          limits: { max_tokens: maxTokens },
          // The draft model and n-gram lookup serve completions; chat answers decode plainly.
          speculative: { draft: false, ngram: false },
        },
        {
          signal: controller.signal,
          onToken: (piece) => {
            text += piece;
            progress({ kind: 'text', text: piece });
          },
        },
      );
      if (outcome.kind === 'cancelled') {
        this.deps.log(`chat: cancelled after ${text.length} characters (${outcome.reason})`);
        return { text, finishReason: 'cancelled', userMessage: user, context: report };
      }
      if (outcome.kind === 'error') {
        const code =
          outcome.code === 'no_chat_template'
            ? 'no_chat_template'
            : outcome.code === 'prompt_too_long'
              ? 'prompt_too_long'
              : outcome.code === 'unavailable'
                ? 'engine_unavailable'
                : 'engine_error';
        const advice =
          code === 'no_chat_template'
            ? ' Set pronto.chat.template to a llama.cpp built-in template (for example chatml), or use a model with a chat template.'
            : code === 'prompt_too_long'
              ? ' Remove context or start a new conversation, or raise pronto.engine.contextSize.'
              : '';
        return { ...fail(code, `${outcome.message}.${advice}`, report, user), text };
      }
      const s = outcome.stats;
      this.deps.log(
        `chat: ${s.generated_tokens} tokens, prompt ${s.prompt_tokens} (reused ${s.reused_tokens}, evaluated ${s.evaluated_tokens}), ${outcome.finishReason}`,
      );
      return {
        text: outcome.text,
        finishReason: outcome.finishReason,
        userMessage: user,
        context: report,
        stats: {
          promptTokens: s.prompt_tokens,
          reusedTokens: s.reused_tokens,
          evaluatedTokens: s.evaluated_tokens,
          generatedTokens: s.generated_tokens,
          timeToFirstTokenMs: s.t_first_token_ms,
          totalMs: s.t_total_ms,
        },
      };
    } finally {
      sub.dispose();
    }
  }

  slashCommands(): SlashCommandInfo[] {
    this.store.refresh();
    return this.store
      .entries()
      .filter((e) => e.active && e.template.kind === 'slash')
      .map((e) => ({ name: (e.template as { name: string }).name, description: e.template.description ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  // -----------------------------------------------------------------------------------------
  // Templates
  // -----------------------------------------------------------------------------------------

  async preview(rawTemplate: unknown, rawEditor: unknown): Promise<PreviewTemplateResult> {
    const checked = validateTemplate(rawTemplate);
    if (!checked.ok) return { problems: checked.problems };
    const t = checked.template;
    const snap = snapshotSchema.safeParse(rawEditor);
    const editor: EditorSnapshot = snap.success ? snap.data : { uri: 'file:///untitled.txt', languageId: 'plaintext', text: '', offset: 0 };
    const offset = Math.min(editor.offset, editor.text.length);
    const filename = uriLabel(editor.uri);
    const language = editor.languageId || languageFromUri(editor.uri);
    const settings = this.deps.getSettings();
    let rendered: string;
    const result: PreviewTemplateResult = { problems: [] };
    if (t.kind === 'fim') {
      const parts: FimParts = {
        prefix: editor.text.slice(0, offset),
        suffix: editor.text.slice(offset),
        filename,
        languageId: language,
        extra: [],
        budget: {
          prefix_tokens: settings['context.prefixTokens'],
          suffix_tokens: settings['context.suffixTokens'],
          extra_tokens: settings['context.extraTokens'],
        },
      };
      rendered = renderFimTemplate(t.template, parts, this.store.fimInfo);
      result.appendOnly = fimAppendOnly(t.template);
      const isDefault = customFimPrompt({ text: t.template, isDefault: false }, parts, this.store.fimInfo) === undefined;
      result.fimPath = isDefault ? 'engine' : 'rendered';
    } else if (t.kind === 'chat-system') {
      rendered = renderTemplate(t.template, { workspace: this.workspaceName || 'untitled', model: this.modelName(), filename, language });
    } else {
      const selection = editor.selection || editor.text;
      rendered = renderTemplate(t.template, {
        input: '(what you type after the command)',
        selection,
        file: editor.text,
        filename,
        language,
        extra_context: '',
      });
    }
    result.rendered = rendered;
    const client = this.deps.getClient();
    if (!client) {
      result.tokensError = `no token count: the engine is not available (${this.deps.engineMessage()})`;
      return result;
    }
    const r = await client.tokenize(rendered, { addSpecial: t.kind === 'fim', parseSpecial: t.kind === 'fim' });
    if (r.ok) result.tokens = r.tokens.length;
    else result.tokensError = r.message;
    return result;
  }

  state(): TemplatesState {
    this.store.refresh();
    return this.store.state();
  }
}

export function registerPromptFeatures(deps: PromptFeatureDeps): PromptFeatures {
  const features = new PromptFeatures(deps);
  const { connection } = deps;
  const scope = z.enum(['user', 'workspace']);
  const bad = (what: string) => new Error(`${what}: invalid parameters`);

  connection.onRequest(ChatRequest.method, (params: unknown, token: CancellationToken) => features.chat(params, token));
  connection.onRequest(ChatContextRequest.method, (params: unknown) => features.contextReport(params));
  connection.onRequest(ListSlashCommandsRequest.method, () => features.slashCommands());
  connection.onRequest(ListTemplatesRequest.method, () => features.state());
  connection.onRequest(
    SaveTemplateRequest.method,
    async (p: { template?: unknown; scope?: unknown; previousId?: unknown }): Promise<SaveTemplateResult> => {
      const s = scope.safeParse(p?.scope);
      if (!s.success) throw bad(SaveTemplateRequest.method);
      const r = features.store.save(p.template, s.data, typeof p.previousId === 'string' ? p.previousId : undefined);
      return r.ok ? { ok: true as const, state: features.state() } : r;
    },
  );
  connection.onRequest(DeleteTemplateRequest.method, (p: { id?: unknown; scope?: unknown }) => {
    const s = scope.safeParse(p?.scope);
    if (!s.success || typeof p.id !== 'string') throw bad(DeleteTemplateRequest.method);
    const r = features.store.delete(p.id, s.data);
    if (!r.ok) throw new Error(r.message);
    return features.state();
  });
  connection.onRequest(ResetTemplatesRequest.method, (p: { scope?: unknown }) => {
    const s = scope.safeParse(p?.scope);
    if (!s.success) throw bad(ResetTemplatesRequest.method);
    const r = features.store.reset(s.data);
    if (!r.ok) throw new Error(r.message);
    return features.state();
  });
  connection.onRequest(ExportTemplatesRequest.method, (p: { scope?: unknown }) => {
    const s = z.enum(['user', 'workspace', 'all']).safeParse(p?.scope);
    if (!s.success) throw bad(ExportTemplatesRequest.method);
    return { text: features.store.export(s.data) };
  });
  connection.onRequest<ImportTemplatesResult, unknown>(
    ImportTemplatesRequest.method,
    async (p: { scope?: unknown; text?: unknown }): Promise<ImportTemplatesResult> => {
      const s = scope.safeParse(p?.scope);
      if (!s.success || typeof p.text !== 'string') throw bad(ImportTemplatesRequest.method);
      const r = features.store.import(s.data, p.text);
      return r.ok ? { ok: true as const, imported: r.imported, state: features.state() } : r;
    },
  );
  connection.onRequest(PreviewTemplateRequest.method, (p: { template?: unknown; editor?: unknown }) =>
    features.preview(p?.template, p?.editor),
  );
  return features;
}
