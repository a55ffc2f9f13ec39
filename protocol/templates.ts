/**
 * Prompt templates: the `pronto/templates/...` LSP methods between the client (extension/, or any
 * editor) and the sidecar (server/src/templates/), and the template types. Plain JSON-RPC.
 *
 * Three kinds of template:
 * - `fim`: the completion prompt, per model family (`family` is "*" or a lower-case part of the
 *   model's name or architecture). The built-in default is derived from the model's own FIM tokens
 *   and is exactly what the engine builds (the engine builds it, with its token budgets); any other
 *   FIM template is rendered by the sidecar and sent to the engine as a raw prompt.
 * - `chat-system`: the system prompt of chat, per model family.
 * - `slash`: a chat command (`/explain`), whose template becomes the user's message.
 *
 * Storage: `.pronto/templates.json` in the workspace (shareable through git) and `templates.json`
 * in the user's storage; the workspace overrides the user, which overrides the built-in defaults
 * (by `id`). Files are watched: a change applies to the next completion or chat message. An invalid
 * template is never used: its last valid version (or the default) stays in force, and `problems`
 * (and the server status) say so.
 */
import { NotificationType, RequestType, RequestType0 } from 'vscode-languageserver-protocol';

export type TemplateKind = 'fim' | 'chat-system' | 'slash';
export type TemplateScope = 'default' | 'user' | 'workspace';

export interface FimTemplate {
  id: string;
  kind: 'fim';
  family: string;
  description?: string;
  template: string;
}
export interface ChatSystemTemplate {
  id: string;
  kind: 'chat-system';
  family: string;
  description?: string;
  template: string;
}
export interface SlashTemplate {
  id: string;
  kind: 'slash';
  /** The command without its slash: `explain` for `/explain`. */
  name: string;
  description?: string;
  template: string;
}
export type PromptTemplate = FimTemplate | ChatSystemTemplate | SlashTemplate;

/** One problem of a template, attributed to a field (`template`, `id`, `family`, `name`, ...). */
export interface TemplateProblem {
  field: string;
  message: string;
  /** Offset in the template text, for problems inside it. */
  offset?: number;
}

/** A template as the server uses it, with where it comes from. */
export interface TemplateEntry {
  template: PromptTemplate;
  scope: TemplateScope;
  /** A built-in default with this id exists (so "reset" can go back to it). */
  hasDefault: boolean;
  /** In force for the current model (the FIM and system templates chosen by family; every slash command). */
  active: boolean;
  /**
   * The file holds an invalid version of this template (or the whole file is invalid): what is in
   * force is the last valid version, or the default. The problems say what is wrong.
   */
  invalid?: { scope: 'user' | 'workspace'; problems: TemplateProblem[]; raw?: unknown };
}

export interface TemplatesState {
  entries: TemplateEntry[];
  /** File-level problems and templates that could not even be attributed to an id. */
  problems: { scope: 'user' | 'workspace'; path: string; message: string }[];
  files: { user?: string; workspace?: string };
  variables: Record<TemplateKind, { name: string; description: string }[]>;
  /** The model the active choice was made for (name and architecture), when known. */
  model?: { name: string; arch: string };
}

/** client → server, request: every template with its scope and problems. */
export namespace ListTemplatesRequest {
  export const method = 'pronto/templates/list' as const;
  export const type = new RequestType0<TemplatesState, void>(method);
}

export interface SaveTemplateParams {
  /** Stored as given; rejected (ok: false, problems) when invalid. */
  template: unknown;
  scope: 'user' | 'workspace';
  /** The id it had before, when it was renamed (that entry is removed from the same scope). */
  previousId?: string;
}
export type SaveTemplateResult = { ok: true; state: TemplatesState } | { ok: false; problems: TemplateProblem[]; message?: string };

/** client → server, request: create or replace a template in a scope's file. */
export namespace SaveTemplateRequest {
  export const method = 'pronto/templates/save' as const;
  export const type = new RequestType<SaveTemplateParams, SaveTemplateResult, void>(method);
}

/** client → server, request: remove a template from a scope's file (a default comes back in force). */
export namespace DeleteTemplateRequest {
  export const method = 'pronto/templates/delete' as const;
  export const type = new RequestType<{ id: string; scope: 'user' | 'workspace' }, TemplatesState, void>(method);
}

/** client → server, request: remove every template of a scope's file (reset to the defaults). */
export namespace ResetTemplatesRequest {
  export const method = 'pronto/templates/reset' as const;
  export const type = new RequestType<{ scope: 'user' | 'workspace' }, TemplatesState, void>(method);
}

/** client → server, request: the templates file text of a scope (export), or of all in force. */
export namespace ExportTemplatesRequest {
  export const method = 'pronto/templates/export' as const;
  export const type = new RequestType<{ scope: 'user' | 'workspace' | 'all' }, { text: string }, void>(method);
}

export type ImportTemplatesResult = { ok: true; imported: number; state: TemplatesState } | { ok: false; message: string };

/** client → server, request: merge a templates file's text into a scope (same ids are replaced); all or nothing. */
export namespace ImportTemplatesRequest {
  export const method = 'pronto/templates/import' as const;
  export const type = new RequestType<{ scope: 'user' | 'workspace'; text: string }, ImportTemplatesResult, void>(method);
}

/** The editor around the cursor, for previews. */
export interface EditorSnapshot {
  uri: string;
  languageId: string;
  text: string;
  /** Cursor offset (UTF-16) in text. */
  offset: number;
  selection?: string;
}

export interface PreviewTemplateParams {
  /** The draft as typed in the panel (validated by the server). */
  template: unknown;
  editor?: EditorSnapshot;
}

export interface PreviewTemplateResult {
  problems: TemplateProblem[];
  /** The rendered prompt (absent when the draft is invalid). */
  rendered?: string;
  /** Tokens of the rendered prompt from the engine's tokenizer; absent (with tokensError) when the engine is down. */
  tokens?: number;
  tokensError?: string;
  /** FIM only: whether typing at the cursor only appends to the prompt, and why. */
  appendOnly?: { appendOnly: boolean; reason: string };
  /** FIM only: the prompt goes to the engine's own FIM builder (the default) or as a rendered prompt. */
  fimPath?: 'engine' | 'rendered';
}

/** client → server, request: validate a draft template and render it against the editor. */
export namespace PreviewTemplateRequest {
  export const method = 'pronto/templates/preview' as const;
  export const type = new RequestType<PreviewTemplateParams, PreviewTemplateResult, void>(method);
}

/** server → client, notification: the templates changed (a file was edited, saved, or became invalid). */
export namespace TemplatesChangedNotification {
  export const method = 'pronto/templates/didChange' as const;
  export const type = new NotificationType<TemplatesState>(method);
}
