/**
 * The built-in templates. The FIM default is derived from the model's FIM tokens and mirrors the
 * engine's own layout (native/src/fim.cpp): extra context, then the file header, then suffix-first
 * (`<SUF>suffix<PRE>prefix<MID>`, so typing only appends) or prefix-first with --fim-order psm; no
 * FIM tokens: the prefix alone. Rendering it gives the prompt the engine builds for the same parts
 * (test/integration/chat-templates.test.ts proves it token for token).
 */
import type { PromptTemplate, SlashTemplate } from '../../../protocol/templates';
import type { FimTokenTexts } from './fimTokens';

export const DEFAULT_FIM_ID = 'fim-default';
export const DEFAULT_SYSTEM_ID = 'chat-system-default';

export interface FimModel {
  /** The model's FIM tokens; undefined when unknown (remote engine) or absent. */
  tokens?: FimTokenTexts;
  /** The engine's FIM order ("spm", "psm", or "none" when the model has no FIM tokens). */
  order: string;
  /** Tokens are unknown (remote engine): the template is shown with generic token names. */
  unknown?: boolean;
}

/** The default FIM template text for a model. */
export function defaultFimTemplateText(model: FimModel): string {
  if (model.order === 'none') return '{extra_context}{prefix}';
  const t = model.tokens ?? { pre: '<FIM_PREFIX>', suf: '<FIM_SUFFIX>', mid: '<FIM_MIDDLE>' };
  const header = t.sep ? `${t.sep}{filename}\n` : '';
  const body = model.order === 'psm' ? `${t.pre}{prefix}${t.suf}{suffix}${t.mid}` : `${t.suf}{suffix}${t.pre}{prefix}${t.mid}`;
  return `{extra_context}${header}${body}`;
}

/** How `{extra_context}` renders for a model: as the engine writes extra chunks (fim.cpp). */
export function renderExtraContext(chunks: readonly { filename?: string; text: string }[], tokens: FimTokenTexts | undefined): string {
  return chunks
    .map((c) =>
      tokens?.sep ? `${tokens.sep}${c.filename || 'untitled'}\n${c.text}\n` : `${c.filename ? `// ${c.filename}\n` : ''}${c.text}\n`,
    )
    .join('');
}

const fence = (body: string) => `\`\`\`{language}\n${body}\n\`\`\``;

export const defaultSlashTemplates: SlashTemplate[] = [
  {
    id: 'slash-explain',
    kind: 'slash',
    name: 'explain',
    description: 'Explain the selected code (or the current file)',
    template: `Explain what this {language} code from {filename} does, step by step.\n\n${fence('{selection}')}\n\n{input}`,
  },
  {
    id: 'slash-tests',
    kind: 'slash',
    name: 'tests',
    description: 'Write unit tests for the selected code',
    template: `Write unit tests for this {language} code from {filename}. Cover the edge cases, and use the test framework the project already uses.\n\n${fence('{selection}')}\n\n{input}`,
  },
  {
    id: 'slash-fix',
    kind: 'slash',
    name: 'fix',
    description: 'Find and fix bugs in the selected code',
    template: `Find the bugs in this {language} code from {filename} and fix them. Show the corrected code in one fenced block, then explain each change in one line.\n\n${fence('{selection}')}\n\n{input}`,
  },
  {
    id: 'slash-doc',
    kind: 'slash',
    name: 'doc',
    description: 'Add documentation comments to the selected code',
    template: `Add documentation comments to this {language} code from {filename}, in the style the language uses (JSDoc, docstrings, ...). Return the code with the comments, in one fenced block.\n\n${fence('{selection}')}\n\n{input}`,
  },
];

/** Every built-in template for a model (the FIM default depends on its tokens). */
export function defaultTemplates(model: FimModel): PromptTemplate[] {
  return [
    {
      id: DEFAULT_FIM_ID,
      kind: 'fim',
      family: '*',
      description: model.unknown
        ? "The engine's built-in layout; the model's FIM tokens are unknown here (remote engine), so generic names stand in for them."
        : "The engine's built-in layout from the model's own FIM tokens (suffix first, so typing only appends).",
      template: defaultFimTemplateText(model),
    },
    {
      id: DEFAULT_SYSTEM_ID,
      kind: 'chat-system',
      family: '*',
      description: 'The system prompt of chat',
      template:
        'You are Pronto, a coding assistant in the editor of the workspace "{workspace}". The user is working on {filename} ({language}). ' +
        'Answer briefly and precisely. Use Markdown; put code in fenced blocks with the language name. ' +
        'When you change code, show the whole changed function or block.',
    },
    ...defaultSlashTemplates,
  ];
}
