/**
 * Where templates live and which are in force: the built-in defaults, the user's file and the
 * workspace's `.pronto/templates.json`, merged by id (workspace over user over default).
 *
 * Files are user-edited and may be broken at any moment (half-saved, a merge conflict, a typo).
 * Nothing invalid is ever used: a broken file keeps every template of that file at its last valid
 * version; a broken template keeps its own last valid version, or falls back to the next scope or
 * the default. The problems are kept and reported (panel, status) until the file is fixed.
 *
 * Freshness without trusting a file watcher alone: `refresh()` compares each file's stat (mtime,
 * size, inode) with the one last read, costs two stat calls, and runs before every use, so a change
 * applies to the next completion or chat message. The watcher (`watch()`) only makes the change
 * visible at once (status, panel) without waiting for the next use.
 */
import { type FSWatcher, existsSync, mkdirSync, readFileSync, renameSync, statSync, watch, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PromptTemplate, TemplateEntry, TemplateProblem, TemplatesState } from '../../../protocol/templates';
import { defaultTemplates, type FimModel } from './defaults';
import { parseTemplatesFile, serializeTemplatesFile, templateVariables, validateTemplate } from './schema';

type FileScope = 'user' | 'workspace';

interface ScopeState {
  file: string | undefined;
  /** stat key of the content last read ('' = missing). */
  statKey: string | null;
  /** Last valid version of each template of this file, by id, in file order. */
  valid: Map<string, PromptTemplate>;
  invalid: Map<string, { problems: TemplateProblem[]; raw: unknown }>;
  problems: string[];
}

export interface ModelIdentity {
  name: string;
  arch: string;
}

function statKey(file: string | undefined): string {
  if (!file) return '';
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return '';
  }
}

/** Does a template's `family` apply to a model? "*" always; otherwise a part of its name or architecture. */
export function familyMatches(family: string, model: ModelIdentity | undefined): boolean {
  if (family === '*') return true;
  if (!model) return false;
  const f = family.toLowerCase();
  return (
    model.name.toLowerCase().includes(f) || model.arch.toLowerCase().includes(f) || path.basename(model.name).toLowerCase().includes(f)
  );
}

const scopeRank: Record<TemplateEntry['scope'], number> = { default: 0, user: 1, workspace: 2 };

export class TemplateStore {
  private readonly scopes: Record<FileScope, ScopeState> = {
    user: { file: undefined, statKey: null, valid: new Map(), invalid: new Map(), problems: [] },
    workspace: { file: undefined, statKey: null, valid: new Map(), invalid: new Map(), problems: [] },
  };
  private fimModel: FimModel = { order: 'spm', unknown: true };
  private model: ModelIdentity | undefined;
  private readonly listeners = new Set<(state: TemplatesState) => void>();
  private watchers: FSWatcher[] = [];
  private watchedDirs = new Set<string>();
  private watchTimer: NodeJS.Timeout | undefined;

  constructor(private readonly log: (line: string) => void = () => undefined) {}

  /** Sets the files (user storage dir, workspace root) and reads them. */
  configure(opts: { userDir?: string; workspaceRoot?: string }): void {
    this.scopes.user.file = opts.userDir ? path.join(opts.userDir, 'templates.json') : undefined;
    this.scopes.workspace.file = opts.workspaceRoot ? path.join(opts.workspaceRoot, '.pronto', 'templates.json') : undefined;
    this.scopes.user.statKey = null;
    this.scopes.workspace.statKey = null;
    this.refresh();
  }

  /** The model in use: decides the FIM default and which family-specific templates are active. */
  setModel(model: ModelIdentity | undefined, fim: FimModel): void {
    this.model = model;
    this.fimModel = fim;
    this.emit();
  }

  get fimInfo(): FimModel {
    return this.fimModel;
  }

