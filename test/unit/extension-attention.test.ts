/** Which status changes become notifications, and when (extension/src/attention.ts). */
import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { attentionFor, newAttention } from '../../extension/src/attention';
import type { StatusParams } from '../../protocol/lsp';

const ready: StatusParams = { state: 'ready', message: 'Ready.', enabled: true, model: 'm.gguf' };
const refused: StatusParams = {
  state: 'error',
  message: 'README.md is not a GGUF model: it is a text file. Pick a .gguf base code model.',
  enabled: true,
  modelProblem: {
    setting: 'pronto.model.path',
    path: '/w/README.md',
    problem: 'README.md is not a GGUF model: it is a text file.',
    advice: 'Pick a .gguf base code model.',
  },
};
const gaveUp: StatusParams = { state: 'error', message: 'The engine failed 5 times in a row: boom.', enabled: true, engineGaveUp: true };
const badSetting = {
  setting: 'pronto.completion.maxTokens',
  message: 'Setting "pronto.completion.maxTokens" has an invalid value "lots".',
};

test('each reason becomes one message with the actions that fix it', () => {
  assert.deepEqual(attentionFor(undefined), []);
  assert.deepEqual(attentionFor(ready), []);
  assert.deepEqual(attentionFor({ ...ready, state: 'stopped', needsModel: true }), [], 'no model: the walkthrough, not a popup');
  assert.deepEqual(
    attentionFor(refused).map((a) => [a.severity, a.message, a.actions]),
    [
      [
        'error',
        'Pronto: README.md is not a GGUF model: it is a text file. Pick a .gguf base code model.',
        ['selectModel', 'downloadModel'],
      ],
    ],
  );
  assert.deepEqual(
    attentionFor(gaveUp).map((a) => [a.severity, a.message, a.actions]),
    [['error', 'Pronto: The engine failed 5 times in a row: boom.', ['showLogs', 'selectModel']]],
  );
  const one = attentionFor({ ...ready, settingsProblems: [badSetting] });
  assert.deepEqual(
    one.map((a) => [a.severity, a.message, a.actions, a.setting]),
    [['warning', `Pronto: ${badSetting.message}`, ['openSettings'], 'pronto.completion.maxTokens']],
  );
  const two = attentionFor({ ...ready, settingsProblems: [badSetting, { setting: 'pronto.engine.threads', message: 'x' }] });
  assert.match(
    two[0]!.message,
    /^Pronto: 2 settings have invalid values \(pronto\.completion\.maxTokens, pronto\.engine\.threads\); their defaults are used\.$/,
  );
});

test('a reason is said once while it lasts, and again when it comes back after being fixed', () => {
  const said = new Set<string>();
  const withBad = { ...ready, settingsProblems: [badSetting] };
  assert.equal(newAttention(said, attentionFor(withBad)).length, 1);
  assert.equal(newAttention(said, attentionFor({ ...withBad, state: 'busy' })).length, 0, 'busy/ready flips say nothing new');
  assert.equal(newAttention(said, attentionFor(withBad)).length, 0);
  assert.equal(newAttention(said, attentionFor(ready)).length, 0, 'fixed');
  assert.equal(said.size, 0);
  assert.equal(newAttention(said, attentionFor(withBad)).length, 1, 'broken again: said again');
  // Two reasons at once, then one of them goes away: nothing new to say.
  const both = { ...refused, settingsProblems: [badSetting] };
  assert.equal(newAttention(said, attentionFor(both)).length, 1, 'only the model problem is new');
  assert.equal(newAttention(said, attentionFor({ ...ready, settingsProblems: [badSetting] })).length, 0);
});
