/**
 * Post-processing filters, table-driven with a cursor mini-language: the document is written with
 * `║` at the cursor; `raw` is what the model produced; `want` is what the filter must leave.
 */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import {
  closeOnlyOpenedBrackets,
  cutToBlock,
  dropSuffixDuplicate,
  filterContext,
  fixIndentation,
  postprocess,
  stopAtRepetition,
  wantsMultiline,
  type Filter,
} from '../../server/src/completion/postprocess';

function at(doc: string, multiline = true) {
  const i = doc.indexOf('║');
  assert.ok(i >= 0, 'document needs a ║ cursor');
  return filterContext(doc.slice(0, i), doc.slice(i + 1), multiline);
}

interface Case {
  name: string;
  doc: string;
  raw: string;
  want: string;
  multiline?: boolean;
}

function table(filter: Filter, cases: Case[]) {
  for (const c of cases) {
    test(c.name, () => assert.equal(filter(c.raw, at(c.doc, c.multiline ?? true)), c.want));
  }
}

describe('cutToBlock', () => {
  table(cutToBlock, [
    {
      name: 'stops before a line indented less than the cursor line',
      doc: 'function f() {\n  ║\n}',
      raw: 'const a = 1;\n  return a;\n}\n\nfunction g() {}',
      want: 'const a = 1;\n  return a;',
    },
    {
      name: 'keeps the closing line of a block the cursor line opened, then stops',
      doc: 'if (x) {║',
      raw: '\n  y();\n}\nz();',
      want: '\n  y();\n}',
    },
    {
      name: 'keeps sibling statements at the cursor indent',
      doc: 'function f() {\n  a();\n  ║\n}',
      raw: 'b();\n  c();',
      want: 'b();\n  c();',
    },
    { name: 'stops at two blank lines', doc: '║', raw: 'a();\n\n\nb();', want: 'a();' },
    {
      name: 'single-line mode keeps only the first line',
      doc: 'const x = ║;',
      raw: 'foo(1)\nbar(2)',
      want: 'foo(1)',
      multiline: false,
    },
    {
      name: 'single-line mode keeps a leading line break before the first text',
      doc: 'if (x) {║',
      raw: '\n  y();\n  z();',
      want: '\n  y();',
      multiline: false,
    },
    { name: 'blank output stays blank', doc: 'a║', raw: '\n\n', want: '', multiline: false },
  ]);
});

describe('dropSuffixDuplicate', () => {
  table(dropSuffixDuplicate, [
    { name: 'drops the rest of the line repeated at the end', doc: 'foo(║);', raw: 'a, b);', want: 'a, b' },
    { name: 'keeps text that does not repeat the line suffix', doc: 'foo(║)', raw: 'a, b', want: 'a, b' },
    {
      name: 'drops whole lines equal to the lines after the cursor',
      doc: 'function f() {\n  ║\n  return x;\n}',
      raw: 'x += 1;\n  return x;\n}',
      want: 'x += 1;',
    },
    { name: 'nothing after the cursor: unchanged', doc: 'let a = ║', raw: '1;\nlet b = 2;', want: '1;\nlet b = 2;' },
  ]);
});

describe('closeOnlyOpenedBrackets', () => {
  table(closeOnlyOpenedBrackets, [
    { name: 'cuts a closer the text after the cursor already has', doc: 'foo(║)', raw: 'a, b) + 1', want: 'a, b' },
    { name: 'keeps brackets the completion opened and closed', doc: 'x = ║', raw: 'f(g(1), [2])', want: 'f(g(1), [2])' },
    { name: 'keeps a closer for a bracket left open before the cursor', doc: 'foo(a, ║', raw: 'b)', want: 'b)' },
    { name: 'cuts at a mismatched closer', doc: 'x = ║', raw: 'f(1]', want: 'f(1' },
    { name: 'ignores brackets inside strings', doc: 'log(║)', raw: '")"', want: '")"' },
    { name: 'cuts a closer for a bracket that was never opened', doc: 'x = ║', raw: 'a) + b', want: 'a' },
  ]);
});

describe('fixIndentation', () => {
  table(fixIndentation, [
    { name: 'no doubled indent after the cursor line indentation', doc: 'def f():\n    ║', raw: '    return 1', want: 'return 1' },
    { name: 'tabs in a spaces document become spaces', doc: 'if x:\n  a\n  ║', raw: 'if y:\n\tb', want: 'if y:\n  b' },
    { name: 'spaces in a tabs document become tabs', doc: 'if (x) {\n\ta();\n\t║', raw: 'if (y) {\n    b();', want: 'if (y) {\n\tb();' },
    { name: 'mid-line: first line untouched', doc: 'x = ║', raw: ' 1', want: ' 1' },
  ]);
});

describe('stopAtRepetition', () => {
  table(stopAtRepetition, [
    { name: 'three equal lines: keep one', doc: '║', raw: 'a();\nx++;\nx++;\nx++;\nx++;', want: 'a();\nx++;' },
    { name: 'two equal lines are fine', doc: '║', raw: 'x++;\nx++;', want: 'x++;\nx++;' },
    { name: 'a short unit repeated in a line: keep one', doc: '║', raw: 'foo))))))))))))', want: 'foo)' },
    {
      name: 'ordinary text unchanged',
      doc: '║',
      raw: 'const total = items.reduce((a, b) => a + b, 0);',
      want: 'const total = items.reduce((a, b) => a + b, 0);',
    },
  ]);
});

describe('postprocess pipeline', () => {
  test('a call completed inside existing parentheses', () => {
    assert.equal(postprocess('a, b);\nfoo();', at('call(║);', false)), 'a, b');
  });
  test('a function body cut at its end and with trailing whitespace removed', () => {
    assert.equal(postprocess('\n  return a + b;   \n}\n\nexport {}', at('function add(a, b) {║\n')), '\n  return a + b;\n}');
  });
});

describe('wantsMultiline', () => {
  const cases: [string, 'auto' | 'always' | 'never', boolean][] = [
    ['foo(║bar)', 'auto', false],
    ['if (x) {║', 'auto', true],
    ['  ║', 'auto', true],
    ['const x = ║;', 'auto', false],
    ['foo(║)', 'auto', false],
    ['foo(║bar)', 'always', true],
    ['if (x) {║', 'never', false],
  ];
  for (const [doc, setting, want] of cases) {
    test(`${JSON.stringify(doc)} with ${setting} → ${want}`, () => {
      const c = at(doc);
      assert.equal(wantsMultiline(setting, c.linePrefix, c.lineSuffix), want);
    });
  }
});
