/**
 * protocol/webview.ts: what a webview posts is parsed with zod before the extension acts on it.
 * Table-driven: each row is a raw message and what the parser must say about it.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { MAX_PNG_DATA_URL, MONITOR_WINDOWS_MS, PANEL_COMMANDS, parseWebviewMessage } from '../../protocol/webview';

test('valid messages pass, typed', () => {
  const ok: unknown[] = [
    { type: 'ready' },
    { type: 'refresh' },
    ...MONITOR_WINDOWS_MS.map((windowMs) => ({ type: 'setWindow', windowMs })),
    { type: 'setPaused', paused: true },
    { type: 'exportJson' },
    { type: 'exportPng', dataUrl: 'data:image/png;base64,iVBORw0KGgo=' },
    { type: 'openAlertSettings' },
    ...PANEL_COMMANDS.map((command) => ({ type: 'runCommand', command })),
  ];
  for (const raw of ok) {
    const r = parseWebviewMessage(raw);
    assert.ok(r.ok, `${JSON.stringify(raw)}: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.message, raw);
  }
});

test('invalid messages are rejected with an error naming the problem', () => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /invalid webview message null/],
    [undefined, /invalid webview message undefined/],
    ['ready', /invalid webview message "ready"/],
    [42, /invalid webview message 42/],
    [[], /invalid webview message \[\]/],
    [{}, /type/],
    [{ type: 'nope' }, /type/],
    [{ type: 'READY' }, /type/],
    // Only allow-listed commands: a page must not be able to run any command id.
    [{ type: 'runCommand', command: 'workbench.action.terminal.new' }, /command/],
    [{ type: 'runCommand', command: 'pronto.stopServer' }, /command/],
    [{ type: 'runCommand' }, /command/],
    [{ type: 'runCommand', command: 7 }, /command/],
    // Unknown fields are refused rather than ignored.
    [{ type: 'ready', extra: true }, /extra/],
    [{ type: 'refresh', command: 'pronto.showLogs' }, /command/],
    // Only the offered windows; no other shapes of numbers.
    [{ type: 'setWindow', windowMs: 1 }, /windowMs/],
    [{ type: 'setWindow', windowMs: '300000' }, /windowMs/],
    [{ type: 'setWindow', windowMs: Number.POSITIVE_INFINITY }, /windowMs/], // what JSON's 1e400 becomes
    [{ type: 'setPaused', paused: 'yes' }, /paused/],
    // The PNG must be a base64 PNG data URL: no other type, no script, no file path.
    [{ type: 'exportPng', dataUrl: 'data:text/html;base64,PHNjcmlwdD4=' }, /dataUrl/],
    [{ type: 'exportPng', dataUrl: 'file:///etc/passwd' }, /dataUrl/],
    [{ type: 'exportPng', dataUrl: 'data:image/png;base64,AAAA"><script>' }, /dataUrl/],
    [{ type: 'exportPng' }, /dataUrl/],
    [{ type: 'exportJson', path: '/tmp/x.json' }, /path/],
  ];
  for (const [raw, re] of bad) {
    const r = parseWebviewMessage(raw);
    assert.equal(r.ok, false, `${JSON.stringify(raw)} must be rejected`);
    if (!r.ok) assert.match(r.error, re, `${JSON.stringify(raw)}`);
  }
});

test('the error text stays short and survives values JSON cannot show', () => {
  const huge = parseWebviewMessage({ type: 'x'.repeat(5000) });
  assert.equal(huge.ok, false);
  if (!huge.ok) assert.ok(huge.error.length < 600, `error is ${huge.error.length} chars`);
  const cyclic: Record<string, unknown> = { type: 'ready' };
  cyclic.self = cyclic;
  const r = parseWebviewMessage(cyclic);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error, /\[object Object\].*self/);
  const big = parseWebviewMessage(10n);
  assert.equal(big.ok, false);
});

test('a PNG larger than the limit is refused before it is decoded', () => {
  const r = parseWebviewMessage({ type: 'exportPng', dataUrl: `data:image/png;base64,${'A'.repeat(MAX_PNG_DATA_URL)}` });
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error, /too large/);
});
