/**
 * The one characters-per-token estimate, for every token budget the sidecar turns into characters
 * (the completion windows, extra chunks, and chat's context). Calibrated from the engine's own
 * tokenizer (`POST /tokenize`) once per model, on a fixed sample of code in several languages: code
 * averages 3-4 characters per token, but it depends on the vocabulary (deepseek-coder, qwen2 and
 * starcoder differ by up to a third on the same text). Until the calibration answers, a typical
 * value is used. The engine still enforces every token budget exactly; this estimate decides how
 * much text is sent and which lines count as "in the prompt".
 */

/** Used before the calibration (or when it fails): typical of code models on code. */
export const DEFAULT_CHARS_PER_TOKEN = 3.5;
/** Calibrations outside this range are rejected as implausible (a broken tokenizer, a wrong answer). */
const MIN_CHARS_PER_TOKEN = 1;
const MAX_CHARS_PER_TOKEN = 12;

/** A fixed sample of everyday code (TypeScript, Python, C, Go, shell, JSON), about 1,700 characters. */
export const CALIBRATION_SAMPLE = `import { readFile } from 'node:fs/promises';

export interface Order {
  id: string;
  items: Array<{ sku: string; quantity: number; price: number }>;
  createdAt: Date;
}

export async function loadOrders(path: string): Promise<Order[]> {
  const raw = JSON.parse(await readFile(path, 'utf8')) as Order[];
  return raw.filter((o) => o.items.length > 0).map((o) => ({ ...o, createdAt: new Date(o.createdAt) }));
}

export function total(order: Order): number {
  return order.items.reduce((sum, item) => sum + item.quantity * item.price, 0);
}

class InventoryError(Exception):
    """Raised when stock would go negative."""


def reserve(stock: dict[str, int], sku: str, quantity: int) -> int:
    available = stock.get(sku, 0)
    if quantity > available:
        raise InventoryError(f"only {available} of {sku} left")
    stock[sku] = available - quantity
    return stock[sku]


#include <stdio.h>
#include <stdlib.h>

typedef struct node {
    int value;
    struct node *next;
} node_t;

static node_t *push(node_t *head, int value) {
    node_t *n = malloc(sizeof *n);
    if (!n) { perror("malloc"); exit(1); }
    n->value = value;
    n->next = head;
    return n;
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "uptime": time.Since(s.started).Seconds()})
}

for f in src/*.ts; do
  npx tsc --noEmit "$f" || echo "type errors in $f" >&2
done

{"name": "inventory", "version": "1.4.2", "scripts": {"test": "node --test", "build": "tsc -p ."}}
`;

/** Characters per token of the engine's model; shared by every feature that cuts text to a token budget. */
export class TokenEstimator {
  private readonly perModel = new Map<string, number>();
  private model: string | undefined;
  private pending: Promise<void> | undefined;

  constructor(private readonly log?: (line: string) => void) {}

  /** The estimate for the current model (the default until calibrated). */
  get charsPerToken(): number {
    return (this.model !== undefined ? this.perModel.get(this.model) : undefined) ?? DEFAULT_CHARS_PER_TOKEN;
  }

  get calibrated(): boolean {
    return this.model !== undefined && this.perModel.has(this.model);
  }

  /** About how many characters hold `tokens` tokens. */
  chars(tokens: number): number {
    return Math.floor(Math.max(0, tokens) * this.charsPerToken);
  }

  /** About how many tokens `chars` characters take. */
  tokens(chars: number): number {
    return Math.ceil(Math.max(0, chars) / this.charsPerToken);
  }

  /**
   * The engine now runs model `key` (its path, or a remote URL): use its calibration, measuring it
   * first when this model has none. `countTokens` asks the engine's tokenizer. Never throws; a failed
   * calibration keeps the default and is tried again the next time the model is used.
   */
  useModel(key: string, countTokens: (text: string) => Promise<number>): Promise<void> {
    this.model = key;
    if (this.perModel.has(key)) return Promise.resolve();
    const run = (async () => {
      try {
        const count = await countTokens(CALIBRATION_SAMPLE);
        const value = CALIBRATION_SAMPLE.length / count;
        if (!Number.isFinite(value) || value < MIN_CHARS_PER_TOKEN || value > MAX_CHARS_PER_TOKEN) {
          throw new Error(`implausible answer: ${count} tokens for ${CALIBRATION_SAMPLE.length} characters`);
        }
        this.perModel.set(key, Math.round(value * 100) / 100);
        this.log?.(`token estimate for ${key}: ${this.perModel.get(key)} characters per token (from the engine's tokenizer)`);
      } catch (err) {
        this.log?.(`token estimate for ${key}: calibration failed (${(err as Error).message}); using ${DEFAULT_CHARS_PER_TOKEN}`);
      }
    })();
    this.pending = run;
    return run;
  }

  /** Resolves when the last calibration has settled (tests). */
  async settled(): Promise<void> {
    await this.pending;
  }
}
