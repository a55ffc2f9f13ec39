/**
 * Page script of "Pronto: Prompt Templates" (extension/src/templates/panel.ts). Lists the templates
 * (default, user, workspace; which are in force; which are invalid), edits one as a draft, and
 * shows the sidecar's verdict on every change: problems next to their fields, the prompt rendered
 * against the active editor, its token count from the engine's tokenizer, and for FIM templates
 * whether typing stays append-only. Variables complete while typing `{` (↑/↓, Tab or Enter, Esc).
 * Plain DOM; every text is written with textContent. The draft survives hiding (getState/setState).
 */
import type { PreviewTemplateResult, TemplateEntry, TemplateKind, TemplateProblem, TemplatesState } from '../protocol/templates';
import type { ExtensionToTemplatesPage, TemplatesPageToExtension } from '../protocol/templatesView';
import { CompletionList, h, noticeLine } from './lib/dom';

type Draft = Record<string, string>;
interface Saved {
  draft?: Draft;
  scope: 'workspace' | 'user';
  previousId?: string;
  isNew?: boolean;
}
interface VsCodeApi {
  postMessage(msg: TemplatesPageToExtension): void;
  getState(): Saved | undefined;
  setState(s: Saved): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
let saved: Saved = vscode.getState() ?? { scope: 'workspace' };
let state: TemplatesState | null = null;
let server: 'running' | 'down' = 'running';
let editorLabel = '';
let preview: PreviewTemplateResult | undefined;
let saveProblems: TemplateProblem[] = [];
let seq = 0;

const KIND_TITLES: Record<TemplateKind, string> = { fim: 'Completion (FIM)', 'chat-system': 'Chat system prompt', slash: 'Slash commands' };

const post = (m: TemplatesPageToExtension) => vscode.postMessage(m);
const persist = () => vscode.setState(saved);

// ---------------------------------------------------------------------------------------------
// Layout
// ---------------------------------------------------------------------------------------------

const app = document.getElementById('app')!;
const header = h('header');
header.append(h('h1', {}, 'Prompt templates'));
const actions = h('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Templates' });
const newKind = h('select', { id: 'new-kind', 'aria-label': 'Kind of the new template' });
for (const k of ['slash', 'chat-system', 'fim'] as TemplateKind[]) newKind.append(h('option', { value: k }, KIND_TITLES[k]));
const newButton = h('button', { id: 'new', type: 'button' }, 'New');
const fileScope = h('select', { id: 'file-scope', 'aria-label': 'Templates file for import, export and reset' });
fileScope.append(h('option', { value: 'workspace' }, 'Workspace file'), h('option', { value: 'user' }, 'User file'));
const importButton = h('button', { id: 'import', type: 'button', class: 'secondary' }, 'Import…');
const exportButton = h('button', { id: 'export', type: 'button', class: 'secondary' }, 'Export…');
const resetAllButton = h('button', { id: 'reset-all', type: 'button', class: 'secondary' }, 'Reset to defaults…');
const openFileButton = h('button', { id: 'open-file', type: 'button', class: 'secondary' }, 'Open file');
actions.append(newKind, newButton, fileScope, importButton, exportButton, resetAllButton, openFileButton);
header.append(actions);
const serverLine = h('p', { id: 'server', class: 'server', role: 'status' }, 'Waiting for the extension…');
const problemsBox = h('div', { id: 'file-problems', class: 'problems', role: 'alert', hidden: '' });
const notice = h('p', { id: 'notice', class: 'notice', role: 'status' });
const columns = h('div', { class: 'columns' });
const list = h('nav', { id: 'list', class: 'list', 'aria-label': 'Templates' });
const form = h('section', { id: 'editor', class: 'editor', 'aria-label': 'Edit the template' });
columns.append(list, form);
app.append(header, serverLine, problemsBox, notice, columns);

