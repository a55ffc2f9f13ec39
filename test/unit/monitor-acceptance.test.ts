/**
 * Acceptance analytics: shown, accepted in full, accepted in part, dismissed, per language; a
 * suggestion typed through or partly accepted is one suggestion, so partial accepts do not inflate
 * the rate.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AcceptanceTracker } from '../../server/src/monitor/acceptance';

const langs: Record<string, string> = { 'file:///a.py': 'python', 'file:///b.ts': 'typescript' };

type Ev =
  | ['shown' | 'shown-cached' | 'empty' | 'cancelled' | 'error', string]
  | ['accept', string, 'full' | 'word' | 'line']
  | ['close', string];

function run(events: Ev[]) {
  const t = new AcceptanceTracker((uri) => langs[uri]);
  for (const e of events) {
    if (e[0] === 'accept') t.onAccept({ uri: e[1], kind: e[2] });
    else if (e[0] === 'close') t.onClose(e[1]);
    else if (e[0] === 'shown-cached') t.onRecord({ uri: e[1], outcome: 'shown', fromCache: true });
    else t.onRecord({ uri: e[1], outcome: e[0], fromCache: false });
  }
  return t.summary();
}

const A = 'file:///a.py';
const B = 'file:///b.ts';

const table: Array<{
  name: string;
  events: Ev[];
  total: [shown: number, full: number, partial: number, dismissed: number, pending: number];
}> = [
  { name: 'shown and still on screen', events: [['shown', A]], total: [1, 0, 0, 0, 1] },
  {
    name: 'Tab accepts it in full',
    events: [
      ['shown', A],
      ['accept', A, 'full'],
    ],
    total: [1, 1, 0, 0, 0],
  },
  {
    name: 'another suggestion replaces it: dismissed',
    events: [
      ['shown', A],
      ['shown', A],
    ],
    total: [2, 0, 0, 1, 1],
  },
  {
    name: 'an empty answer after it: dismissed',
    events: [
      ['shown', A],
      ['empty', A],
    ],
    total: [1, 0, 0, 1, 0],
  },
  {
    name: 'typing through it (cache hits) is the same suggestion',
    events: [
      ['shown', A],
      ['shown-cached', A],
      ['shown-cached', A],
      ['accept', A, 'full'],
    ],
    total: [1, 1, 0, 0, 0],
  },
  {
    name: 'two words accepted, then dismissed: one partial accept, not two accepts',
    events: [
      ['shown', A],
      ['accept', A, 'word'],
      ['shown-cached', A],
      ['accept', A, 'word'],
      ['shown-cached', A],
      ['shown', A],
    ],
    total: [2, 0, 1, 0, 1],
  },
  {
    name: 'a line, then Tab for the rest: accepted in full',
    events: [
      ['shown', A],
      ['accept', A, 'line'],
      ['shown-cached', A],
      ['accept', A, 'full'],
    ],
    total: [1, 1, 0, 0, 0],
  },
  {
    name: 'cancelled and failed requests end nothing',
    events: [
      ['shown', A],
      ['cancelled', A],
      ['error', A],
      ['accept', A, 'full'],
    ],
    total: [1, 1, 0, 0, 0],
  },
  {
    name: 'closing the document dismisses it',
    events: [
      ['shown', A],
      ['accept', A, 'word'],
      ['close', A],
    ],
    total: [1, 0, 1, 0, 0],
  },
  { name: 'an accept with nothing on screen is ignored', events: [['accept', A, 'full']], total: [0, 0, 0, 0, 0] },
  {
    name: 'a cache hit with nothing on screen is a new suggestion (e.g. the prefetched next one)',
    events: [
      ['shown', A],
      ['accept', A, 'full'],
      ['shown-cached', A],
    ],
    total: [2, 1, 0, 0, 1],
  },
];

for (const c of table) {
  test(`acceptance: ${c.name}`, () => {
    const t = run(c.events).total;
    assert.deepEqual([t.shown, t.acceptedFull, t.acceptedPartial, t.dismissed, t.pending], c.total);
  });
}

test('acceptance is counted per language, documents independently', () => {
  const s = run([
    ['shown', A],
    ['shown', B],
    ['accept', B, 'full'],
    ['shown', B],
    ['accept', A, 'word'],
    ['empty', A],
    ['shown', 'file:///unknown.txt'],
  ]);
  assert.deepEqual(s.byLanguage.python, { shown: 1, acceptedFull: 0, acceptedPartial: 1, dismissed: 0, pending: 0 });
  assert.deepEqual(s.byLanguage.typescript, { shown: 2, acceptedFull: 1, acceptedPartial: 0, dismissed: 0, pending: 1 });
  assert.equal(s.byLanguage.unknown?.shown, 1);
  assert.deepEqual(Object.keys(s.byLanguage)[0], 'typescript', 'most shown first');
  // Every shown suggestion is in exactly one bucket.
  const t = s.total;
  assert.equal(t.shown, t.acceptedFull + t.acceptedPartial + t.dismissed + t.pending);
});
