/**
 * Chat in the sidecar (protocol/chat.ts) and the one registration call server.ts makes for chat and
 * templates (`registerPromptFeatures`).
 *
 *   pronto/chat            → context (tokenizer-counted budget) → messages (system + history + user)
 *                            → engine `messages` submit, tokens → `$/progress`, `$/cancelRequest` →
 *                            AbortController → engine `cancel`
 *   pronto/chat/context    → the same context assembly, for the token count shown before sending
 *   pronto/chat/commands   → slash commands in force
 *   pronto/templates/*     → server/src/templates/feature.ts
 */
import type { CancellationToken } from 'vscode-languageserver';
import { z } from 'zod';
import {
  type ChatContextReport,
  ChatContextRequest,
  type ChatParams,
  type ChatProgress,
  ChatRequest,
  type ChatResult,
  type ChatTurn,
  ListSlashCommandsRequest,
  type SlashCommandInfo,
} from '../../../protocol/chat';
import type { EngineClient } from '../engine/client';
import { type PromptFeatureDeps, registerTemplates, TemplatesFeature } from '../templates/feature';
import { assembleContext, type CountTokens } from './context';
import { chatMessages, systemMessage, userMessage } from './prompt';

export type { PromptFeatureDeps } from '../templates/feature';

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
const emptyReport = (): ChatContextReport => ({ items: [], sentTokens: 0, budgetTokens: 0, droppedTurns: 0 });

/** Token counts by text, so an unchanged file or turn is not sent to /tokenize again. */
class TokenCounts {
  private readonly counts = new Map<string, number>();
  constructor(private readonly limit = 256) {}
  counter(client: EngineClient): CountTokens {
    return async (text) => {
      const hit = this.counts.get(text);
      if (hit !== undefined) return hit;
      const r = await client.tokenize(text, { model: 'chat' });
      if (!r.ok) throw new Error(r.message);
      this.counts.set(text, r.tokens.length);
      if (this.counts.size > this.limit) this.counts.delete(this.counts.keys().next().value!);
      return r.tokens.length;
    };
  }
}

/** Per-message markup of a chat template (role headers, separators), counted on top of the contents. */
const MESSAGE_OVERHEAD_TOKENS = 8;

export class ChatFeature {
  private readonly counts = new TokenCounts();

  constructor(
    private readonly deps: PromptFeatureDeps,
    private readonly templates: TemplatesFeature,
  ) {}

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
      const entry = this.templates.store.slash(params.command);
      if (entry?.template.kind !== 'slash') {
        const known = this.slashCommands()
          .map((c) => `/${c.name}`)
          .join(', ');
        return fail('unknown_command', `There is no slash command /${params.command}. Known: ${known || 'none'}.`);
      }
      slash = entry.template.template;
    }
    const systemTemplate = this.templates.store.active('chat-system')?.template.template;
    const maxTokens = params.maxTokens ?? settings['chat.maxTokens'];
    const count = this.counts.counter(client);
    let plan: Awaited<ReturnType<ChatFeature['budget']>>;
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
    const system = systemMessage(
      systemTemplate,
      { workspace: this.templates.workspaceName, model: this.templates.modelName() },
      assembled.items,
    );
    const user = userMessage(params.message, slash, assembled.items);

    const controller = new AbortController();
    if (token.isCancellationRequested) controller.abort();
    const sub = token.onCancellationRequested(() => controller.abort());
    let text = '';
    try {
      const outcome = await client.submit(
        {
          messages: chatMessages(system, plan.history, user),
          // By purpose: the engine's chat model (--chat-model), or its code model when it has none.
          model: 'chat',
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
    this.templates.store.refresh();
    return this.templates.store
      .entries()
      .filter((e) => e.active && e.template.kind === 'slash')
      .map((e) => ({ name: (e.template as { name: string }).name, description: e.template.description ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * Chat and templates, wired to the connection with one call; returns the templates feature, which
 * server.ts also tells about the engine (engineReady) and asks for custom FIM prompts.
 */
export function registerPromptFeatures(deps: PromptFeatureDeps): TemplatesFeature {
  const templates = new TemplatesFeature(deps);
  const chat = new ChatFeature(deps, templates);
  const { connection } = deps;
  connection.onRequest(ChatRequest.method, (params: unknown, token: CancellationToken) => chat.chat(params, token));
  connection.onRequest(ChatContextRequest.method, (params: unknown) => chat.contextReport(params));
  connection.onRequest(ListSlashCommandsRequest.method, () => chat.slashCommands());
  registerTemplates(templates, connection);
  return templates;
}