function field(id: string, label: string, control: HTMLElement, help?: string): HTMLElement {
  const wrap = h('div', { class: 'field', 'data-field': id });
  const l = h('label', { for: `f-${id}` }, label);
  control.id = `f-${id}`;
  const error = h('div', { class: 'field-error', id: `e-${id}`, role: 'alert' });
  control.setAttribute('aria-describedby', `e-${id}${help ? ` h-${id}` : ''}`);
  wrap.append(l, control);
  if (help) wrap.append(h('div', { class: 'help', id: `h-${id}` }, help));
  wrap.append(error);
  return wrap;
}

const kindInput = h('select');
for (const k of ['fim', 'chat-system', 'slash'] as TemplateKind[]) kindInput.append(h('option', { value: k }, KIND_TITLES[k]));
const idInput = h('input', { type: 'text', spellcheck: 'false' });
const familyInput = h('input', { type: 'text', spellcheck: 'false' });
const nameInput = h('input', { type: 'text', spellcheck: 'false' });
const descriptionInput = h('input', { type: 'text' });
const scopeInput = h('select');
scopeInput.append(
  h('option', { value: 'workspace' }, 'Workspace (.pronto/templates.json, shared through git)'),
  h('option', { value: 'user' }, 'User (this machine)'),
);
const templateInput = h('textarea', { rows: '10', spellcheck: 'false' });
const varList = h('ul', { id: 'vars', class: 'vars completions', role: 'listbox', 'aria-label': 'Variables', hidden: '' });
const formTitle = h('h2', { id: 'form-title' }, 'Template');
const generalErrors = h('div', { id: 'general-errors', class: 'field-error', role: 'alert' });
const saveButton = h('button', { id: 'save', type: 'button' }, 'Save');
const duplicateButton = h('button', { id: 'duplicate', type: 'button', class: 'secondary' }, 'Duplicate');
const deleteButton = h('button', { id: 'delete', type: 'button', class: 'secondary' }, 'Delete');
const resetButton = h('button', { id: 'reset', type: 'button', class: 'secondary' }, 'Reset to default');
const buttons = h('div', { class: 'actions' });
buttons.append(saveButton, duplicateButton, deleteButton, resetButton);
const templateField = field('template', 'Template', templateInput);
templateField.insertBefore(varList, templateField.querySelector('.field-error'));
const varsHelp = h('div', { class: 'help', id: 'h-vars' });
templateField.insertBefore(varsHelp, varList);
const previewBox = h('section', { id: 'preview', class: 'preview', 'aria-label': 'Preview' });
const previewTitle = h('h3', {}, 'Preview');
const previewMeta = h('div', { id: 'preview-meta', class: 'preview-meta', role: 'status' });
const previewText = h('pre', { id: 'rendered', class: 'rendered', tabindex: '0', 'aria-label': 'Rendered prompt' });
previewBox.append(previewTitle, previewMeta, previewText);
form.append(
  formTitle,
  field('kind', 'Kind', kindInput),
  field('id', 'Id', idInput, 'The same id as a default template overrides it.'),
  field(
    'family',
    'Model family',
    familyInput,
    '"*" for every model, or a part of the model name (deepseek-coder, starcoder2, qwen2.5-coder).',
  ),
  field('name', 'Command', nameInput, 'Typed as /name in the chat.'),
  field('description', 'Description', descriptionInput),
  field('scope', 'Save to', scopeInput),
  templateField,
  generalErrors,
  buttons,
  previewBox,
);

// ---------------------------------------------------------------------------------------------
// Draft ⇄ form
// ---------------------------------------------------------------------------------------------

function readDraft(): Draft {
  const kind = kindInput.value as TemplateKind;
  const d: Draft = { id: idInput.value, kind, template: templateInput.value };
  if (kind === 'slash') d.name = nameInput.value;
  else d.family = familyInput.value;
  if (descriptionInput.value) d.description = descriptionInput.value;
  return d;
}

function writeDraft(d: Draft): void {
  kindInput.value = d.kind ?? 'slash';
  idInput.value = d.id ?? '';
  familyInput.value = d.family ?? '*';
  nameInput.value = d.name ?? '';
  descriptionInput.value = d.description ?? '';
  templateInput.value = d.template ?? '';
  scopeInput.value = saved.scope;
  kindInput.disabled = !saved.isNew;
  showKindFields();
}

