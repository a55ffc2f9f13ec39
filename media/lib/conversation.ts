/**
 * The chat conversations as data, and the one reducer that changes them. Pure, no DOM and no VS
 * Code: the extension keeps the conversations with it (and stores them), and the page applies the
 * same events to draw a streaming answer without waiting for a whole new state.
 */
import type { ChatContextItemReport, ChatResult, ChatStats, ChatTurn } from '../../protocol/chat';

export interface UserTurn {
  role: 'user';
  /** What the user typed (shown). */
  text: string;
  /** The message as sent to the model (context and slash template applied), once known. */
  sent?: string;
  command?: string;
  /** The context attached, as labels (shown under the message). */
  context: { kind: 'selection' | 'file'; label: string; uri: string }[];
}

export interface AssistantTurn {
  role: 'assistant';
  text: string;
  status: 'streaming' | 'done' | 'stopped' | 'error';
  finishReason?: ChatResult['finishReason'];
  stats?: ChatStats;
  error?: { code: string; message: string };
  /** Context items that were cut or dropped, from the server's report. */
  cut?: ChatContextItemReport[];
  droppedTurns?: number;
}

export type Turn = UserTurn | AssistantTurn;

export interface Conversation {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  turns: Turn[];
}

export interface ChatState {
  conversations: Conversation[];
  currentId: string | null;
}

export type ChatEvent =
  | { type: 'newConversation'; id: string; now: number }
  | { type: 'selectConversation'; id: string }
  | { type: 'deleteConversation'; id: string }
  | { type: 'userSent'; id: string; now: number; turn: UserTurn }
  | { type: 'answerDelta'; id: string; text: string }
  | { type: 'answerDone'; id: string; now: number; result: ChatResult };

export const emptyChat: ChatState = { conversations: [], currentId: null };

const TITLE_CHARS = 60;

function titleOf(turn: UserTurn): string {
  const text = `${turn.command ? `/${turn.command} ` : ''}${turn.text}`.replace(/\s+/g, ' ').trim();
  return text.length > TITLE_CHARS ? `${text.slice(0, TITLE_CHARS - 1)}…` : text || 'New conversation';
}

/** Applies f to one conversation; the same state comes back when nothing changed. */
function update(state: ChatState, id: string, f: (c: Conversation) => Conversation): ChatState {
  let changed = false;
  const conversations = state.conversations.map((c) => {
    if (c.id !== id) return c;
    const next = f(c);
    changed ||= next !== c;
    return next;
  });
  return changed ? { ...state, conversations } : state;
}

/** The answer being written in a conversation, if any. */
export function streamingTurn(c: Conversation | undefined): AssistantTurn | undefined {
  const last = c?.turns.at(-1);
  return last?.role === 'assistant' && last.status === 'streaming' ? last : undefined;
}

export function currentConversation(state: ChatState): Conversation | undefined {
  return state.conversations.find((c) => c.id === state.currentId);
}

export function reduce(state: ChatState, event: ChatEvent): ChatState {
  switch (event.type) {
    case 'newConversation': {
      // An empty current conversation is reused rather than piling up empty ones.
      const current = currentConversation(state);
      if (current && current.turns.length === 0) return state;
      const c: Conversation = { id: event.id, title: 'New conversation', createdAt: event.now, updatedAt: event.now, turns: [] };
      return { conversations: [c, ...state.conversations], currentId: c.id };
    }
    case 'selectConversation':
      return state.conversations.some((c) => c.id === event.id) ? { ...state, currentId: event.id } : state;
    case 'deleteConversation': {
      const conversations = state.conversations.filter((c) => c.id !== event.id);
      const currentId = state.currentId === event.id ? (conversations[0]?.id ?? null) : state.currentId;
      return { conversations, currentId };
    }
    case 'userSent': {
      const exists = state.conversations.some((c) => c.id === event.id);
      const base = exists
        ? state
        : {
            conversations: [
              { id: event.id, title: 'New conversation', createdAt: event.now, updatedAt: event.now, turns: [] },
              ...state.conversations,
            ],
            currentId: event.id,
          };
      const next = update(base, event.id, (c) => ({
        ...c,
        title: c.turns.length === 0 ? titleOf(event.turn) : c.title,
        updatedAt: event.now,
        turns: [...c.turns, event.turn, { role: 'assistant', text: '', status: 'streaming' }],
      }));
      return { ...next, currentId: event.id };
    }
    case 'answerDelta':
      return update(state, event.id, (c) => {
        const last = streamingTurn(c);
        if (!last) return c;
        return { ...c, turns: [...c.turns.slice(0, -1), { ...last, text: last.text + event.text }] };
      });
    case 'answerDone':
      return update(state, event.id, (c) => {
        const last = streamingTurn(c);
        if (!last) return c;
        const r = event.result;
        const status: AssistantTurn['status'] = r.finishReason === 'cancelled' ? 'stopped' : r.error ? 'error' : 'done';
        const cut = r.context.items.filter((i) => i.cut !== 'none');
        const answer: AssistantTurn = {
          role: 'assistant',
          // The server's text is the whole answer (deltas may have been missed by a reloaded page).
          text: r.text.length >= last.text.length || status === 'done' ? r.text : last.text,
          status,
          finishReason: r.finishReason,
          ...(r.stats ? { stats: r.stats } : {}),
          ...(r.error ? { error: r.error } : {}),
          ...(cut.length ? { cut } : {}),
          ...(r.context.droppedTurns ? { droppedTurns: r.context.droppedTurns } : {}),
        };
        const turns = [...c.turns.slice(0, -1), answer];
        const user = turns.at(-2);
        if (user?.role === 'user' && r.userMessage) turns[turns.length - 2] = { ...user, sent: r.userMessage };
        return { ...c, updatedAt: event.now, turns };
      });
  }
}

/**
 * The history sent with the next message: each exchange as it was sent. Exchanges whose answer
 * failed are left out (the model never saw them), as is an answer still streaming.
 */
export function historyFor(c: Conversation | undefined): ChatTurn[] {
  const out: ChatTurn[] = [];
  const turns = c?.turns ?? [];
  for (let i = 0; i + 1 < turns.length; i += 2) {
    const user = turns[i];
    const answer = turns[i + 1];
    if (user?.role !== 'user' || answer?.role !== 'assistant') continue;
    if (answer.status === 'error' || answer.status === 'streaming' || !user.sent) continue;
    out.push({ role: 'user', content: user.sent }, { role: 'assistant', content: answer.text });
  }
  return out;
}
