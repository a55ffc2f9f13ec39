/**
 * Post-processing of raw model output, as pure filters `(item, context) => item` (Tabby style).
 * Each filter does one thing and can be tested alone with the cursor mini-language in
 * test/unit/server-postprocess.test.ts. `postprocess` runs them in order; an item that ends up
 * blank is dropped by the caller.
 */
export interface FilterContext {
  /** Document text before / after the cursor (windowed). */
  prefix: string;
  suffix: string;
  /** The cursor line's text before / after the cursor. */
  linePrefix: string;
  lineSuffix: string;
  /** Whether a multi-line suggestion is wanted here. */
  multiline: boolean;
}

export type Filter = (item: string, ctx: FilterContext) => string;

export function filterContext(prefix: string, suffix: string, multiline: boolean): FilterContext {
  const nl = suffix.indexOf('\n');
  return {
    prefix,
    suffix,
    linePrefix: prefix.slice(prefix.lastIndexOf('\n') + 1),
    lineSuffix: nl < 0 ? suffix : suffix.slice(0, nl),
    multiline,
  };
}

const OPENERS: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
const CLOSERS: Record<string, string> = { ')': '(', ']': '[', '}': '{' };

function indentWidth(line: string): number {
  let w = 0;
  for (const ch of line) {
    if (ch === ' ') w++;
    else if (ch === '\t') w += 4;
    else break;
  }
  return w;
}

const isBlank = (line: string) => line.trim().length === 0;

/** Stop at repetition: three equal lines in a row, or a short unit repeated eight times in a line. */
export const stopAtRepetition: Filter = (item) => {
  const lines = item.split('\n');
  for (let i = 0; i + 2 < lines.length; i++) {
    const l = lines[i]!;
    if (!isBlank(l) && l === lines[i + 1] && l === lines[i + 2]) return lines.slice(0, i + 1).join('\n');
  }
  const out: string[] = [];
  for (const line of lines) {
    const m = /(.{1,12}?)\1{7,}/.exec(line);
    if (m) {
      out.push(line.slice(0, m.index + m[1]!.length));
      return out.join('\n');
    }
    out.push(line);
  }
  return item;
};

/**
 * Single-line mode: keep the first line with text (a leading line break is kept when the cursor
 * is at the end of a line and the suggestion starts on the next one).
 * Multi-line mode: cut at the end of the current block: before a line indented less than the
 * cursor's line; when the cursor's line opens a block, after the line that closes it (a closer at
 * the cursor line's indent) and before any other line at that indent; at two blank lines in a row.
 */
