/** The download notification's text (extension/src/downloadProgress.ts). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { DownloadMeter, describeProgress, formatTimeLeft } from '../../extension/src/downloadProgress';

test('describeProgress: percent, size, speed and time left', () => {
  const cases: Array<[number, number, number | undefined, string, number]> = [
    [0, 531e6, undefined, '0% · 0 kB of 531 MB', 0],
    [223e6, 531e6, undefined, '41% · 223 MB of 531 MB', 42],
    [223e6, 531e6, 12.3e6, '41% · 223 MB of 531 MB · 12.3 MB/s · 25 s left', 42],
    [1.2e9, 8.1e9, 20e6, '14% · 1.2 GB of 8.1 GB · 20.0 MB/s · 6 min left', 14.8],
    [1e9, 8.1e9, 600e3, '12% · 1.0 GB of 8.1 GB · 600 kB/s · 3 h 17 min left', 12.3],
    [5e6, 0, 1e6, '5 MB · 1.0 MB/s', 0],
    [100e6, 531e6, 0, '18% · 100 MB of 531 MB · stalled', 18.8],
    [531e6, 531e6, 10e6, '100% · 531 MB of 531 MB · 10.0 MB/s', 100],
  ];
  for (const [received, total, speed, message, percent] of cases) {
    const d = describeProgress(received, total, speed);
    assert.equal(d.message, message);
    assert.ok(Math.abs(d.percent - percent) < 0.1, `${d.percent} ≈ ${percent}`);
  }
});

test('formatTimeLeft rounds to what a person reads', () => {
  assert.equal(formatTimeLeft(0.2), '1 s left');
  assert.equal(formatTimeLeft(59), '59 s left');
  assert.equal(formatTimeLeft(61), '1 min left');
  assert.equal(formatTimeLeft(3600 * 2 + 60 * 5), '2 h 5 min left');
  assert.equal(formatTimeLeft(Number.POSITIVE_INFINITY), '');
});

test('DownloadMeter: speed over the recent window, nothing before a second of data, a restart starts over', () => {
  const m = new DownloadMeter(5000);
  assert.equal(m.sample(100e6, 0), undefined, 'a resumed download starts with bytes already on disk');
  assert.equal(m.sample(101e6, 500), undefined, 'half a second is too little to tell');
  assert.equal(m.sample(110e6, 1000), 10e6);
  for (let t = 2000; t <= 10_000; t += 1000) m.sample(110e6 + ((t - 1000) / 1000) * 2e6, t);
  // The last 5 s moved at 2 MB/s; the fast start has left the window.
  assert.equal(Math.round(m.sample(110e6 + 10 * 2e6, 11_000)! / 1e3), 2000);
  // A stall shows as 0 once the window holds only the stalled part.
  let speed: number | undefined;
  for (let t = 12_000; t <= 18_000; t += 1000) speed = m.sample(130e6, t);
  assert.equal(speed, 0);
  assert.equal(m.sample(1e6, 19_000), undefined, 'bytes went down: the server restarted the file');
});
