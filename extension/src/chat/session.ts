/**
 * The chat's one owner on the extension side: the conversations (stored per workspace), the
 * context chips offered for the next message, the answer in progress, and the pages showing it (the
 * sidebar view and any editor panels: they all show the same chat). Pages only post intents
 * (protocol/chatView.ts, parsed with zod here) and render the state this sends back.
 *
 *   page `send` → ChatRequest (pronto/chat) with a partialResultToken → `$/progress` deltas → pages
 *   page `stop` / Esc → the request's CancellationTokenSource → `$/cancelRequest` → server → engine
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { ProgressType, type LanguageClient } from 'vscode-languageclient/node';
import {
  type ChatContextItem,
  ChatContextRequest,
  type ChatProgress,
  ChatRequest,
  type ChatResult,
  ListSlashCommandsRequest,
  type SlashCommandInfo,
} from '../../../protocol/chat';
import {
  type ChatBlocker,
  type ChatPageState,
  type Chip,
  type ExtensionToChatPage,
  parseChatPageMessage,
} from '../../../protocol/chatView';
import { TemplatesChangedNotification } from '../../../protocol/templates';
import { type ChatEvent, type ChatState, currentConversation, historyFor, reduce, streamingTurn } from '../../../media/lib/conversation';
import type { Ctx } from '../ctx';
import { applyCode, copyCode, insertCode, type ProposalDocuments } from './codeActions';
import type { ChatHistoryStore } from './history';

export interface ChatHost {
  post(msg: ExtensionToChatPage): void;
}

const chatProgress = new ProgressType<ChatProgress>();

function isCodeEditor(e: vscode.TextEditor | undefined): e is vscode.TextEditor {
  return !!e && (e.document.uri.scheme === 'file' || e.document.uri.scheme === 'untitled');
}

/** A selection's last line: one ending at the start of a line does not include that line. */
function lastLine(sel: vscode.Selection): number {
  return sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line - 1 : sel.end.line;
}

function fileName(uri: vscode.Uri): string {
  return uri.path.split('/').pop() || uri.toString();
}