function showKindFields(): void {
  const kind = kindInput.value as TemplateKind;
  (form.querySelector('[data-field="family"]') as HTMLElement).hidden = kind === 'slash';
  (form.querySelector('[data-field="name"]') as HTMLElement).hidden = kind !== 'slash';
  const vars = state?.variables[kind] ?? [];
  varsHelp.textContent = vars.length
    ? `Variables: ${vars.map((v) => `{${v.name}}`).join(' ')} · type { for completion, {{ for a literal brace`
    : '';
}

function entryFor(id: string | undefined): TemplateEntry | undefined {
  return state?.entries.find((e) => e.template.id === id);
}

function load(entry: TemplateEntry): void {
  const raw = (entry.invalid?.raw ?? entry.template) as unknown as Draft;
  saved = {
    draft: { ...raw },
    scope: entry.scope === 'default' ? (state?.files.workspace ? 'workspace' : 'user') : entry.scope,
    ...(entry.scope !== 'default' ? { previousId: entry.template.id } : {}),
    isNew: false,
  };
  saveProblems = entry.invalid?.problems ?? [];
  persist();
  writeDraft(saved.draft!);
  renderList();
  changed();
}

// ---------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------

function renderList(): void {
  list.replaceChildren();
  if (!state) return;
  for (const kind of ['fim', 'chat-system', 'slash'] as TemplateKind[]) {
    const entries = state.entries.filter((e) => e.template.kind === kind);
    list.append(h('h2', {}, KIND_TITLES[kind]));
    const ul = h('ul');
    for (const e of entries) {
      const li = h('li');
      const label = e.template.kind === 'slash' ? `/${e.template.name || e.template.id}` : e.template.id;
      const b = h('button', { type: 'button', class: 'entry', 'data-id': e.template.id, 'data-scope': e.scope });
      if (saved.draft?.id === e.template.id || saved.previousId === e.template.id) b.setAttribute('aria-current', 'true');
      b.append(h('span', { class: 'entry-name' }, label));
      const badges = h('span', { class: 'badges' });
      badges.append(h('span', { class: `badge scope-${e.scope}` }, e.scope));
      if (e.active) badges.append(h('span', { class: 'badge active', title: 'In force for the current model' }, 'in force'));
      if (e.invalid)
        badges.append(h('span', { class: 'badge invalid', title: e.invalid.problems.map((p) => p.message).join('; ') }, 'invalid'));
      if ('family' in e.template && e.template.family !== '*') badges.append(h('span', { class: 'badge' }, e.template.family));
      b.append(badges);
      b.addEventListener('click', () => load(e));
      li.append(b);
      ul.append(li);
    }
    list.append(ul);
  }
}

function renderServer(): void {
  serverLine.classList.toggle('down', server === 'down');
  serverLine.textContent =
    server === 'down'
      ? 'The Pronto language server is not running: templates cannot be read, previewed or saved until it is back.'
      : `${state?.model ? `Model: ${state.model.name}. ` : ''}Workspace file: ${state?.files.workspace ?? 'none (no folder open)'} · user file: ${state?.files.user ?? 'none'}`;
  document.body.dataset.server = server;
  problemsBox.hidden = !state?.problems.length;
  problemsBox.replaceChildren(...(state?.problems ?? []).map((p) => h('div', {}, `${p.scope} templates (${p.path}): ${p.message}`)));
}

function renderProblems(): void {
  const problems = [...(preview?.problems ?? []), ...saveProblems];
  const byField = new Map<string, string[]>();
  for (const p of problems) byField.set(p.field, [...(byField.get(p.field) ?? []), p.message]);
  const general: string[] = [];
  for (const [f, messages] of byField) if (!form.querySelector(`#e-${f}`)) general.push(...messages.map((m) => `${f}: ${m}`));
  for (const el of form.querySelectorAll<HTMLElement>('.field')) {
    const f = el.dataset.field!;
    const messages = byField.get(f) ?? [];
    el.querySelector<HTMLElement>('.field-error')!.textContent = messages.join(' · ');
    el.classList.toggle('invalid', messages.length > 0);
    el.querySelector('input, textarea, select')?.setAttribute('aria-invalid', String(messages.length > 0));
  }
  generalErrors.textContent = general.join(' · ');
  document.body.dataset.problems = String(problems.length);
}

