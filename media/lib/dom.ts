/** Small DOM helpers shared by the chat and templates pages (text only through textContent). */

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Record<string, string> = {},
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface CompletionItem {
  name: string;
  description: string;
}

/**
 * A completion list under a text field (slash commands, template variables): an ARIA listbox the
 * field points at with aria-activedescendant; ↑/↓ move, Tab or Enter pick, Esc closes, a click picks.
 */
export class CompletionList {
  private active = 0;

  constructor(
    private readonly field: HTMLInputElement | HTMLTextAreaElement,
    readonly list: HTMLUListElement,
    private readonly opts: {
      idPrefix: string;
      label: (item: CompletionItem) => string;
      matches: () => CompletionItem[];
      pick: (name: string) => void;
    },
  ) {}

  render(): void {
    const matches = this.opts.matches();
    this.list.hidden = matches.length === 0;
    if (this.active >= matches.length) this.active = 0;
    this.list.replaceChildren(
      ...matches.map((item, i) => {
        const li = h('li', { role: 'option', id: `${this.opts.idPrefix}${item.name}`, 'aria-selected': String(i === this.active) });
        li.append(h('strong', {}, this.opts.label(item)), h('span', {}, ` ${item.description}`));
        li.addEventListener('mousedown', (e) => {
          e.preventDefault();
          this.choose(item.name);
        });
        return li;
      }),
    );
    if (matches.length) this.field.setAttribute('aria-activedescendant', `${this.opts.idPrefix}${matches[this.active]!.name}`);
    else this.field.removeAttribute('aria-activedescendant');
  }

  close(): void {
    this.list.hidden = true;
    this.field.removeAttribute('aria-activedescendant');
  }

  private choose(name: string): void {
    this.close();
    this.opts.pick(name);
  }

  /** Handles a key in the field; true when the list used it. */
  handleKey(e: KeyboardEvent): boolean {
    const matches = this.list.hidden ? [] : this.opts.matches();
    if (!matches.length) return false;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : matches.length - 1)) % matches.length;
      this.render();
    } else if (e.key === 'Tab' || (e.key === 'Enter' && !e.shiftKey)) {
      this.choose(matches[this.active]!.name);
    } else if (e.key === 'Escape') {
      this.close();
    } else return false;
    e.preventDefault();
    return true;
  }
}

/** A status line that shows a message for a while (role="status" on the element). */
export function noticeLine(el: HTMLElement, ms: number): (kind: 'info' | 'error', message: string) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (kind, message) => {
    el.textContent = message;
    el.className = `notice ${kind}`;
    clearTimeout(timer);
    timer = setTimeout(() => {
      el.textContent = '';
    }, ms);
  };
}
