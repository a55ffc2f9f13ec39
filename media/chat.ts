/**
 * Page script of the Pronto chat (extension/src/chat/): renders what the extension sends
 * (protocol/chatView.ts) and posts the user's intents. Plain DOM. Model answers go through
 * renderMarkdown (marked + DOMPurify + highlight.js, bundled); everything else is written with
 * textContent. Keyboard: Enter sends, Shift+Enter is a new line, Esc stops an answer (or closes the
 * slash-command list), ↑/↓ and Tab pick a slash command; every control is a focusable button or
 * field. The draft survives the page being hidden and re-created (getState/setState).
 */
import DOMPurify from 'dompurify';
import type { ChatPageState, ChatPageToExtension, Chip, ExtensionToChatPage } from '../protocol/chatView';
import { type AssistantTurn, currentConversation, reduce, type Turn } from './lib/conversation';
import { CompletionList, h, noticeLine } from './lib/dom';
import { hardenTaskInputs, renderMarkdown } from './lib/markdown';

interface VsCodeApi {
  postMessage(msg: ChatPageToExtension): void;
  getState(): SavedState | undefined;
  setState(state: SavedState): void;
}
interface SavedState {
  draft: string;
  page?: ChatPageState;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const saved: SavedState = vscode.getState() ?? { draft: '' };
let page: ChatPageState | undefined = saved.page;

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

const app = document.getElementById('app')!;
const toolbar = h('div', { class: 'toolbar', role: 'toolbar', 'aria-label': 'Conversations' });
const picker = h('select', { id: 'conversations', 'aria-label': 'Conversation' });
const newButton = h('button', { id: 'new', type: 'button', title: 'New conversation' }, 'New');
const deleteButton = h('button', { id: 'delete', type: 'button', class: 'secondary', title: 'Delete this conversation' }, 'Delete');
const templatesButton = h(
  'button',
  { id: 'templates', type: 'button', class: 'secondary', title: 'Open the prompt templates' },
  'Templates',
);
toolbar.append(picker, newButton, deleteButton, templatesButton);
const banner = h('div', { id: 'banner', class: 'banner', role: 'alert', hidden: '' });
const log = h('div', { id: 'log', class: 'log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
const notice = h('div', { id: 'notice', class: 'notice', role: 'status' });
const chipsRow = h('div', { id: 'chips', class: 'chips', role: 'group', 'aria-label': 'Context sent with the next message' });
const tokens = h('div', { id: 'tokens', class: 'tokens' });
const composer = h('div', { class: 'composer' });
const input = h('textarea', {
  id: 'input',
  rows: '3',
  'aria-label': 'Message',
  placeholder: 'Ask about your code. / for commands · Enter to send · Shift+Enter for a new line',
});
const slashList = h('ul', { id: 'slash', class: 'slash completions', role: 'listbox', 'aria-label': 'Slash commands', hidden: '' });
const sendButton = h('button', { id: 'send', type: 'button' }, 'Send');
const stopButton = h('button', { id: 'stop', type: 'button', class: 'secondary', hidden: '' }, 'Stop (Esc)');
composer.append(slashList, input, h('div', { class: 'composer-actions' }));
composer.lastElementChild!.append(sendButton, stopButton);
app.append(toolbar, banner, log, notice, chipsRow, tokens, composer);
input.value = saved.draft;

function post(msg: ChatPageToExtension): void {
  vscode.postMessage(msg);
}

function save(): void {
  vscode.setState({ draft: input.value, ...(page ? { page } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function renderToolbar(): void {
  const chat = page?.chat;
  picker.replaceChildren(
    ...(chat?.conversations ?? []).map((c) => {
      const o = h('option', { value: c.id }, `${c.title} · ${new Date(c.updatedAt).toLocaleString()}`);
      if (c.id === chat?.currentId) o.selected = true;
      return o;
    }),
  );
  if (!chat?.conversations.length) picker.append(h('option', { value: '' }, 'No conversations yet'));
  picker.disabled = !chat?.conversations.length;
  deleteButton.disabled = !chat?.currentId;
}

function renderBanner(): void {
  const b = page?.blocker;
  banner.hidden = !b;
  banner.replaceChildren();
  document.body.dataset.blocker = b?.kind ?? '';
  if (!b) return;
  const title = {
    'server-down': 'Pronto is not running',
    'engine-starting': 'The engine is starting',
    'engine-error': 'The engine cannot answer',
    'no-chat-template': 'No chat template this model can use',
  }[b.kind];
  banner.append(h('strong', {}, title), h('span', {}, ` ${b.message}`));
  const action = (label: string, command: Extract<ChatPageToExtension, { type: 'runCommand' }>['command']) => {
    const button = h('button', { type: 'button', class: 'secondary' }, label);
    button.addEventListener('click', () => post({ type: 'runCommand', command }));
    banner.append(button);
  };
  if (b.kind === 'server-down') action('Restart server', 'pronto.restartServer');
  if (b.kind === 'engine-error') action('Restart engine', 'pronto.restartEngine');
  if (b.kind === 'no-chat-template') action('Set a chat template', 'pronto.chat.configureTemplate');
  if (b.kind !== 'engine-starting') action('Show logs', 'pronto.showLogs');
}

function statsLine(t: AssistantTurn): string {
  const parts: string[] = [];
  if (t.status === 'stopped') parts.push('stopped');
  if (t.finishReason === 'length') parts.push('cut at the token limit');
  const s = t.stats;
  if (s) {
    parts.push(`${s.generatedTokens} tokens`);
    parts.push(`prompt ${s.promptTokens} (reused ${s.reusedTokens}, evaluated ${s.evaluatedTokens})`);
    parts.push(`first token ${Math.round(s.timeToFirstTokenMs)} ms`);
  }
  if (t.droppedTurns) parts.push(`${t.droppedTurns} earliest turns left out to fit the context window`);
  return parts.join(' · ');
}

/** Adds Copy / Insert / Apply to each code block of a rendered answer. */
function addCodeActions(root: HTMLElement): void {
  root.querySelectorAll<HTMLPreElement>('pre.code-block').forEach((pre, index) => {
    const wrap = h('div', { class: 'code-wrap' });
    pre.replaceWith(wrap);
    const bar = h('div', { class: 'code-actions', role: 'toolbar', 'aria-label': `Code block ${index + 1}` });
    const language = pre.dataset.language ?? '';
    if (language) bar.append(h('span', { class: 'code-language' }, language));
    for (const [action, label, hint] of [
      ['copy', 'Copy', 'Copy to the clipboard'],
      ['insert', 'Insert', 'Insert at the cursor in the editor'],
      ['apply', 'Apply…', 'Apply to the file: review the change in a diff first'],
    ] as const) {
      const b = h(
        'button',
        { type: 'button', class: 'secondary', 'data-action': action, title: hint, 'aria-label': `${label} code block ${index + 1}` },
        label,
      );
      b.addEventListener('click', () => post({ type: 'codeAction', action, code: pre.textContent ?? '', language }));
      bar.append(b);
    }
    wrap.append(bar, pre);
  });
}

function renderTurn(turn: Turn, index: number): HTMLElement {
  if (turn.role === 'user') {
    const div = h('div', { class: 'turn user', 'data-turn': String(index) });
    const text = h('div', { class: 'text' }, `${turn.command ? `/${turn.command} ` : ''}${turn.text}`);
    div.append(h('div', { class: 'who' }, 'You'), text);
    if (turn.context.length) div.append(h('div', { class: 'attached' }, `with ${turn.context.map((c) => c.label).join(', ')}`));
    return div;
  }
  const div = h('div', { class: `turn assistant ${turn.status}`, 'data-turn': String(index), 'data-status': turn.status });
  div.append(h('div', { class: 'who' }, 'Pronto'));
  const body = h('div', { class: 'markdown' });
  body.innerHTML = renderMarkdown(turn.text, DOMPurify);
  hardenTaskInputs(body);
  addCodeActions(body);
  if (turn.status === 'streaming') body.append(h('span', { class: 'cursor', 'aria-hidden': 'true' }, '▍'));
  div.append(body);
  if (turn.error) div.append(h('div', { class: 'error', role: 'alert' }, turn.error.message));
  if (turn.cut?.length) {
    div.append(
      h(
        'div',
        { class: 'meta cut' },
        `Context cut: ${turn.cut.map((c) => `${c.label} ${c.cut}${c.note ? ` (${c.note})` : ''}`).join('; ')}`,
      ),
    );
  }
  const line = statsLine(turn);
  if (line) div.append(h('div', { class: 'meta' }, line));
  return div;
}

function renderLog(): void {
  const c = page ? currentConversation(page.chat) : undefined;
  if (!c || c.turns.length === 0) {
    log.replaceChildren(
      h(
        'div',
        { class: 'empty' },
        'Ask about the selected code, a file, or anything in the workspace. Type / for commands such as /explain or /tests.',
      ),
    );
    return;
  }
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.replaceChildren(...c.turns.map(renderTurn));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

function chipView(chip: Chip): HTMLElement {
  const span = h('span', { class: `chip ${chip.cut ?? ''}`, 'data-chip': chip.id, 'data-kind': chip.kind });
  const count =
    chip.tokens === undefined
      ? ''
      : chip.cut === 'truncated'
        ? ` · ${chip.sentTokens}/${chip.tokens} tokens`
        : chip.cut === 'dropped'
          ? ' · not sent'
          : ` · ${chip.tokens} tokens`;
  span.append(
    h(
      'span',
      { class: 'chip-label', title: chip.note ?? chip.uri },
      `${chip.kind === 'selection' ? 'Selection ' : ''}${chip.label}${count}`,
    ),
  );
  const remove = h(
    'button',
    { type: 'button', class: 'chip-remove', 'aria-label': `Remove ${chip.label} from the context`, title: 'Remove' },
    '×',
  );
  remove.addEventListener('click', () => {
    post({ type: 'chipsChanged', chips: (page?.chips ?? []).filter((c) => c.id !== chip.id).map((c) => c.id) });
    input.focus();
  });
  span.append(remove);
  return span;
}

function renderChips(): void {
  const chips = page?.chips ?? [];
  const add = h('button', { type: 'button', id: 'add-file', class: 'secondary chip-add', title: 'Attach another file' }, '+ File');
  add.addEventListener('click', () => post({ type: 'addFile' }));
  chipsRow.replaceChildren(...chips.map(chipView), add);
  const r = page?.report;
  tokens.textContent = page?.reportError
    ? page.reportError
    : r
      ? `${r.sentTokens} tokens of context will be sent (budget ${r.budgetTokens})${r.droppedTurns ? `; ${r.droppedTurns} earliest turns will be left out` : ''}`
      : chips.length
        ? 'Counting tokens…'
        : 'No context attached.';
  tokens.dataset.tokens = r ? String(r.sentTokens) : '';
}

function renderControls(): void {
  const streaming = page?.streaming ?? false;
  stopButton.hidden = !streaming;
  sendButton.disabled = streaming || page?.blocker?.kind === 'server-down';
  document.body.dataset.streaming = String(streaming);
}

function render(): void {
  renderToolbar();
  renderBanner();
  renderLog();
  renderChips();
  renderControls();
}

let pendingFrame = 0;
function renderSoon(): void {
  if (pendingFrame) return;
  pendingFrame = requestAnimationFrame(() => {
    pendingFrame = 0;
    renderLog();
  });
}

// ---------------------------------------------------------------------------------------------
// Slash commands
// ---------------------------------------------------------------------------------------------

const slash = new CompletionList(input, slashList, {
  idPrefix: 'slash-',
  label: (c) => `/${c.name}`,
  matches: () => {
    const m = /^\/([a-z0-9-]*)$/.exec(input.value);
    return m ? (page?.commands ?? []).filter((c) => c.name.startsWith(m[1]!)) : [];
  },
  pick: (name) => {
    input.value = `/${name} `;
    save();
    input.focus();
  },
});
const renderSlash = () => slash.render();

// ---------------------------------------------------------------------------------------------
// Intents
// ---------------------------------------------------------------------------------------------

function send(): void {
  if (page?.streaming) return;
  const raw = input.value;
  if (!raw.trim()) return;
  const m = /^\/([a-z][a-z0-9-]{0,31})(?:\s+([\s\S]*))?$/.exec(raw.trim());
  const msg: ChatPageToExtension = m
    ? { type: 'send', text: m[2] ?? '', command: m[1]!, chips: (page?.chips ?? []).map((c) => c.id) }
    : { type: 'send', text: raw, chips: (page?.chips ?? []).map((c) => c.id) };
  post(msg);
  input.value = '';
  save();
  renderSlash();
}

input.addEventListener('input', () => {
  save();
  renderSlash();
});
input.addEventListener('keydown', (e) => {
  if (slash.handleKey(e)) {
    e.stopPropagation(); // Esc closed the list: it does not also stop the answer
    return;
  }
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && page?.streaming) {
    e.preventDefault();
    post({ type: 'stop' });
  }
});
sendButton.addEventListener('click', send);
stopButton.addEventListener('click', () => post({ type: 'stop' }));
newButton.addEventListener('click', () => {
  post({ type: 'newConversation' });
  input.focus();
});
deleteButton.addEventListener('click', () => {
  const id = page?.chat.currentId;
  if (id) post({ type: 'deleteConversation', id });
});
templatesButton.addEventListener('click', () => post({ type: 'runCommand', command: 'pronto.openTemplates' }));
picker.addEventListener('change', () => {
  if (picker.value) post({ type: 'selectConversation', id: picker.value });
});

const showNotice = noticeLine(notice, 8000);
window.addEventListener('message', (event: MessageEvent<ExtensionToChatPage>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'state':
      page = msg.state;
      save();
      render();
      renderSlash();
      break;
    case 'delta':
      if (!page) break;
      page = { ...page, chat: reduce(page.chat, { type: 'answerDelta', id: msg.conversationId, text: msg.text }) };
      if (page.chat.currentId === msg.conversationId) renderSoon();
      break;
    case 'notice':
      showNotice(msg.kind, msg.message);
      break;
    case 'focus':
      if (msg.text !== undefined) input.value = msg.text;
      input.focus();
      break;
    default:
      break; // not ours
  }
});

render();
post({ type: 'ready' });