export const cutToBlock: Filter = (item, ctx) => {
  const lines = item.split('\n');
  if (!ctx.multiline) {
    const first = lines.findIndex((l) => !isBlank(l));
    if (first < 0) return '';
    return lines.slice(0, first + 1).join('\n');
  }
  const baseIndent = indentWidth(ctx.linePrefix);
  const firstLine = ctx.linePrefix + (lines[0] ?? '');
  let opensBlock = /[{([:]\s*$|=>\s*$/.test(firstLine);
  const out: string[] = [lines[0] ?? ''];
  let blanks = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (isBlank(line)) {
      if (++blanks >= 2) break;
      out.push(line);
      continue;
    }
    blanks = 0;
    const ind = indentWidth(line);
    if (ind < baseIndent) break;
    if (ind === baseIndent) {
      const closes = /^\s*[)\]}]/.test(line);
      if (opensBlock) {
        if (closes) {
          out.push(line);
          break;
        }
        break;
      }
      // A line at the cursor's indent that opens a new block: keep it, and its block.
      if (/[{([:]\s*$|=>\s*$/.test(line)) opensBlock = true;
    }
    out.push(line);
  }
  while (out.length > 1 && isBlank(out[out.length - 1]!)) out.pop();
  return out.join('\n');
};

/** Drop text at the end of the suggestion that the document already has right after the cursor. */
export const dropSuffixDuplicate: Filter = (item, ctx) => {
  let lines = item.split('\n');
  // Whole lines that repeat the lines following the cursor's line.
  const suffixLines = ctx.suffix
    .split('\n')
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
  const body = lines.map((l) => l.trim());
  for (let m = Math.min(suffixLines.length, lines.length - 1); m >= 1; m--) {
    const tail = body.slice(lines.length - m);
    if (tail.every((l, i) => l.length > 0 && l === suffixLines[i])) {
      lines = lines.slice(0, lines.length - m);
      while (lines.length > 1 && isBlank(lines[lines.length - 1]!)) lines.pop();
      break;
    }
  }
  // The rest of the cursor's line, repeated at the end of the suggestion.
  const rest = ctx.lineSuffix.trim();
  if (rest.length > 0) {
    const last = lines[lines.length - 1]!;
    const trimmed = last.trimEnd();
    if (trimmed.endsWith(rest)) lines[lines.length - 1] = trimmed.slice(0, trimmed.length - rest.length).trimEnd();
  }
  return lines.join('\n');
};

/** Unclosed openers in `text`, innermost last (quotes are not tracked: used on one line). */
function unclosedOpeners(text: string): string[] {
  const stack: string[] = [];
  for (const ch of text) {
    if (ch in OPENERS) stack.push(ch);
    else if (ch in CLOSERS && stack[stack.length - 1] === CLOSERS[ch]) stack.pop();
  }
  return stack;
}

/** How many of the prefix's open brackets the text after the cursor (on its line) closes. */
function closedBySuffix(lineSuffix: string): number {
  let depth = 0;
  let closed = 0;
  for (const ch of lineSuffix) {
    if (ch in OPENERS) depth++;
    else if (ch in CLOSERS) {
      if (depth > 0) depth--;
      else closed++;
    }
  }
  return closed;
}

/**
 * Close only brackets the completion opened: a closer that would close a bracket of the cursor's
 * line which the text after the cursor already closes, or a closer that does not match, ends the
 * suggestion there.
 */
export const closeOnlyOpenedBrackets: Filter = (item, ctx) => {
  const outer = unclosedOpeners(ctx.linePrefix);
  const alreadyClosed = closedBySuffix(ctx.lineSuffix);
  const own: string[] = [];
  let outerClosed = 0;
  let quote: string | undefined;
  for (let i = 0; i < item.length; i++) {
    const ch = item[i]!;
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote || ch === '\n') quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'" || ch === '`') {
      quote = ch;
      continue;
    }
    if (ch in OPENERS) own.push(ch);
    else if (ch in CLOSERS) {
      if (own.length > 0) {
        if (own[own.length - 1] !== CLOSERS[ch]) return item.slice(0, i).trimEnd();
        own.pop();
        continue;
      }
      const target = outer[outer.length - 1 - outerClosed];
      if (target === undefined || target !== CLOSERS[ch] || outerClosed < alreadyClosed) return item.slice(0, i).trimEnd();
      outerClosed++;
    }
  }
  return item;
};

/**
 * Fix indentation: no doubled indent when the cursor already sits after the line's indentation,
 * and the document's indent style (tabs or spaces) for the suggestion's lines.
 */
export const fixIndentation: Filter = (item, ctx) => {
  const lines = item.split('\n');
  if (ctx.linePrefix.length > 0 && isBlank(ctx.linePrefix)) lines[0] = lines[0]!.trimStart();
  const docLines = ctx.prefix.split('\n').concat(ctx.suffix.split('\n'));
  let tabs = 0;
  let spaces = 0;
  let unit = 0;
  for (const l of docLines) {
    if (l.startsWith('\t')) tabs++;
    else if (l.startsWith(' ') && !isBlank(l)) {
      spaces++;
      const w = l.length - l.trimStart().length;
      unit = unit === 0 ? w : Math.min(unit, w);
    }
  }
  if (tabs === 0 && spaces === 0) return lines.join('\n');
  const useTabs = tabs > spaces;
  const spaceUnit = unit > 0 ? unit : 4;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const lead = line.length - line.trimStart().length;
    const ws = line.slice(0, lead);
    if (useTabs && ws.includes(' ') && !ws.includes('\t')) {
      lines[i] = '\t'.repeat(Math.round(ws.length / (unit > 0 ? unit : 4))) + line.slice(lead);
    } else if (!useTabs && ws.includes('\t')) {
      lines[i] = ws.replace(/\t/g, ' '.repeat(spaceUnit)) + line.slice(lead);
    }
  }
  return lines.join('\n');
};

export const trimTrailingWhitespace: Filter = (item) => item.replace(/[ \t]+$/gm, '').replace(/\s+$/, '');

export const pipeline: Filter[] = [
  stopAtRepetition,
  cutToBlock,
  dropSuffixDuplicate,
  closeOnlyOpenedBrackets,
  fixIndentation,
  trimTrailingWhitespace,
];

export function postprocess(item: string, ctx: FilterContext, filters: Filter[] = pipeline): string {
  return filters.reduce((text, f) => f(text, ctx), item);
}

/**
 * Single or multi-line by context: at the end of a line, or before nothing but closers right after
 * a block opener (`{`, `:`, `=>`) or the line's indentation, multiple lines; otherwise one line.
 */
export function wantsMultiline(setting: 'auto' | 'always' | 'never', linePrefix: string, lineSuffix: string): boolean {
  if (setting !== 'auto') return setting === 'always';
  if (isBlank(lineSuffix)) return true;
  // Only closers after the cursor: multi-line at the start of a line or right after a block opener.
  return /^[\s)\]}'"`;,]*$/.test(lineSuffix) && (isBlank(linePrefix) || /[{:]\s*$|=>\s*$/.test(linePrefix));
}
