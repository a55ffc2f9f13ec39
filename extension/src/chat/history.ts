/**
 * The chat history of a workspace, kept across restarts in one JSON file in VS Code's storage for
 * this workspace (`ExtensionContext.storageUri`; the global storage when no folder is open). The
 * file is read back through zod: a damaged file is moved aside (`chat-history.corrupt-<time>.json`,
 * nothing lost) and the chat starts empty with a message saying where the old file went.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { ChatState } from '../../../media/lib/conversation';
import { storedHistorySchema } from '../../../protocol/chatView';

export const HISTORY_FILE = 'chat-history.json';

export class ChatHistoryStore {
  private timer: NodeJS.Timeout | undefined;
  private pending: ChatState | undefined;

  constructor(
    readonly dir: string,
    private readonly log: (line: string, level?: 'info' | 'warn') => void,
  ) {}

  get file(): string {
    return path.join(this.dir, HISTORY_FILE);
  }

  /** Reads the stored history; never throws. `problem` says what happened to a damaged file. */
  load(): { state: ChatState; problem?: string } {
    const empty: ChatState = { conversations: [], currentId: null };
    if (!existsSync(this.file)) return { state: empty };
    let problem: string;
    try {
      const parsed = storedHistorySchema.safeParse(JSON.parse(readFileSync(this.file, 'utf8')));
      if (parsed.success) {
        const { conversations, currentId } = parsed.data;
        return {
          state: {
            conversations,
            currentId: conversations.some((c) => c.id === currentId) ? currentId : (conversations[0]?.id ?? null),
          } as ChatState,
        };
      }
      problem = parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ');
    } catch (err) {
      problem = (err as Error).message;
    }
    const aside = path.join(this.dir, `chat-history.corrupt-${Date.now()}.json`);
    try {
      renameSync(this.file, aside);
    } catch {
      // keep going with an empty chat; the file stays where it is
    }
    const message = `The chat history could not be read (${problem}); it was moved to ${aside} and the chat starts empty.`;
    this.log(message, 'warn');
    return { state: empty, problem: message };
  }

  /** Saves soon (several changes in a row are written once). */
  save(state: ChatState): void {
    this.pending = state;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), 200);
  }

  flush(): void {
    clearTimeout(this.timer);
    const state = this.pending;
    this.pending = undefined;
    if (!state) return;
    try {
      mkdirSync(this.dir, { recursive: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify({ version: 1, currentId: state.currentId, conversations: state.conversations }));
      renameSync(tmp, this.file);
    } catch (err) {
      this.log(`saving the chat history to ${this.file} failed: ${(err as Error).message}`, 'warn');
    }
  }
}
