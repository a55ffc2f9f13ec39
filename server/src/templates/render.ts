/**
 * Prompt templates as text with `{variable}` placeholders: parsing, checking and rendering, all
 * pure. `{{` and `}}` stand for literal braces (templates may hold code). Everything else between
 * braces must be a variable the template's kind knows: an unknown one is an error, never left in
 * the prompt as text, so a typo cannot silently reach the model.
 */

/** A literal run of text or a variable reference, with its offset in the template (for errors). */
export type TemplatePart = { kind: 'text'; text: string } | { kind: 'var'; name: string; offset: number };

export interface TemplateIssue {
  /** Offset in the template text where the problem is. */
  offset: number;
  message: string;
}

const VAR_NAME = /^[a-z_][a-z0-9_]*$/;

/** Splits a template into literal text and variables; malformed braces become issues. */
export function parseTemplate(template: string): { parts: TemplatePart[]; issues: TemplateIssue[] } {
  const parts: TemplatePart[] = [];
  const issues: TemplateIssue[] = [];
  let text = '';
  let i = 0;
  const flush = () => {
    if (text) parts.push({ kind: 'text', text });
    text = '';
  };
  while (i < template.length) {
    const c = template[i]!;
    if (c === '{' && template[i + 1] === '{') {
      text += '{';
      i += 2;
      continue;
    }
    if (c === '}' && template[i + 1] === '}') {
      text += '}';
      i += 2;
      continue;
    }
    if (c === '}') {
      issues.push({ offset: i, message: 'a lone "}" (write "}}" for a literal brace)' });
      text += c;
      i++;
      continue;
    }
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    const end = template.indexOf('}', i + 1);
    const inner = end < 0 ? '' : template.slice(i + 1, end);
    if (end < 0 || inner.includes('{') || inner.includes('\n')) {
      issues.push({ offset: i, message: 'an unclosed "{" (write "{{" for a literal brace)' });
      text += c;
      i++;
      continue;
    }
    const name = inner.trim();
    if (!VAR_NAME.test(name)) {
      issues.push({ offset: i, message: `"{${inner}}" is not a variable name (write "{{" for a literal brace)` });
      text += template.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    flush();
    parts.push({ kind: 'var', name, offset: i });
    i = end + 1;
  }
  flush();
  return { parts, issues };
}

/** Issues of a template for a set of known variables: malformed braces, unknown and missing variables. */
export function checkTemplate(template: string, known: readonly string[], required: readonly string[] = []): TemplateIssue[] {
  const { parts, issues } = parseTemplate(template);
  const used = new Set<string>();
  for (const p of parts) {
    if (p.kind !== 'var') continue;
    used.add(p.name);
    if (!known.includes(p.name)) {
      issues.push({ offset: p.offset, message: `unknown variable {${p.name}}; known: ${known.map((k) => `{${k}}`).join(', ')}` });
    }
  }
  for (const r of required) if (!used.has(r)) issues.push({ offset: 0, message: `the template must contain {${r}}` });
  return issues;
}

/** Renders a template; variables without a value render empty. Call checkTemplate first. */
export function renderTemplate(template: string, values: Readonly<Record<string, string | undefined>>): string {
  return parseTemplate(template)
    .parts.map((p) => (p.kind === 'text' ? p.text : (values[p.name] ?? '')))
    .join('');
}

/** Variables a template uses, in order of first use. */
export function templateVariables(template: string): string[] {
  const out: string[] = [];
  for (const p of parseTemplate(template).parts) if (p.kind === 'var' && !out.includes(p.name)) out.push(p.name);
  return out;
}

/**
 * Whether typing at the cursor only appends to the prompt: `{prefix}` occurs once and nothing that
 * varies follows it (only fixed text such as the FIM middle token). Then the engine reuses the whole
 * prompt's KV cache on the next keystroke and evaluates only the typed tokens plus that tail.
 */
export function fimAppendOnly(template: string): { appendOnly: boolean; reason: string } {
  const parts = parseTemplate(template).parts;
  const at = parts.flatMap((p, i) => (p.kind === 'var' && p.name === 'prefix' ? [i] : []));
  if (at.length !== 1) return { appendOnly: false, reason: at.length ? '{prefix} occurs more than once' : 'no {prefix}' };
  const after = parts.slice(at[0]! + 1).filter((p) => p.kind === 'var');
  if (after.length) {
    const names = after.map((p) => `{${(p as { name: string }).name}}`).join(', ');
    return {
      appendOnly: false,
      reason: `${names} after {prefix}: each keystroke changes the prompt before them, so they are evaluated again`,
    };
  }
  return { appendOnly: true, reason: 'the text before the cursor comes last: a keystroke only appends to the prompt' };
}
