import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { median, percentile, renderTable, summarize } from '../../bench/lib/stats';
import { findSite, requestAt, singleFileTrace, twoFileTrace, type SourceFile } from '../../bench/lib/traces';

const file = (name: string, n: number): SourceFile => ({
  filename: name,
  lines: Array.from({ length: n }, (_, i) => (i % 5 === 0 ? '' : `  const v${i} = compute(${i}, "${name}");`)),
});
const win = { prefixLines: 4, suffixLines: 2, extraLines: 3 };

describe('bench traces', () => {
  test('requestAt: typed characters end the prefix; the rest of the line is gone from the suffix', () => {
    const f = file('a.js', 30);
    const r = requestAt(f, 11, 3, win, []);
    assert.equal(r.prefix, [f.lines[7], f.lines[8], f.lines[9], f.lines[10]].join('\n') + '\n  con');
    assert.equal(r.suffix, '\n' + [f.lines[12], f.lines[13]].join('\n'));
    assert.throws(() => requestAt(f, 11, 500, win, []), /only \d+ characters to type/);
  });

  test('findSite skips lines too short to type', () => {
    const f = file('a.js', 30);
    assert.equal(findSite(f, 10, 5), 11); // line 10 is empty
    assert.throws(() => findSite(f, 10, 500), /no line with 500\+ characters/);
  });

  test('trace A: one file, one keystroke per request, growing by one character', () => {
    const t = singleFileTrace(file('a.js', 60), file('b.js', 60), 6, win);
    assert.equal(t.keystrokes.length, 6);
    assert.equal(t.warmup.length, 1);
    for (let k = 1; k < 6; k++) {
      const prev = t.keystrokes[k - 1]!;
      const cur = t.keystrokes[k]!;
      assert.equal(cur.prefix.length, prev.prefix.length + 1);
      assert.ok(cur.prefix.startsWith(prev.prefix));
      assert.equal(cur.suffix, prev.suffix);
      assert.equal(cur.filename, 'a.js');
      assert.equal(cur.extra[0]!.filename, 'b.js');
    }
  });

  test('trace B: alternates files every perSite keystrokes, moving down on each return', () => {
    const t = twoFileTrace(file('a.js', 80), file('b.js', 80), 16, 4, 3, win);
    assert.deepEqual(
      t.keystrokes.map((k) => k.filename),
      [...'aaaabbbbaaaabbbb'].map((c) => `${c}.js`),
    );
    assert.deepEqual(
      t.warmup.map((w) => w.filename),
      ['a.js', 'b.js'],
    );
    assert.notEqual(t.keystrokes[8]!.prefix.slice(0, -4), t.keystrokes[0]!.prefix.slice(0, -1), 'second visit is at another line');
    for (const k of t.keystrokes) assert.notEqual(k.extra[0]!.filename, k.filename);
    // Deterministic.
    assert.deepEqual(twoFileTrace(file('a.js', 80), file('b.js', 80), 16, 4, 3, win), t);
  });
});

describe('bench stats', () => {
  test('nearest-rank percentiles', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    assert.equal(percentile(xs, 50), 5);
    assert.equal(percentile(xs, 95), 10);
    assert.equal(percentile(xs, 0), 1);
    assert.ok(Number.isNaN(percentile([], 50)));
  });

  test('median of odd and even counts, unsorted input left alone', () => {
    const xs = [30, 10, 20];
    assert.equal(median(xs), 20);
    assert.deepEqual(xs, [30, 10, 20]);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  test('summaries and the table', () => {
    const s = summarize([
      { evaluated: 2, promptTokens: 100, ttftMs: 10, firstTextMs: 12, latencyMs: 30, generated: 8 },
      { evaluated: 4, promptTokens: 102, ttftMs: 20, firstTextMs: 22, latencyMs: 50, generated: 8 },
    ]);
    assert.equal(s.evaluatedMean, 3);
    assert.equal(s.ttftP50, 10);
    assert.equal(s.latencyP95, 50);
    assert.equal(
      renderTable(
        ['m', 'a'],
        [
          ['x', '1'],
          ['long', '22'],
        ],
      ),
      'm      a\n----  --\nx      1\nlong  22',
    );
  });
});