function renderPreview(): void {
  previewTitle.textContent = editorLabel ? `Preview against ${editorLabel}` : 'Preview (no editor open: an empty file)';
  const p = preview;
  const lines: string[] = [];
  if (!p) lines.push('…');
  else if (p.rendered === undefined) lines.push('Fix the problems above to see the prompt.');
  else {
    lines.push(p.tokens !== undefined ? `${p.tokens} tokens (the engine's tokenizer)` : (p.tokensError ?? 'no token count'));
    if (p.appendOnly)
      lines.push(
        p.appendOnly.appendOnly ? `Typing stays append-only: ${p.appendOnly.reason}.` : `Not append-only: ${p.appendOnly.reason}.`,
      );
    if (p.fimPath)
      lines.push(
        p.fimPath === 'engine'
          ? "The engine's own FIM layout (exact token budgets)."
          : 'Rendered by Pronto and sent as a raw prompt (parts cut by an estimate of 3 characters per token).',
      );
  }
  previewMeta.replaceChildren(
    ...lines.map((l, i) => h('div', i === 0 ? { id: 'token-count', 'data-tokens': String(p?.tokens ?? '') } : {}, l)),
  );
  previewMeta.dataset.appendOnly = p?.appendOnly ? String(p.appendOnly.appendOnly) : '';
  previewText.textContent = p?.rendered ?? '';
}

function renderButtons(): void {
  const entry = entryFor(saved.previousId ?? saved.draft?.id);
  const stored = !saved.isNew && saved.previousId !== undefined;
  deleteButton.disabled = !stored || entry?.hasDefault === true;
  resetButton.disabled = !stored || entry?.hasDefault !== true;
  duplicateButton.disabled = !saved.draft;
  saveButton.disabled = server === 'down' || !saved.draft;
  formTitle.textContent = saved.isNew
    ? 'New template'
    : saved.draft
      ? `Template ${saved.draft.id ?? ''}`
      : 'Select a template on the left, or make a new one';
  form.classList.toggle('empty', !saved.draft);
}

// ---------------------------------------------------------------------------------------------
// Changes
// ---------------------------------------------------------------------------------------------

let previewTimer: ReturnType<typeof setTimeout> | undefined;
function changed(): void {
  if (!saved.draft) {
    renderButtons();
    return;
  }
  saved = { ...saved, draft: readDraft(), scope: scopeInput.value as 'workspace' | 'user' };
  persist();
  renderButtons();
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => post({ type: 'preview', seq: ++seq, template: saved.draft! }), 150);
}

for (const el of [idInput, familyInput, nameInput, descriptionInput, templateInput, scopeInput, kindInput]) {
  el.addEventListener('input', () => {
    saveProblems = [];
    if (el === kindInput) showKindFields();
    changed();
  });
}