export class ChatSession implements vscode.Disposable {
  private state: ChatState;
  private readonly hosts = new Set<ChatHost>();
  private streaming: { id: string; cts: vscode.CancellationTokenSource } | undefined;
  private commands: SlashCommandInfo[] = [];
  private lastEditor: vscode.TextEditor | undefined;
  /** Chips the user removed since the last message (by id). */
  private readonly removed = new Set<string>();
  /** Files the user added with "+" (by URI). */
  private readonly added: vscode.Uri[] = [];
  private chips: Chip[] = [];
  private report: ChatPageState['report'];
  private reportError: string | undefined;
  private noTemplate: string | undefined;
  private recountTimer: NodeJS.Timeout | undefined;
  private chipsTimer: NodeJS.Timeout | undefined;
  private client: LanguageClient | undefined;
  private clientSubscription: vscode.Disposable | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly ctx: Ctx,
    private readonly history: ChatHistoryStore,
    private readonly proposals: ProposalDocuments,
  ) {
    const loaded = history.load();
    this.state = loaded.state;
    if (loaded.problem) void vscode.window.showWarningMessage(`Pronto: ${loaded.problem}`);
    ctx.log.info(`chat history: ${history.file} (${this.state.conversations.length} conversations)`);
    this.lastEditor = isCodeEditor(vscode.window.activeTextEditor) ? vscode.window.activeTextEditor : undefined;
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((e) => {
        if (isCodeEditor(e)) this.lastEditor = e;
        this.scheduleChips();
      }),
      vscode.window.onDidChangeTextEditorSelection((e) => {
        if (isCodeEditor(e.textEditor)) this.lastEditor = e.textEditor;
        this.scheduleChips();
      }),
      vscode.window.onDidChangeVisibleTextEditors(() => this.scheduleChips()),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('pronto.chat.template')) {
          this.noTemplate = undefined;
          this.broadcast();
        }
      }),
      ctx.onDidChange(() => this.onServerChange()),
    );
    this.computeChips();
    this.onServerChange();
  }

  dispose(): void {
    this.streaming?.cts.cancel();
    clearTimeout(this.recountTimer);
    clearTimeout(this.chipsTimer);
    this.clientSubscription?.dispose();
    this.history.flush();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  /** The editor code blocks go into (the last text editor that had focus). */
  get targetEditor(): vscode.TextEditor | undefined {
    return this.lastEditor && !this.lastEditor.document.isClosed ? this.lastEditor : undefined;
  }

  attach(host: ChatHost): vscode.Disposable {
    return { dispose: () => this.hosts.delete(host) };
  }

  // -------------------------------------------------------------------------------------------
  // Messages from a page
  // -------------------------------------------------------------------------------------------

  async handle(host: ChatHost, raw: unknown): Promise<void> {
    const parsed = parseChatPageMessage(raw);
    if (!parsed.ok) {
      this.ctx.log.warn(`chat: ${parsed.error}`);
      return;
    }
    const msg = parsed.message;
    switch (msg.type) {
      case 'ready':
        this.hosts.add(host);
        this.ctx.log.info('chat page ready');
        host.post({ type: 'state', state: this.pageState() });
        void this.refreshCommands();
        this.scheduleRecount(0);
        return;
      case 'send':
        return this.send(msg.text, msg.command, msg.chips);
      case 'stop':
        this.stop();
        return;
      case 'newConversation':
        this.dispatch({ type: 'newConversation', id: newId(), now: Date.now() });
        return;
      case 'selectConversation':
        this.dispatch({ type: 'selectConversation', id: msg.id });
        this.scheduleRecount();
        return;
      case 'deleteConversation':
        if (this.streaming?.id === msg.id) this.stop();
        this.dispatch({ type: 'deleteConversation', id: msg.id });
        return;
      case 'chipsChanged':
        for (const c of this.chips) if (!msg.chips.includes(c.id)) this.removed.add(c.id);
        this.computeChips();
        this.broadcast();
        this.scheduleRecount(0);
        return;
      case 'addFile':
        return this.addFile();
      case 'codeAction':
        return this.codeAction(host, msg.action, msg.code);
      case 'runCommand':
        void vscode.commands.executeCommand(msg.command);
        return;
    }
  }

  private async codeAction(host: ChatHost, action: 'copy' | 'insert' | 'apply', code: string): Promise<void> {
    try {
      const message =
        action === 'copy'
          ? await copyCode(code)
          : action === 'insert'
            ? await insertCode(this.targetEditor, code)
            : await applyCode(this.targetEditor, code, this.proposals);
      this.ctx.log.info(`chat code block: ${action}: ${message}`);
      host.post({ type: 'notice', kind: 'info', message });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.ctx.log.warn(`chat code block: ${action} failed: ${message}`);
      host.post({ type: 'notice', kind: 'error', message });
    }
  }

  private async addFile(): Promise<void> {
    const open = vscode.workspace.textDocuments.filter((d) => d.uri.scheme === 'file' || d.uri.scheme === 'untitled');
    const found = await vscode.workspace.findFiles('**/*', '**/{node_modules,.git,dist,build,out}/**', 500);
    const seen = new Set<string>();
    const items: (vscode.QuickPickItem & { uri: vscode.Uri })[] = [];
    for (const uri of [...open.map((d) => d.uri), ...found]) {
      if (seen.has(uri.toString())) continue;
      seen.add(uri.toString());
      items.push({ label: fileName(uri), description: vscode.workspace.asRelativePath(uri), uri });
    }
    const pick = await vscode.window.showQuickPick(items, { title: 'Pronto: attach a file to the chat', matchOnDescription: true });
    if (!pick) return;
    if (!this.added.some((u) => u.toString() === pick.uri.toString())) this.added.push(pick.uri);
    this.removed.delete(`file:${pick.uri.toString()}`);
    this.computeChips();
    this.broadcast();
    this.scheduleRecount(0);
  }

  // -------------------------------------------------------------------------------------------
  // Asking
  // -------------------------------------------------------------------------------------------

  /** Context items for chips by id, with the text as the editor has it now. */
  private items(chipIds: readonly string[]): ChatContextItem[] {
    const out: ChatContextItem[] = [];
    const current = this.targetEditor;
    for (const chip of this.chips) {
      if (!chipIds.includes(chip.id)) continue;
      const uri = vscode.Uri.parse(chip.uri);
      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === chip.uri);
      if (chip.kind === 'selection') {
        if (!current || current.document.uri.toString() !== chip.uri || current.selection.isEmpty) continue;
        const sel = current.selection;
        out.push({
          kind: 'selection',
          uri: chip.uri,
          text: current.document.getText(sel),
          languageId: current.document.languageId,
          range: { startLine: sel.start.line, endLine: lastLine(sel) },
        });
      } else {
        out.push({
          kind: 'file',
          uri: chip.uri,
          ...(doc ? { text: doc.getText(), languageId: doc.languageId } : {}),
          ...(current && current.document.uri.toString() === uri.toString() ? { current: true } : {}),
        });
      }
    }
    return out;
  }

  private async send(text: string, command: string | undefined, chipIds: string[]): Promise<void> {
    if (this.streaming) {
      this.notice('error', 'An answer is still being written: stop it first (Esc).');
      return;
    }
    const client = this.ctx.runningClient;
    if (!client) {
      this.notice('error', 'The Pronto language server is not running: restart it, then send again.');
      return;
    }
    if (!text.trim() && !command) return;
    const before = currentConversation(this.state);
    const id = before?.id ?? newId();
    const history = historyFor(before);
    const context = this.items(chipIds);
    const cts = new vscode.CancellationTokenSource();
    this.streaming = { id, cts };
    this.dispatch({
      type: 'userSent',
      id,
      now: Date.now(),
      turn: {
        role: 'user',
        text,
        ...(command ? { command } : {}),
        context: context.map((c) => ({
          kind: c.kind,
          uri: c.uri,
          label: this.chips.find((ch) => ch.id === `${c.kind}:${c.uri}`)?.label ?? c.uri,
        })),
      },
    });
    const token = `chat-${newId()}`;
    const progress = client.onProgress(chatProgress, token, (value) => {
      if (value.kind !== 'text' || this.streaming?.id !== id) return;
      this.state = reduce(this.state, { type: 'answerDelta', id, text: value.text });
      for (const h of this.hosts) h.post({ type: 'delta', conversationId: id, text: value.text });
    });
    let result: ChatResult;
    try {
      result = await client.sendRequest(
        ChatRequest.type,
        { history, message: text, ...(command ? { command } : {}), context, partialResultToken: token },
        cts.token,
      );
    } catch (err) {
      const so = streamingTurn(currentConversation(this.state))?.text ?? '';
      const cancelled = cts.token.isCancellationRequested;
      result = {
        text: so,
        finishReason: cancelled ? 'cancelled' : 'error',
        userMessage: '',
        context: { items: [], sentTokens: 0, budgetTokens: 0, droppedTurns: 0 },
        ...(cancelled ? {} : { error: { code: 'engine_error', message: err instanceof Error ? err.message : String(err) } }),
      };
    } finally {
      progress.dispose();
      cts.dispose();
    }
    this.streaming = undefined;
    this.noTemplate = result.error?.code === 'no_chat_template' ? result.error.message : result.error ? this.noTemplate : undefined;
    this.ctx.log.info(
      `chat: ${result.finishReason}${result.error ? ` (${result.error.code}: ${result.error.message})` : ''}${
        result.stats
          ? `, prompt ${result.stats.promptTokens} tokens (reused ${result.stats.reusedTokens}, evaluated ${result.stats.evaluatedTokens}), ${result.stats.generatedTokens} generated`
          : ''
      }`,
    );
    // The context is sent; chips start afresh for the next message.
    this.removed.clear();
    this.added.length = 0;
    this.computeChips();
    this.dispatch({ type: 'answerDone', id, now: Date.now(), result });
    this.history.flush();
    this.scheduleRecount();
  }

  stop(): void {
    if (!this.streaming) return;
    this.ctx.log.info('chat: stop requested');
    this.streaming.cts.cancel();
  }

  /** Pronto: Ask About Selection: the selection attached, the input focused. */
  askAboutSelection(): void {
    const editor = vscode.window.activeTextEditor;
    if (isCodeEditor(editor)) this.lastEditor = editor;
    if (!this.lastEditor || this.lastEditor.selection.isEmpty) {
      void vscode.window.showInformationMessage('Pronto: select some code first, then ask about it.');
    }
    this.removed.clear();
    this.computeChips();
    this.broadcast();
    this.scheduleRecount(0);
    for (const h of this.hosts) h.post({ type: 'focus' });
  }

  newConversation(): void {
    this.dispatch({ type: 'newConversation', id: newId(), now: Date.now() });
  }

  focusInput(): void {
    for (const h of this.hosts) h.post({ type: 'focus' });
  }

  // -------------------------------------------------------------------------------------------
  // State for the pages
  // -------------------------------------------------------------------------------------------

  private dispatch(event: ChatEvent): void {
    this.state = reduce(this.state, event);
    this.history.save(this.state);
    this.broadcast();
  }

  private notice(kind: 'info' | 'error', message: string): void {
    for (const h of this.hosts) h.post({ type: 'notice', kind, message });
  }

  private blocker(): ChatBlocker | undefined {
    if (!this.ctx.runningClient) return { kind: 'server-down', message: 'The Pronto language server is not running.' };
    const s = this.ctx.status;
    if (s?.state === 'starting') return { kind: 'engine-starting', message: s.message };
    if (s?.state === 'degraded') return { kind: 'engine-starting', message: `The engine is restarting: ${s.message}` };
    if (s?.state === 'error' || s?.state === 'stopped') return { kind: 'engine-error', message: s.message };
    if (this.noTemplate) return { kind: 'no-chat-template', message: this.noTemplate };
    return undefined;
  }

  private pageState(): ChatPageState {
    const blocker = this.blocker();
    return {
      chat: this.state,
      streaming: this.streaming !== undefined,
      commands: this.commands,
      chips: this.chips,
      ...(this.report ? { report: this.report } : {}),
      ...(this.reportError ? { reportError: this.reportError } : {}),
      ...(blocker ? { blocker } : {}),
      ...(this.ctx.status ? { status: this.ctx.status } : {}),
    };
  }

  private broadcast(): void {
    const state = this.pageState();
    for (const h of this.hosts) h.post({ type: 'state', state });
  }

  private onServerChange(): void {
    const client = this.ctx.runningClient;
    if (client !== this.client) {
      this.clientSubscription?.dispose();
      this.client = client;
      this.clientSubscription = client?.onNotification(TemplatesChangedNotification.type, () => void this.refreshCommands());
      if (client) void this.refreshCommands();
    }
    this.broadcast();
    this.scheduleRecount();
  }

  private async refreshCommands(): Promise<void> {
    const client = this.ctx.runningClient;
    if (!client) return;
    try {
      this.commands = await client.sendRequest(ListSlashCommandsRequest.type);
      this.broadcast();
    } catch (err) {
      this.ctx.log.warn(`chat: listing slash commands failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private scheduleChips(): void {
    clearTimeout(this.chipsTimer);
    this.chipsTimer = setTimeout(() => {
      const before = JSON.stringify(this.chips.map((c) => [c.id, c.label]));
      this.computeChips();
      if (JSON.stringify(this.chips.map((c) => [c.id, c.label])) === before) return;
      this.broadcast();
      this.scheduleRecount();
    }, 150);
  }

  /** Selection, current file, other visible editors and added files, minus the ones removed. */
  private computeChips(): void {
    const chips: Chip[] = [];
    const editor = this.targetEditor;
    const keep = (c: Chip) => {
      if (!this.removed.has(c.id) && !chips.some((x) => x.id === c.id)) chips.push(c);
    };
    if (editor) {
      const uri = editor.document.uri.toString();
      if (!editor.selection.isEmpty) {
        const s = editor.selection;
        keep({
          id: `selection:${uri}`,
          kind: 'selection',
          uri,
          label: `${fileName(editor.document.uri)}:${s.start.line + 1}-${lastLine(s) + 1}`,
        });
      }
      keep({ id: `file:${uri}`, kind: 'file', uri, label: fileName(editor.document.uri) });
    }
    for (const e of vscode.window.visibleTextEditors) {
      if (!isCodeEditor(e) || e === editor) continue;
      keep({ id: `file:${e.document.uri.toString()}`, kind: 'file', uri: e.document.uri.toString(), label: fileName(e.document.uri) });
    }
    for (const uri of this.added) keep({ id: `file:${uri.toString()}`, kind: 'file', uri: uri.toString(), label: fileName(uri) });
    // Keep the counts known for chips that stay.
    this.chips = chips.map((c) => ({ ...this.chips.find((o) => o.id === c.id), ...c }));
  }

  private scheduleRecount(delayMs = 300): void {
    clearTimeout(this.recountTimer);
    this.recountTimer = setTimeout(() => void this.recount(), delayMs);
  }

  /** Token counts of the chips, as pronto/chat would send them (engine tokenizer, same budget). */
  private async recount(): Promise<void> {
    const client = this.ctx.runningClient;
    if (!client || this.hosts.size === 0) return;
    const ids = this.chips.map((c) => c.id);
    const context = this.items(ids);
    try {
      const report = await client.sendRequest(ChatContextRequest.type, { context, history: historyFor(currentConversation(this.state)) });
      this.report = report;
      this.reportError = undefined;
      this.chips = this.chips.map((chip) => {
        const i = context.findIndex((c) => `${c.kind}:${c.uri}` === chip.id);
        const r = i >= 0 ? report.items[i] : undefined;
        return r ? { ...chip, tokens: r.tokens, sentTokens: r.sentTokens, cut: r.cut, ...(r.note ? { note: r.note } : {}) } : chip;
      });
    } catch (err) {
      this.report = undefined;
      this.reportError = `no token count: ${err instanceof Error ? err.message : String(err)}`;
    }
    this.broadcast();
  }
}

function newId(): string {
  return randomBytes(6).toString('hex');
}
