/**
 * The templates file (`.pronto/templates.json` in the workspace, `templates.json` in user storage):
 * zod schemas, the variables of each kind, and validation that reports every problem with the field
 * it belongs to (the templates panel shows them next to that field). Users edit these files, so
 * they are a trust boundary: nothing from them is used before it passed `validateTemplate`.
 */
import { z } from 'zod';
import type { TemplateKind, TemplateProblem, PromptTemplate } from '../../../protocol/templates';
import { checkTemplate } from './render';

export const TEMPLATES_FILE_VERSION = 1;

/** Variables per kind, with what each holds (shown by the panel's completion). */
export const templateVariables: Record<TemplateKind, { name: string; description: string }[]> = {
  fim: [
    { name: 'prefix', description: 'text of the file before the cursor (cut to pronto.context.prefixTokens)' },
    { name: 'suffix', description: 'text of the file after the cursor (cut to pronto.context.suffixTokens)' },
    { name: 'filename', description: 'name of the file being completed' },
    { name: 'language', description: 'language id of the file (typescript, python, ...)' },
    { name: 'extra_context', description: 'recently edited code and definitions, one chunk per file' },
  ],
  'chat-system': [
    { name: 'language', description: 'language id of the current file' },
    { name: 'filename', description: 'name of the current file' },
    { name: 'workspace', description: 'name of the workspace folder' },
    { name: 'model', description: 'name of the model answering' },
  ],
  slash: [
    { name: 'input', description: 'what the user typed after the command' },
    { name: 'selection', description: 'the selected code' },
    { name: 'file', description: 'the whole current file' },
    { name: 'filename', description: 'name of the current file' },
    { name: 'language', description: 'language id of the current file' },
    { name: 'extra_context', description: 'the other files attached to the message' },
  ],
};

/** Variables a kind's template must use. */
export const requiredVariables: Record<TemplateKind, string[]> = { fim: ['prefix'], 'chat-system': [], slash: [] };

const id = z
  .string('must be text')
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    'must be 1-64 characters: lower-case letters, digits, ".", "_" or "-", starting with a letter or digit',
  );
const text = (max: number) => z.string('must be text').max(max, `must be at most ${max} characters`);
const family = z
  .string('must be text')
  .min(1, 'must not be empty ("*" matches every model)')
  .max(64, 'must be at most 64 characters')
  .regex(
    /^(\*|[a-z0-9][a-z0-9._ -]*)$/,
    'must be "*" or a lower-case part of the model name (deepseek-coder, starcoder2, qwen2.5-coder, ...)',
  );

export const fimTemplateSchema = z.strictObject({
  id,
  kind: z.literal('fim'),
  family,
  description: text(500).optional(),
  template: text(20000).min(1, 'must not be empty'),
});

export const chatSystemTemplateSchema = z.strictObject({
  id,
  kind: z.literal('chat-system'),
  family,
  description: text(500).optional(),
  template: text(20000),
});

export const slashTemplateSchema = z.strictObject({
  id,
  kind: z.literal('slash'),
  name: z
    .string('must be text')
    .regex(/^[a-z][a-z0-9-]{0,31}$/, 'must be 1-32 characters: lower-case letters, digits or "-", starting with a letter'),
  description: text(500).optional(),
  template: text(20000).min(1, 'must not be empty'),
});

export const promptTemplateSchema = z.discriminatedUnion('kind', [fimTemplateSchema, chatSystemTemplateSchema, slashTemplateSchema], {
  error: 'kind must be "fim", "chat-system" or "slash"',
});

/** The file as a whole; each template is checked on its own afterwards (one bad entry spoils only itself). */
export const templatesFileSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(TEMPLATES_FILE_VERSION, `version must be ${TEMPLATES_FILE_VERSION}`),
  templates: z.array(z.unknown(), 'templates must be an array').max(500, 'at most 500 templates'),
});

export type ValidatedTemplate = { ok: true; template: PromptTemplate } | { ok: false; id?: string; problems: TemplateProblem[] };

/** Validates one template: its shape (zod) and then its text (variables of its kind). */
export function validateTemplate(raw: unknown): ValidatedTemplate {
  const rawId = typeof (raw as { id?: unknown } | null)?.id === 'string' ? (raw as { id: string }).id : undefined;
  const parsed = promptTemplateSchema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      id: rawId,
      problems: parsed.error.issues.map((i) => ({ field: i.path.length ? String(i.path[0]) : 'template', message: i.message })),
    };
  }
  const t = parsed.data as PromptTemplate;
  const names = templateVariables[t.kind].map((v) => v.name);
  const issues = checkTemplate(t.template, names, requiredVariables[t.kind]);
  if (issues.length) {
    return { ok: false, id: t.id, problems: issues.map((i) => ({ field: 'template', message: i.message, offset: i.offset })) };
  }
  return { ok: true, template: t };
}

/** Parses a templates file's text; a file-level problem (bad JSON, wrong shape) spoils the whole file. */
export function parseTemplatesFile(text: string): { ok: true; entries: ValidatedTemplate[] } | { ok: false; problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: `not valid JSON: ${(err as Error).message}` };
  }
  const file = templatesFileSchema.safeParse(json);
  if (!file.success) {
    return {
      ok: false,
      problem: file.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'file'}: ${i.message}`).join('; '),
    };
  }
  return { ok: true, entries: file.data.templates.map(validateTemplate) };
}

/** The text written to a templates file (stable, readable, diff-friendly for git). */
export function serializeTemplatesFile(templates: readonly PromptTemplate[]): string {
  return `${JSON.stringify({ version: TEMPLATES_FILE_VERSION, templates }, null, 2)}\n`;
}
