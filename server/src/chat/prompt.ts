/**
 * The messages of a chat request: the system prompt from the `chat-system` template, the earlier
 * turns as they were sent, and the new user message, which is either the user's text after the
 * attached context, or a slash command's template rendered with that context. Pure functions.
 */
import type { ChatTurn } from '../../../protocol/chat';
import type { ChatMessage } from '../../../protocol/engine';
import { contextBlock, type ResolvedItem } from './context';
import { renderTemplate, templateVariables } from '../templates/render';

type SentItem = ResolvedItem & { sent: string };

/** The file the user is working on: the current file, else the selection's file. */
function focusItem(items: readonly SentItem[]): SentItem | undefined {
  return items.find((i) => i.current) ?? items.find((i) => i.kind === 'selection') ?? items[0];
}

export function systemMessage(
  template: string | undefined,
  vars: { workspace: string; model: string },
  items: readonly SentItem[],
): string {
  if (!template) return '';
  const focus = focusItem(items);
  return renderTemplate(template, {
    workspace: vars.workspace || 'untitled',
    model: vars.model,
    filename: focus?.label.replace(/:\d+-\d+$/, '') ?? 'no file',
    language: focus?.languageId ?? 'plaintext',
  }).trim();
}

/**
 * The user message. A slash template takes the items it names through its variables ({selection},
 * {file}, {extra_context}); items it does not place are put before it as context, so nothing the user
 * attached is silently left out.
 */
export function userMessage(message: string, slashTemplate: string | undefined, items: readonly SentItem[]): string {
  if (!slashTemplate) return `${contextBlock(items)}${message}`;
  const used = new Set(templateVariables(slashTemplate));
  const selection = items.find((i) => i.kind === 'selection');
  const current = items.find((i) => i.current && i.kind === 'file');
  const focus = focusItem(items);
  const consumed = new Set<SentItem>();
  // {selection} without a selection falls back to the current file.
  const selectionSource = selection ?? current;
  if (used.has('selection') && selectionSource) consumed.add(selectionSource);
  if (used.has('file') && current) consumed.add(current);
  const others = items.filter((i) => !consumed.has(i));
  if (used.has('extra_context')) for (const i of others) consumed.add(i);
  const trimFence = (text: string | undefined) => (text ?? '').replace(/\n$/, '');
  const rendered = renderTemplate(slashTemplate, {
    input: message,
    selection: trimFence(selectionSource?.sent) || '(nothing selected)',
    file: trimFence(current?.sent),
    filename: focus?.label.replace(/:\d+-\d+$/, '') ?? 'no file',
    language: focus?.languageId ?? 'plaintext',
    extra_context: used.has('extra_context') ? contextBlock(others).trim() : '',
  }).trim();
  const unplaced = items.filter((i) => !consumed.has(i));
  return `${contextBlock(unplaced)}${rendered}`;
}

/** The engine's `messages`: system (when not empty), the history, the new user message. */
export function chatMessages(system: string, history: readonly ChatTurn[], user: string): ChatMessage[] {
  return [...(system ? [{ role: 'system' as const, content: system }] : []), ...history, { role: 'user' as const, content: user }];
}
