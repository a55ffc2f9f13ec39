import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatBytes, parseContentRange, sha256FromEtag } from '../../server/src/models/download';

const HEX = 'a'.repeat(64);

describe('sha256FromEtag', () => {
  const cases: Array<[string | null, string | undefined]> = [
    [`"${HEX}"`, HEX],
    [`W/"${HEX}"`, HEX],
    [HEX.toUpperCase(), HEX],
    ['"0123456789abcdef0123456789abcdef01234567"', undefined], // git SHA-1 ETag of a non-LFS file
    ['"xyz"', undefined],
    [null, undefined],
  ];
  for (const [input, expected] of cases) {
    test(String(input), () => assert.equal(sha256FromEtag(input), expected));
  }
});

describe('parseContentRange', () => {
  const cases: Array<[string | null, ReturnType<typeof parseContentRange>]> = [
    ['bytes 100-199/1000', { start: 100, end: 199, total: 1000 }],
    ['bytes 0-0/*', { start: 0, end: 0, total: undefined }],
    ['bytes */5000', { start: undefined, end: undefined, total: 5000 }],
    ['items 1-2/3', undefined],
    [null, undefined],
  ];
  for (const [input, expected] of cases) {
    test(String(input), () => assert.deepEqual(parseContentRange(input), expected));
  }
});

describe('formatBytes', () => {
  const cases: Array<[number, string]> = [
    [512, '512 B'],
    [2048, '2.0 KiB'],
    [531 * 1000 * 1000, '506.4 MiB'],
    [8.1e9, '7.5 GiB'],
  ];
  for (const [n, s] of cases) test(`${n}`, () => assert.equal(formatBytes(n), s));
});