newButton.addEventListener('click', () => {
  const kind = newKind.value as TemplateKind;
  const base: Draft = { kind, id: `my-${kind}`, template: kind === 'fim' ? '{prefix}' : kind === 'slash' ? '{selection}\n\n{input}' : '' };
  if (kind === 'slash') base.name = 'mine';
  else base.family = '*';
  saved = { draft: base, scope: state?.files.workspace ? 'workspace' : 'user', isNew: true };
  saveProblems = [];
  writeDraft(base);
  changed();
  idInput.focus();
});
duplicateButton.addEventListener('click', () => {
  const d = readDraft();
  const copy: Draft = { ...d, id: `${d.id}-copy` };
  if (d.kind === 'slash') copy.name = `${d.name}-copy`;
  saved = { draft: copy, scope: saved.scope, isNew: true };
  saveProblems = [];
  writeDraft(copy);
  changed();
  idInput.focus();
});
saveButton.addEventListener('click', () => {
  const d = readDraft();
  post({
    type: 'save',
    template: d,
    scope: scopeInput.value as 'workspace' | 'user',
    ...(saved.previousId && saved.previousId !== d.id ? { previousId: saved.previousId } : {}),
  });
});
deleteButton.addEventListener('click', () => {
  const entry = entryFor(saved.previousId);
  if (entry && entry.scope !== 'default') post({ type: 'delete', id: entry.template.id, scope: entry.scope });
  saved = { scope: saved.scope };
  persist();
  preview = undefined;
  render();
});
resetButton.addEventListener('click', () => {
  const entry = entryFor(saved.previousId);
  if (entry && entry.scope !== 'default') post({ type: 'delete', id: entry.template.id, scope: entry.scope });
});
importButton.addEventListener('click', () => post({ type: 'import', scope: fileScope.value as 'workspace' | 'user' }));
exportButton.addEventListener('click', () => post({ type: 'export', scope: fileScope.value as 'workspace' | 'user' }));
resetAllButton.addEventListener('click', () => post({ type: 'reset', scope: fileScope.value as 'workspace' | 'user' }));
openFileButton.addEventListener('click', () => post({ type: 'openFile', scope: fileScope.value as 'workspace' | 'user' }));

// Variable completion in the template text.
const vars = new CompletionList(templateInput, varList, {
  idPrefix: 'var-',
  label: (v) => `{${v.name}}`,
  matches: () => {
    const before = templateInput.value.slice(0, templateInput.selectionStart ?? 0);
    const m = /(?:^|[^{])\{([a-z_]*)$/.exec(before);
    return m ? (state?.variables[kindInput.value as TemplateKind] ?? []).filter((v) => v.name.startsWith(m[1]!)) : [];
  },
  pick: (name) => {
    const caret = templateInput.selectionStart ?? 0;
    const before = templateInput.value.slice(0, caret);
    const typed = /\{([a-z_]*)$/.exec(before)![1]!;
    const after = templateInput.value.slice(caret);
    const insert = `${name.slice(typed.length)}${after.startsWith('}') ? '' : '}'}`;
    templateInput.value = before + insert + after;
    const pos = caret + insert.length + (after.startsWith('}') ? 1 : 0);
    templateInput.setSelectionRange(pos, pos);
    saveProblems = [];
    changed();
  },
});
templateInput.addEventListener('input', () => vars.render());
templateInput.addEventListener('click', () => vars.render());
templateInput.addEventListener('keydown', (e) => vars.handleKey(e));
templateInput.addEventListener('blur', () => vars.close());

function render(): void {
  renderServer();
  renderList();
  if (saved.draft) writeDraft(saved.draft);
  showKindFields();
  renderProblems();
  renderPreview();
  renderButtons();
}

const showNotice = noticeLine(notice, 10000);
window.addEventListener('message', (event: MessageEvent<ExtensionToTemplatesPage>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'state': {
      const editorChanged = (msg.editor?.label ?? '') !== editorLabel;
      state = msg.templates;
      server = msg.server;
      editorLabel = msg.editor?.label ?? '';
      renderServer();
      renderList();
      showKindFields();
      renderButtons();
      if (!saved.draft && state) {
        const first = state.entries.find((e) => e.active && e.template.kind === 'slash');
        if (first) load(first);
      } else if (editorChanged || !preview) changed();
      break;
    }
    case 'preview':
      if (msg.seq !== seq) break; // an older draft's answer
      preview = msg.result;
      renderProblems();
      renderPreview();
      break;
    case 'saved':
      if (msg.ok) {
        saved = { ...saved, previousId: msg.id, isNew: false, scope: msg.scope };
        saveProblems = [];
        persist();
        notice.textContent = `Saved ${msg.id} to the ${msg.scope} templates. It applies to the next completion or chat message.`;
        writeDraft(saved.draft!);
      } else {
        saveProblems = msg.problems;
        notice.textContent = msg.message ?? 'Not saved: fix the problems shown next to the fields.';
      }
      renderProblems();
      renderButtons();
      break;
    case 'notice':
      showNotice(msg.kind, msg.message);
      break;
    default:
      break;
  }
});

render();
post({ type: 'ready' });
