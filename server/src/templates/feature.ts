/**
 * Prompt templates in the sidecar (protocol/templates.ts): the `pronto/templates/...` handlers over
 * the TemplateStore, the preview (rendered against the client's editor, counted with the engine's
 * tokenizer), the model the templates are chosen for, and the FIM-template hook of completions.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connection, InitializeParams } from 'vscode-languageserver';
import { z } from 'zod';
import type { ReadyLine } from '../../../protocol/engine';
import {
  DeleteTemplateRequest,
  type EditorSnapshot,
  ExportTemplatesRequest,
  ImportTemplatesRequest,
  type ImportTemplatesResult,
  ListTemplatesRequest,
  PreviewTemplateRequest,
  type PreviewTemplateResult,
  ResetTemplatesRequest,
  SaveTemplateRequest,
  type SaveTemplateResult,
  TemplatesChangedNotification,
  type TemplatesState,
} from '../../../protocol/templates';
import { languageFromUri, uriLabel } from '../chat/context';
import type { EngineClient } from '../engine/client';
import type { Settings } from '../settings';
import { customFimPrompt, type FimParts, renderFimTemplate } from './fim';
import { readFimTokens } from './fimTokens';
import { fimAppendOnly, renderTemplate } from './render';
import { validateTemplate } from './schema';
import { TemplateStore } from './store';

/** What the chat and templates features need from the server (server.ts passes these). */
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

export class TemplatesFeature {
  readonly store: TemplateStore;
  private workspace = '';
  private readonly changeListeners = new Set<() => void>();

  constructor(private readonly deps: PromptFeatureDeps) {
    this.store = new TemplateStore(deps.log);
    this.store.onChange((state) => {
      deps.setStatusNote(this.store.statusNote());
      void deps.connection.sendNotification(TemplatesChangedNotification.method, state);
      for (const l of this.changeListeners) l();
    });
  }

  /** Name of the workspace folder ({workspace} in the system prompt). */
  get workspaceName(): string {
    return this.workspace;
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
    this.workspace = root ? path.basename(root) : '';
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
      const tokens = await readFimTokens(info.model.path);
      // The engine restarted (another model) while the header was read: that start sets the model.
      if (this.deps.engineInfo() !== info) return;
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

  /** The model's name for people ({model}). */
  modelName(): string {
    return this.store.state().model?.name ?? this.deps.engineInfo()?.model.name ?? 'the model';
  }

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
      rendered = renderTemplate(t.template, { workspace: this.workspace || 'untitled', model: this.modelName(), filename, language });
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
    // FIM templates are read by the code model, chat and slash templates by the chat model (its own
    // vocabulary when the engine has --chat-model).
    const r = await client.tokenize(rendered, {
      addSpecial: t.kind === 'fim',
      parseSpecial: t.kind === 'fim',
      ...(t.kind === 'fim' ? {} : { model: 'chat' as const }),
    });
    if (r.ok) result.tokens = r.tokens.length;
    else result.tokensError = r.message;
    return result;
  }

  state(): TemplatesState {
    this.store.refresh();
    return this.store.state();
  }
}

/** Registers the `pronto/templates/...` handlers. */
export function registerTemplates(features: TemplatesFeature, connection: Connection): void {
  const scope = z.enum(['user', 'workspace']);
  const bad = (what: string) => new Error(`${what}: invalid parameters`);

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
}
