/** Failed downloads as one plain sentence and a kind (server/src/models/downloadFailure.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DownloadError } from '../../server/src/models/download';
import { causeCode, describeAs, describeDownloadFailure, failureOf } from '../../server/src/models/downloadFailure';

const URL_ = 'https://huggingface.co/ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF/resolve/main/qwen2.5-coder-1.5b-q8_0.gguf';

/** What fetch throws offline: TypeError('fetch failed') caused by the socket error with its code. */
function fetchFailure(code: string): Error {
  const socket = Object.assign(new Error(`getaddrinfo ${code} huggingface.co`), { code });
  return new TypeError('fetch failed', { cause: socket });
}
const network = (code: string) =>
  new DownloadError('network', `cannot reach ${URL_} for x.gguf: fetch failed: ${code}`, undefined, { cause: fetchFailure(code) });

test('each failure reads as one sentence a person understands, with its kind', () => {
  const cases: Array<[string, unknown, string | undefined, string, string]> = [
    ['offline (DNS)', network('ENOTFOUND'), URL_, 'offline', "Can't reach huggingface.co — are you offline?"],
    ['offline (DNS again)', network('EAI_AGAIN'), URL_, 'offline', "Can't reach huggingface.co — are you offline?"],
    ['refused', network('ECONNREFUSED'), 'http://127.0.0.1:9/x', 'unreachable', '127.0.0.1:9 refused the connection.'],
    [
      'stalled',
      new DownloadError('network', `cannot reach ${URL_} for x: no answer for 60 s`),
      URL_,
      'unreachable',
      'huggingface.co stopped answering in the middle of the download.',
    ],
    [
      'not found',
      new DownloadError('http', 'HTTP 404 Not Found for x', 404),
      'https://hf-mirror.example/x',
      'not-found',
      'hf-mirror.example has no such file (HTTP 404): the catalog or the mirror is out of date.',
    ],
    [
      'forbidden',
      new DownloadError('http', 'HTTP 403', 403),
      URL_,
      'auth',
      'huggingface.co refused the download (HTTP 403): the model may need a Hugging Face token (HF_TOKEN).',
    ],
    [
      'overloaded',
      new DownloadError('http', 'HTTP 503', 503),
      URL_,
      'server',
      'huggingface.co is busy or failing (HTTP 503); try again later, or use a mirror.',
    ],
    [
      'disk full',
      new DownloadError('disk', 'cannot write /m/x.part: the disk is full'),
      URL_,
      'disk',
      'There is not enough free disk space for the model.',
    ],
    [
      'checksum',
      new DownloadError('mismatch', 'SHA-256 mismatch'),
      URL_,
      'checksum',
      'The download did not match its published checksum and was deleted; try again, or use a mirror.',
    ],
    [
      'locked',
      new DownloadError('locked', 'locked'),
      URL_,
      'busy',
      'This model is already being downloaded by another window; wait for it to finish.',
    ],
    [
      'a bad mirror setting',
      new Error('setting pronto.model.mirror is not a valid URL: "x"'),
      undefined,
      'other',
      'Setting pronto.model.mirror is not a valid URL: "x".',
    ],
  ];
  for (const [what, err, url, kind, sentence] of cases) {
    const f = describeDownloadFailure(err, url);
    assert.equal(f.kind, kind, what);
    assert.equal(f.sentence, sentence, what);
    assert.ok(!/\bat \w+ \(|\n/.test(f.sentence), `${what}: no stack or second line`);
  }
});

test('causeCode follows the cause chain, then the message', () => {
  assert.equal(causeCode(network('ENOTFOUND')), 'ENOTFOUND');
  assert.equal(causeCode(new Error('connect ECONNRESET 1.2.3.4')), 'ECONNRESET');
  assert.equal(causeCode(new Error('nothing')), undefined);
});

test('a description travels with the error without changing it', () => {
  const err = new DownloadError('http', 'HTTP 404', 404);
  const same = describeAs(err, describeDownloadFailure(err, URL_));
  assert.equal(same, err);
  assert.equal(err.code, 'http');
  assert.equal(failureOf(err)?.kind, 'not-found');
  assert.equal(failureOf(new Error('other')), undefined);
});
