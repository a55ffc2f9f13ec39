/** Prompt templates: parsing, checking, rendering (table-driven), validation, and the store's precedence and fallbacks. */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { defaultFimTemplateText, renderExtraContext } from '../../server/src/templates/defaults';
import { customFimPrompt, renderFimTemplate } from '../../server/src/templates/fim';
import { checkTemplate, fimAppendOnly, renderTemplate, templateVariables } from '../../server/src/templates/render';
import { parseTemplatesFile, validateTemplate } from '../../server/src/templates/schema';
import { familyMatches, TemplateStore } from '../../server/src/templates/store';

describe('render and check', () => {
  const known = ['prefix', 'suffix', 'language'];
  const cases: { template: string; values?: Record<string, string>; rendered?: string; issues?: RegExp[] }[] = [
    { template: 'a {prefix} b', values: { prefix: 'X' }, rendered: 'a X b' },
    { template: '{{literal}} {prefix}', values: { prefix: 'P' }, rendered: '{literal} P' },
    { template: 'fn() {{ return 1; }}', rendered: 'fn() { return 1; }' },
    { template: '{ prefix }', values: { prefix: 'sp' }, rendered: 'sp' },
    { template: '{suffix}{suffix}', values: { suffix: 'S' }, rendered: 'SS' },
    { template: 'missing {language}', values: {}, rendered: 'missing ' },
    { template: '{prefx}', issues: [/unknown variable \{prefx\}/] },
    { template: 'open { here', issues: [/unclosed "\{"/] },
    { template: 'close } here', issues: [/lone "\}"/] },
    { template: '{Not-A-Name}', issues: [/not a variable name/] },
    { template: 'no vars', issues: [/must contain \{prefix\}/] },
  ];
  for (const c of cases) {
    test(JSON.stringify(c.template), () => {
      const issues = checkTemplate(c.template, known, c.issues?.some((r) => r.source.includes('must contain')) ? ['prefix'] : []);
      if (c.issues) {
        for (const re of c.issues)
          assert.ok(
            issues.some((i) => re.test(i.message)),
            `${re} in ${JSON.stringify(issues)}`,
          );
      } else {
        assert.deepEqual(issues, []);
        assert.equal(renderTemplate(c.template, c.values ?? {}), c.rendered);
      }
    });
  }
  test('a variable value is inserted as is, never re-expanded', () => {
    assert.equal(renderTemplate('{prefix}', { prefix: '{suffix} {{x}}' }), '{suffix} {{x}}');
  });
  test('variables in order of first use', () => {
    assert.deepEqual(templateVariables('{b}{a}{b}{{c}}'), ['b', 'a']);
  });
});

describe('append-only FIM layouts', () => {
  const cases: [string, boolean][] = [
    ['<SUF>{suffix}<PRE>{prefix}<MID>', true],
    ['{extra_context}<SUF>{suffix}<PRE>{prefix}<MID>', true],
    ['<PRE>{prefix}<SUF>{suffix}<MID>', false],
    ['{prefix}{prefix}', false],
    ['{suffix}', false],
  ];
  for (const [t, want] of cases) test(`${t} → ${want}`, () => assert.equal(fimAppendOnly(t).appendOnly, want));
  test('the reason names what follows the prefix', () => {
    assert.match(fimAppendOnly('<PRE>{prefix}<SUF>{suffix}<MID>').reason, /\{suffix\} after \{prefix\}/);
  });
});

