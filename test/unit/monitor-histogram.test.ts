/** Quantiles over histogram buckets (Prometheus' histogram_quantile) and snapshot differences. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { counterDelta, histogramDelta, histogramQuantile } from '../../server/src/monitor/histogram';

const inf = Number.POSITIVE_INFINITY;
const b = (pairs: Array<[number, number]>) => pairs.map(([le, count]) => ({ le, count }));

const cases: Array<{ name: string; q: number; buckets: Array<[number, number]>; want: number | null }> = [
  {
    name: 'median at a bucket edge',
    q: 0.5,
    buckets: [
      [0.1, 10],
      [0.2, 20],
      [inf, 20],
    ],
    want: 0.1,
  },
  {
    name: 'p95 interpolated inside its bucket',
    q: 0.95,
    buckets: [
      [0.1, 10],
      [0.2, 20],
      [inf, 20],
    ],
    want: 0.19,
  },
  {
    name: 'first bucket interpolates from 0',
    q: 0.5,
    buckets: [
      [0.2, 4],
      [inf, 4],
    ],
    want: 0.1,
  },
  {
    name: 'rank in the +Inf bucket answers the highest finite bound',
    q: 0.95,
    buckets: [
      [1, 5],
      [inf, 10],
    ],
    want: 1,
  },
  {
    name: 'unsorted input',
    q: 0.95,
    buckets: [
      [inf, 20],
      [0.2, 20],
      [0.1, 10],
    ],
    want: 0.19,
  },
  {
    name: 'no observations',
    q: 0.95,
    buckets: [
      [0.1, 0],
      [inf, 0],
    ],
    want: null,
  },
  {
    name: 'no +Inf bucket',
    q: 0.5,
    buckets: [
      [0.1, 3],
      [0.2, 4],
    ],
    want: null,
  },
  { name: 'a single bucket', q: 0.5, buckets: [[inf, 3]], want: null },
  {
    name: 'q out of range',
    q: 1.5,
    buckets: [
      [0.1, 1],
      [inf, 1],
    ],
    want: null,
  },
  {
    name: 'q NaN',
    q: Number.NaN,
    buckets: [
      [0.1, 1],
      [inf, 1],
    ],
    want: null,
  },
  // A scrape racing an update can show a falling cumulative count: Prometheus evens it out.
  {
    name: 'non-monotonic counts',
    q: 0.5,
    buckets: [
      [0.1, 6],
      [0.2, 4],
      [inf, 10],
    ],
    want: (0.1 * 5) / 6,
  },
  {
    name: 'q = 0 is the lowest bound',
    q: 0,
    buckets: [
      [0.1, 4],
      [inf, 4],
    ],
    want: 0,
  },
  {
    name: 'q = 1 with everything in a finite bucket',
    q: 1,
    buckets: [
      [0.1, 2],
      [0.3, 4],
      [inf, 4],
    ],
    want: 0.3,
  },
];

for (const c of cases) {
  test(`histogramQuantile: ${c.name}`, () => {
    const got = histogramQuantile(c.q, b(c.buckets));
    if (c.want === null) assert.equal(got, null);
    else {
      assert.ok(got !== null, 'a value');
      assert.ok(Math.abs(got - c.want) < 1e-9, `${got} ≈ ${c.want}`);
    }
  });
}

test('histogramDelta: what happened between two scrapes', () => {
  const prev = {
    buckets: b([
      [0.1, 5],
      [1, 8],
      [inf, 9],
    ]),
    sum: 3,
    count: 9,
  };
  const cur = {
    buckets: b([
      [0.1, 5],
      [1, 10],
      [inf, 14],
    ]),
    sum: 10,
    count: 14,
  };
  const d = histogramDelta(prev, cur);
  assert.deepEqual(
    d.buckets,
    b([
      [0.1, 0],
      [1, 2],
      [inf, 5],
    ]),
  );
  assert.equal(d.count, 5);
  assert.equal(d.sum, 7);
  // Of the 5 new observations, 3 were above 1 s: p50 is the highest finite bound.
  assert.equal(histogramQuantile(0.5, d.buckets), 1);
});

test('histogramDelta: a restarted engine (counts went down) counts from zero', () => {
  const prev = {
    buckets: b([
      [0.1, 50],
      [inf, 60],
    ]),
    sum: 9,
    count: 60,
  };
  const cur = {
    buckets: b([
      [0.1, 2],
      [inf, 3],
    ]),
    sum: 0.4,
    count: 3,
  };
  assert.deepEqual(histogramDelta(prev, cur), cur);
  // Other bounds (another engine version): also taken whole.
  const other = {
    buckets: b([
      [0.5, 1],
      [inf, 70],
    ]),
    sum: 20,
    count: 70,
  };
  assert.deepEqual(histogramDelta(prev, other), other);
  assert.deepEqual(histogramDelta(undefined, cur), cur);
});

test('counterDelta: increase, reset, unknown', () => {
  assert.equal(counterDelta(10, 15), 5);
  assert.equal(counterDelta(10, 3), 3);
  assert.equal(counterDelta(undefined, 3), undefined);
  assert.equal(counterDelta(3, undefined), undefined);
  assert.equal(counterDelta(3, Number.POSITIVE_INFINITY), undefined);
});