  onChange(listener: (state: TemplatesState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(): void {
    const state = this.state();
    for (const l of this.listeners) l(state);
  }

  /** Re-reads the files whose stat changed; returns true when something was re-read. */
  refresh(): boolean {
    let changed = false;
    for (const scope of ['user', 'workspace'] as const) {
      const s = this.scopes[scope];
      const key = statKey(s.file);
      if (key === s.statKey) continue;
      s.statKey = key;
      this.load(scope);
      changed = true;
    }
    if (changed) this.emit();
    return changed;
  }

  private load(scope: FileScope): void {
    const s = this.scopes[scope];
    s.problems = [];
    if (!s.file || !existsSync(s.file)) {
      s.valid = new Map();
      s.invalid = new Map();
      return;
    }
    let text: string;
    try {
      text = readFileSync(s.file, 'utf8');
    } catch (err) {
      s.problems.push(`cannot read: ${(err as Error).message}; its last valid templates stay in force`);
      return;
    }
    const parsed = parseTemplatesFile(text);
    if (!parsed.ok) {
      // The whole file is unusable: keep every template at its last valid version.
      s.problems.push(`${parsed.problem}; its last valid templates stay in force`);
      this.log(`templates: ${s.file}: ${parsed.problem}`);
      return;
    }
    const valid = new Map<string, PromptTemplate>();
    const invalid = new Map<string, { problems: TemplateProblem[]; raw: unknown }>();
    parsed.entries.forEach((e, index) => {
      if (e.ok) {
        if (valid.has(e.template.id) || invalid.has(e.template.id)) {
          s.problems.push(`templates[${index}]: a second template with id "${e.template.id}" (ignored)`);
          return;
        }
        valid.set(e.template.id, e.template);
        return;
      }
      if (!e.id) {
        s.problems.push(`templates[${index}]: ${e.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
        return;
      }
      const previous = s.valid.get(e.id);
      if (previous) valid.set(e.id, previous); // the last valid version stays in force
      invalid.set(e.id, { problems: e.problems, raw: (JSON.parse(text) as { templates: unknown[] }).templates[index] });
      this.log(`templates: ${s.file}: "${e.id}" is invalid (${e.problems.map((p) => p.message).join('; ')})`);
    });
    s.valid = valid;
    s.invalid = invalid;
  }

  /** Every template with its scope, the ones in force for the current model marked active. */
  entries(): TemplateEntry[] {
    const byId = new Map<string, TemplateEntry>();
    const defaults = defaultTemplates(this.fimModel);
    for (const t of defaults) byId.set(t.id, { template: t, scope: 'default', hasDefault: true, active: false });
    for (const scope of ['user', 'workspace'] as const) {
      const s = this.scopes[scope];
      for (const t of s.valid.values())
        byId.set(t.id, { template: t, scope, hasDefault: defaults.some((d) => d.id === t.id), active: false });
      for (const [id, inv] of s.invalid) {
        const current = byId.get(id);
        if (current) current.invalid = { scope, problems: inv.problems, raw: inv.raw };
      }
    }
    // Invalid templates with no valid version anywhere: listed (to be fixed) but never in force.
    const placeholders = new Set<TemplateEntry>();
    for (const scope of ['user', 'workspace'] as const) {
      for (const [id, inv] of this.scopes[scope].invalid) {
        if (byId.has(id)) continue;
        const raw = inv.raw as Partial<PromptTemplate> | undefined;
        const kind = raw?.kind === 'fim' || raw?.kind === 'slash' || raw?.kind === 'chat-system' ? raw.kind : 'slash';
        const entry: TemplateEntry = {
          template: (kind === 'slash' ? { id, kind, name: '', template: '' } : { id, kind, family: '*', template: '' }) as PromptTemplate,
          scope,
          hasDefault: false,
          active: false,
          invalid: { scope, problems: inv.problems, raw: inv.raw },
        };
        placeholders.add(entry);
        byId.set(id, entry);
      }
    }
    const list = [...byId.values()];
    const usable = list.filter((e) => !placeholders.has(e));
    const pick = (kind: 'fim' | 'chat-system') => {
      const candidates = usable.filter(
        (e) => e.template.kind === kind && familyMatches((e.template as { family: string }).family, this.model),
      );
      candidates.sort((a, b) => {
        const fa = (a.template as { family: string }).family;
        const fb = (b.template as { family: string }).family;
        const specific = Number(fb !== '*') - Number(fa !== '*');
        if (specific) return specific;
        if (fa.length !== fb.length) return fb.length - fa.length;
        return scopeRank[b.scope] - scopeRank[a.scope];
      });
      if (candidates[0]) candidates[0].active = true;
    };
    pick('fim');
    pick('chat-system');
    // Slash commands: one per name, the highest scope wins.
    const byName = new Map<string, TemplateEntry>();
    for (const e of usable) {
      if (e.template.kind !== 'slash') continue;
      const other = byName.get(e.template.name);
      if (!other || scopeRank[e.scope] > scopeRank[other.scope]) byName.set(e.template.name, e);
    }
    for (const e of byName.values()) e.active = true;
    return list;
  }

  /** The template in force of a kind (fim, chat-system), for the current model. */
  active(kind: 'fim' | 'chat-system'): TemplateEntry | undefined {
    this.refresh();
    return this.entries().find((e) => e.active && e.template.kind === kind);
  }

  /** The slash command of that name in force. */
  slash(name: string): TemplateEntry | undefined {
    this.refresh();
    return this.entries().find((e) => e.active && e.template.kind === 'slash' && e.template.name === name);
  }

  state(): TemplatesState {
    const problems: TemplatesState['problems'] = [];
    for (const scope of ['user', 'workspace'] as const) {
      const s = this.scopes[scope];
      for (const message of s.problems) problems.push({ scope, path: s.file ?? '', message });
    }
    return {
      entries: this.entries(),
      problems,
      files: { user: this.scopes.user.file, workspace: this.scopes.workspace.file },
      variables: templateVariables,
      ...(this.model ? { model: this.model } : {}),
    };
  }

  /** One sentence for the status line when something is wrong, else undefined. */
  statusNote(): string | undefined {
    const state = this.state();
    const bad = state.entries.filter((e) => e.invalid);
    const parts = [
      ...state.problems.map(
        (p) => `${path.basename(path.dirname(p.path)) === '.pronto' ? '.pronto/templates.json' : 'user templates'}: ${p.message}`,
      ),
      ...bad.map(
        (e) =>
          `template "${e.template.id}" is invalid (${e.invalid!.problems[0]?.message ?? 'see the templates panel'}); ${e.template.template ? `its ${e.scope === 'default' ? 'default' : 'last valid version'} stays in force` : 'it is not used'}`,
      ),
    ];
    return parts.length ? `Templates: ${parts.join(' ')}` : undefined;
  }

  // -----------------------------------------------------------------------------------------
  // Writing (the templates panel)
  // -----------------------------------------------------------------------------------------

  private rawFile(scope: FileScope): { ok: true; templates: unknown[] } | { ok: false; message: string } {
    const file = this.scopes[scope].file;
    if (!file) {
      return {
        ok: false,
        message:
          scope === 'workspace'
            ? 'No workspace folder is open: save the template to the user templates instead.'
            : 'No user storage folder is known.',
      };
    }
    if (!existsSync(file)) return { ok: true, templates: [] };
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      return {
        ok: false,
        message: `${file} is not valid JSON (${(err as Error).message}): fix it by hand or reset it; nothing was changed.`,
      };
    }
    const templates = (json as { templates?: unknown } | null)?.templates;
    if (!Array.isArray(templates))
      return { ok: false, message: `${file} has no "templates" array: fix it by hand or reset it; nothing was changed.` };
    return { ok: true, templates };
  }

  private write(scope: FileScope, templates: unknown[]): void {
    const file = this.scopes[scope].file!;
    mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, serializeTemplatesFile(templates as PromptTemplate[]));
    renameSync(tmp, file);
    this.refresh();
  }

  save(raw: unknown, scope: FileScope, previousId?: string): { ok: true } | { ok: false; problems: TemplateProblem[]; message?: string } {
    const checked = validateTemplate(raw);
    if (!checked.ok) return { ok: false, problems: checked.problems };
    const current = this.rawFile(scope);
    if (!current.ok) return { ok: false, problems: [], message: current.message };
    const id = checked.template.id;
    const idOf = (t: unknown) => (t as { id?: unknown } | null)?.id;
    const templates = current.templates.filter((t) => idOf(t) !== previousId || previousId === id);
    const at = templates.findIndex((t) => idOf(t) === id);
    if (at >= 0) templates[at] = checked.template;
    else templates.push(checked.template);
    this.write(scope, templates);
    return { ok: true };
  }

  delete(id: string, scope: FileScope): { ok: true } | { ok: false; message: string } {
    const current = this.rawFile(scope);
    if (!current.ok) return current;
    this.write(
      scope,
      current.templates.filter((t) => (t as { id?: unknown } | null)?.id !== id),
    );
    return { ok: true };
  }

  reset(scope: FileScope): { ok: true } | { ok: false; message: string } {
    if (!this.scopes[scope].file) return { ok: false, message: `No ${scope} templates file.` };
    this.write(scope, []);
    return { ok: true };
  }

  /** Merges a templates file's text into a scope; all or nothing, so a bad import changes nothing. */
  import(scope: FileScope, text: string): { ok: true; imported: number } | { ok: false; message: string } {
    const parsed = parseTemplatesFile(text);
    if (!parsed.ok) return { ok: false, message: `The file to import is ${parsed.problem}` };
    const bad = parsed.entries.flatMap((e, i) =>
      e.ok ? [] : [`templates[${i}]${e.id ? ` ("${e.id}")` : ''}: ${e.problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`],
    );
    if (bad.length) return { ok: false, message: `Nothing was imported: ${bad.join(' ')}` };
    const current = this.rawFile(scope);
    if (!current.ok) return current;
    const templates = [...current.templates];
    for (const e of parsed.entries) {
      if (!e.ok) continue;
      const at = templates.findIndex((t) => (t as { id?: unknown } | null)?.id === e.template.id);
      if (at >= 0) templates[at] = e.template;
      else templates.push(e.template);
    }
    this.write(scope, templates);
    return { ok: true, imported: parsed.entries.length };
  }

  export(scope: FileScope | 'all'): string {
    this.refresh();
    if (scope === 'all')
      return serializeTemplatesFile(
        this.entries()
          .filter((e) => e.active || e.template.kind === 'slash')
          .map((e) => e.template),
      );
    return serializeTemplatesFile([...this.scopes[scope].valid.values()]);
  }

  // -----------------------------------------------------------------------------------------
  // Watching
  // -----------------------------------------------------------------------------------------

  /** Watches the files' folders (and the workspace root, for `.pronto` appearing); idempotent. */
  watch(): void {
    this.unwatch();
    const dirs = new Set<string>();
    for (const s of Object.values(this.scopes)) {
      if (!s.file) continue;
      dirs.add(path.dirname(s.file));
      if (path.basename(path.dirname(s.file)) === '.pronto') dirs.add(path.dirname(path.dirname(s.file)));
    }
    for (const dir of dirs) {
      if (!existsSync(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.scheduleRefresh());
        w.on('error', () => undefined);
        this.watchers.push(w);
        this.watchedDirs.add(dir);
      } catch (err) {
        this.log(`templates: cannot watch ${dir}: ${(err as Error).message}`);
      }
    }
  }

  private scheduleRefresh(): void {
    clearTimeout(this.watchTimer);
    this.watchTimer = setTimeout(() => {
      // A new .pronto folder needs a watcher of its own.
      const dir = this.scopes.workspace.file && path.dirname(this.scopes.workspace.file);
      if (dir && !this.watchedDirs.has(dir) && existsSync(dir)) this.watch();
      this.refresh();
    }, 50);
    this.watchTimer.unref?.();
  }

  unwatch(): void {
    for (const w of this.watchers.splice(0)) w.close();
    this.watchedDirs.clear();
    clearTimeout(this.watchTimer);
  }
}