describe('the default FIM template mirrors the engine (native/src/fim.cpp)', () => {
  const deepseek = { pre: '<｜fim▁begin｜>', suf: '<｜fim▁hole｜>', mid: '<｜fim▁end｜>' };
  const starcoder = { pre: '<fim_prefix>', suf: '<fim_suffix>', mid: '<fim_middle>', sep: '<file_sep>' };
  test('suffix first (spm), prefix last', () => {
    assert.equal(
      defaultFimTemplateText({ tokens: deepseek, order: 'spm' }),
      '{extra_context}<｜fim▁hole｜>{suffix}<｜fim▁begin｜>{prefix}<｜fim▁end｜>',
    );
  });
  test('psm and no FIM tokens', () => {
    assert.equal(
      defaultFimTemplateText({ tokens: deepseek, order: 'psm' }),
      '{extra_context}<｜fim▁begin｜>{prefix}<｜fim▁hole｜>{suffix}<｜fim▁end｜>',
    );
    assert.equal(defaultFimTemplateText({ order: 'none' }), '{extra_context}{prefix}');
  });
  test('repo-level: file separators around extra chunks and the file', () => {
    assert.equal(
      defaultFimTemplateText({ tokens: starcoder, order: 'spm' }),
      '{extra_context}<file_sep>{filename}\n<fim_suffix>{suffix}<fim_prefix>{prefix}<fim_middle>',
    );
    assert.equal(
      renderExtraContext([{ filename: 'a.py', text: 'x = 1' }, { text: 'y' }], starcoder),
      '<file_sep>a.py\nx = 1\n<file_sep>untitled\ny\n',
    );
    assert.equal(renderExtraContext([{ filename: 'a.py', text: 'x = 1' }], deepseek), '// a.py\nx = 1\n');
  });
  test('the default keeps the engine path; a custom template is rendered, parts cut to the budget', () => {
    const model = { tokens: deepseek, order: 'spm' };
    const parts = {
      prefix: 'line\n'.repeat(100),
      suffix: 'tail\n'.repeat(100),
      filename: 'f.ts',
      languageId: 'typescript',
      extra: [],
      budget: { prefix_tokens: 10, suffix_tokens: 5 },
    };
    assert.equal(customFimPrompt({ text: defaultFimTemplateText(model), isDefault: false }, parts, model), undefined);
    const out = customFimPrompt({ text: '{language}|{prefix}|{suffix}', isDefault: false }, parts, model)!;
    const [lang, prefix, suffix] = out.split('|');
    assert.equal(lang, 'typescript');
    assert.ok(prefix!.length <= 30 && prefix!.startsWith('line'), prefix);
    assert.ok(suffix!.length <= 15 && suffix!.startsWith('tail'), suffix);
    assert.equal(renderFimTemplate('{prefix}', { ...parts, budget: {} }, model), parts.prefix);
  });
});

