/** pronto.completion.languages, read the same way by client and server (protocol/languages.ts). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_LANGUAGE_SWITCHES, languageEnabled, withLanguage } from '../../protocol/languages';
import { parseSettings } from '../../server/src/settings';

test('languageEnabled: the language itself, else "*", else on', () => {
  const cases: Array<[Record<string, boolean> | undefined, string, boolean]> = [
    [DEFAULT_LANGUAGE_SWITCHES, 'typescript', true],
    [DEFAULT_LANGUAGE_SWITCHES, 'plaintext', false],
    [DEFAULT_LANGUAGE_SWITCHES, 'markdown', false],
    [DEFAULT_LANGUAGE_SWITCHES, 'scminput', false],
    [{ '*': false, python: true }, 'python', true],
    [{ '*': false, python: true }, 'rust', false],
    [{ python: false }, 'rust', true],
    [{}, 'rust', true],
    [undefined, 'rust', true],
  ];
  for (const [switches, id, want] of cases) assert.equal(languageEnabled(switches, id), want, `${JSON.stringify(switches)} ${id}`);
});

test('withLanguage changes one language and keeps the rest', () => {
  assert.deepEqual(withLanguage({ '*': true, markdown: false }, 'markdown', true), { '*': true, markdown: true });
  assert.deepEqual(withLanguage(undefined, 'python', false), { python: false });
});

test('the setting is validated like every other: a non-boolean is named, and the default is used', () => {
  assert.deepEqual(parseSettings().settings['completion.languages'], DEFAULT_LANGUAGE_SWITCHES);
  const bad = parseSettings({ completion: { languages: { python: 'no' } } });
  assert.deepEqual(bad.settings['completion.languages'], DEFAULT_LANGUAGE_SWITCHES);
  assert.equal(bad.issues[0]?.setting, 'pronto.completion.languages');
});

test('a bad value is shown as a person would write it: Infinity as such, a huge string cut short', () => {
  const huge = parseSettings(JSON.parse('{"completion": {"maxTokens": 1e400}}')).problems[0] ?? '';
  assert.match(huge, /invalid value Infinity: must be a whole number from 1 to 2048\. Using the default 128\.$/);
  const long = parseSettings({ model: { mirror: `ftp://${'x'.repeat(60_000)}` } }).problems[0] ?? '';
  assert.ok(long.length < 300, `${long.length} characters`);
  assert.match(long, /invalid value "ftp:\/\/x+…: Invalid URL\./);
});