describe('validation', () => {
  test('fields are checked with the field named', () => {
    const r = validateTemplate({ id: 'Bad', kind: 'slash', name: '9x', template: '' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.deepEqual(r.problems.map((p) => p.field).sort(), ['id', 'name', 'template']);
  });
  test('unknown fields and kinds are rejected', () => {
    assert.equal(validateTemplate({ id: 'a', kind: 'slash', name: 'a', template: 'x', extra: 1 }).ok, false);
    const r = validateTemplate({ id: 'a', kind: 'nope', template: 'x' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.message, /kind must be/);
  });
  test('variables are checked per kind: {selection} is not a FIM variable', () => {
    const r = validateTemplate({ id: 'f', kind: 'fim', family: '*', template: '{prefix}{selection}' });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.problems[0]!.message, /unknown variable \{selection\}/);
    assert.ok(validateTemplate({ id: 's', kind: 'slash', name: 's', template: '{selection} {input}' }).ok);
  });
  test('a broken file is one problem; entries are checked one by one', () => {
    assert.equal(parseTemplatesFile('{').ok, false);
    assert.equal(parseTemplatesFile('{"version":2,"templates":[]}').ok, false);
    const r = parseTemplatesFile(
      JSON.stringify({ version: 1, templates: [{ id: 'a', kind: 'slash', name: 'a', template: 'x' }, { id: 'b' }] }),
    );
    assert.ok(r.ok);
    if (r.ok)
      assert.deepEqual(
        r.entries.map((e) => e.ok),
        [true, false],
      );
  });
  test('a 1e400 or a 60,000-character name is rejected with a message, not a crash', () => {
    assert.equal(validateTemplate(JSON.parse('{"id":"a","kind":"slash","name":1e400,"template":"x"}')).ok, false);
    assert.equal(validateTemplate({ id: 'a', kind: 'slash', name: 'x'.repeat(60000), template: 'x' }).ok, false);
  });
});

describe('TemplateStore', () => {
  const setup = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-store-'));
    const ws = path.join(dir, 'ws');
    const user = path.join(dir, 'user');
    mkdirSync(path.join(ws, '.pronto'), { recursive: true });
    mkdirSync(user, { recursive: true });
    const store = new TemplateStore();
    const write = (file: string, templates: unknown[] | string) => {
      writeFileSync(file, typeof templates === 'string' ? templates : JSON.stringify({ version: 1, templates }));
      // Same size and mtime granularity could hide a rewrite from the stat check: make it visible.
      store.configure({ userDir: user, workspaceRoot: ws });
    };
    store.configure({ userDir: user, workspaceRoot: ws });
    return { dir, store, write, wsFile: path.join(ws, '.pronto', 'templates.json'), userFile: path.join(user, 'templates.json') };
  };
  test('workspace overrides user overrides default; family-specific beats "*"', () => {
    const { dir, store, write, wsFile, userFile } = setup();
    try {
      store.setModel({ name: 'deepseek-coder-1.3b', arch: 'llama' }, { order: 'spm', tokens: { pre: 'P', suf: 'S', mid: 'M' } });
      assert.equal(store.active('chat-system')?.scope, 'default');
      write(userFile, [{ id: 'chat-system-default', kind: 'chat-system', family: '*', template: 'user' }]);
      assert.equal(store.active('chat-system')?.template.template, 'user');
      write(wsFile, [{ id: 'chat-system-default', kind: 'chat-system', family: '*', template: 'ws' }]);
      assert.equal(store.active('chat-system')?.template.template, 'ws');
      write(userFile, [{ id: 'sys-deepseek', kind: 'chat-system', family: 'deepseek', template: 'for deepseek' }]);
      assert.equal(store.active('chat-system')?.template.template, 'for deepseek');
      store.setModel({ name: 'qwen2.5-coder', arch: 'qwen2' }, { order: 'spm' });
      assert.equal(store.active('chat-system')?.template.template, 'ws');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('an invalid edit keeps the last valid version; a broken file keeps all; problems are reported', () => {
    const { dir, store, write, wsFile } = setup();
    try {
      write(wsFile, [{ id: 'slash-explain', kind: 'slash', name: 'explain', template: 'v1 {selection}' }]);
      assert.equal(store.slash('explain')?.template.template, 'v1 {selection}');
      write(wsFile, [{ id: 'slash-explain', kind: 'slash', name: 'explain', template: 'v2 {selecton}' }]);
      const entry = store.slash('explain')!;
      assert.equal(entry.template.template, 'v1 {selection}');
      assert.match(entry.invalid!.problems[0]!.message, /unknown variable \{selecton\}/);
      assert.match(store.statusNote()!, /"slash-explain" is invalid.*last valid version stays in force/);
      write(wsFile, '{ not json');
      assert.equal(store.slash('explain')?.template.template, 'v1 {selection}');
      assert.match(store.statusNote()!, /not valid JSON/);
      write(wsFile, []);
      assert.equal(store.slash('explain')?.scope, 'default');
      assert.equal(store.statusNote(), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('an invalid template with no valid version is listed but never in force', () => {
    const { dir, store, write, wsFile } = setup();
    try {
      write(wsFile, [{ id: 'new-one', kind: 'slash', name: 'new', template: '{bad}' }]);
      assert.equal(store.slash('new'), undefined);
      const listed = store.entries().find((e) => e.template.id === 'new-one')!;
      assert.equal(listed.active, false);
      assert.ok(listed.invalid);
      assert.match(store.statusNote()!, /it is not used/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('save refuses to overwrite a broken file; delete and reset', () => {
    const { dir, store, write, wsFile } = setup();
    try {
      write(wsFile, '{ broken');
      const r = store.save({ id: 'a', kind: 'slash', name: 'a', template: 'x' }, 'workspace');
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message!, /not valid JSON.*nothing was changed/);
      write(wsFile, []);
      assert.ok(store.save({ id: 'a', kind: 'slash', name: 'a', template: 'x' }, 'workspace').ok);
      assert.ok(store.save({ id: 'b', kind: 'slash', name: 'b', template: 'y' }, 'workspace', 'a').ok, 'rename a → b');
      assert.equal(store.slash('a'), undefined);
      assert.equal(store.slash('b')?.scope, 'workspace');
      store.delete('b', 'workspace');
      assert.equal(store.slash('b'), undefined);
      store.save({ id: 'slash-fix', kind: 'slash', name: 'fix', template: 'mine' }, 'workspace');
      store.reset('workspace');
      assert.equal(store.slash('fix')?.scope, 'default');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test('family matching', () => {
    assert.ok(familyMatches('*', undefined));
    assert.ok(familyMatches('starcoder', { name: 'StarCoder2-3B', arch: 'starcoder2' }));
    assert.ok(!familyMatches('qwen', { name: 'deepseek', arch: 'llama' }));
  });
});

describe('TemplateStore watching', () => {
  test('a file written by someone else (git checkout, another editor) is picked up without a request', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'pronto-watch-'));
    const store = new TemplateStore();
    try {
      store.configure({ userDir: path.join(dir, 'user'), workspaceRoot: dir });
      store.watch();
      let guard: NodeJS.Timeout | undefined;
      const changed = new Promise<void>((resolve, reject) => {
        // A deadline against a hang (the watcher itself keeps no process alive: persistent: false).
        guard = setTimeout(() => reject(new Error('the change was not picked up within 20 s')), 20_000);
        const off = store.onChange(() => {
          if (store.entries().some((e) => e.template.id === 'watched')) {
            off();
            clearTimeout(guard);
            resolve();
          }
        });
      });
      // .pronto does not exist yet: the root is watched for it, then the folder itself.
      mkdirSync(path.join(dir, '.pronto'));
      writeFileSync(
        path.join(dir, '.pronto', 'templates.json'),
        JSON.stringify({ version: 1, templates: [{ id: 'watched', kind: 'slash', name: 'w', template: 'x' }] }),
      );
      await changed;
    } finally {
      store.unwatch();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
