import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFigures, menuHint, renderStatus } from '../../extension/src/statusView';
import type { StatusParams } from '../../protocol/lsp';

const base: StatusParams = { state: 'ready', message: 'Ready: tiny.gguf on CPU.', enabled: true, model: 'tiny.gguf', backend: 'CPU' };

test('formatFigures: tokens/s and latency, compact, empty when unknown', () => {
  const cases: Array<[Pick<StatusParams, 'tokensPerSecond' | 'lastLatencyMs'>, string]> = [
    [{}, ''],
    [{ tokensPerSecond: 18.44 }, '18.4 tok/s'],
    [{ tokensPerSecond: 123.6 }, '124 tok/s'],
    [{ lastLatencyMs: 212.4 }, '212 ms'],
    [{ lastLatencyMs: 12_345 }, '12.3 s'],
    [{ tokensPerSecond: 9, lastLatencyMs: 80 }, '9.0 tok/s · 80 ms'],
    [{ tokensPerSecond: Number.NaN, lastLatencyMs: Number.POSITIVE_INFINITY }, ''],
  ];
  for (const [input, want] of cases) assert.equal(formatFigures(input), want, JSON.stringify(input));
});

test('renderStatus: every state gets its own text, label and colour', () => {
  const cases: Array<[StatusParams['state'], RegExp, RegExp, string | undefined]> = [
    ['starting', /^\$\(loading~spin\) Pronto$/, /^Pronto: starting$/, undefined],
    ['ready', /^\$\(sparkle\) Pronto$/, /^Pronto: ready$/, undefined],
    ['busy', /^\$\(loading~spin\) Pronto$/, /^Pronto: busy$/, undefined],
    ['degraded', /^\$\(warning\) Pronto degraded$/, /^Pronto: degraded$/, 'statusBarItem.warningBackground'],
    ['error', /^\$\(error\) Pronto error$/, /^Pronto: error$/, 'statusBarItem.errorBackground'],
    ['stopped', /^\$\(circle-slash\) Pronto stopped$/, /^Pronto: stopped$/, 'statusBarItem.warningBackground'],
  ];
  for (const [state, text, aria, background] of cases) {
    const view = renderStatus({ ...base, state }, true);
    assert.match(view.text, text, state);
    assert.match(view.ariaLabel, aria, state);
    assert.equal(view.background, background, state);
    assert.match(view.tooltip, new RegExp(`\\*\\*Pronto\\*\\*: ${state}`));
  }
});

test('renderStatus: ready shows figures; the tooltip carries message, model and backend', () => {
  const view = renderStatus({ ...base, tokensPerSecond: 20, lastLatencyMs: 150 }, true);
  assert.equal(view.text, '$(sparkle) Pronto 20.0 tok/s · 150 ms');
  assert.equal(view.ariaLabel, 'Pronto: ready, 20.0 tok/s, 150 ms');
  assert.match(view.tooltip, /Ready: tiny\\\.gguf on CPU\\\./);
  assert.match(view.tooltip, /Model: tiny\\\.gguf/);
  assert.match(view.tooltip, /Backend: CPU/);
});

test('renderStatus: figures are not shown in states where they mean nothing', () => {
  const view = renderStatus({ ...base, state: 'error', message: 'Engine crashed.', tokensPerSecond: 20 }, true);
  assert.equal(view.text, '$(error) Pronto error');
});

test('renderStatus: disabled completions are visible', () => {
  assert.equal(renderStatus({ ...base, enabled: false }, true).text, '$(circle-slash) Pronto');
  assert.match(renderStatus({ ...base, enabled: false }, true).ariaLabel, /completions disabled/);
});

test('renderStatus: states that need the user stand out and say what to do', () => {
  const cases: Array<{ what: string; status: StatusParams; text: string; aria: RegExp; background: string; tooltip: RegExp }> = [
    {
      what: 'demo model',
      status: { ...base, demoModel: true, tokensPerSecond: 90, lastLatencyMs: 40 },
      text: '$(warning) Pronto demo: choose a model',
      aria: /^Pronto: ready, demo model, suggestions are meaningless; click to choose a model$/,
      background: 'statusBarItem.warningBackground',
      tooltip: /output is meaningless[\s\S]*Click to choose a model\.$/,
    },
    {
      what: 'demo model, busy',
      status: { ...base, state: 'busy', demoModel: true },
      text: '$(loading~spin) Pronto demo: choose a model',
      aria: /^Pronto: busy, demo model/,
      background: 'statusBarItem.warningBackground',
      tooltip: /meaningless/,
    },
    {
      what: 'no model',
      status: { state: 'stopped', message: 'No model chosen: completions are off.', enabled: true, needsModel: true },
      text: '$(warning) Pronto: choose a model',
      aria: /^Pronto: stopped, no model chosen, completions are off; click to choose a model$/,
      background: 'statusBarItem.warningBackground',
      tooltip: /No model chosen[\s\S]*Click to choose a model\.$/,
    },
    {
      what: 'model refused',
      status: {
        state: 'error',
        message: 'README.md is not a GGUF model.',
        enabled: true,
        modelProblem: {
          setting: 'pronto.model.path',
          path: '/r/README.md',
          problem: 'README.md is not a GGUF model.',
          advice: 'Pick one.',
        },
      },
      text: '$(error) Pronto: model refused',
      aria: /^Pronto: error, the model file was refused; click to choose another$/,
      background: 'statusBarItem.errorBackground',
      tooltip: /README\\\.md is not a GGUF model/,
    },
    {
      what: 'invalid settings',
      status: {
        ...base,
        settingsProblems: [{ setting: 'pronto.completion.maxTokens', message: 'Setting "pronto.completion.maxTokens" is bad.' }],
      },
      text: '$(warning) Pronto · check settings',
      aria: /^Pronto: ready, 1 invalid setting$/,
      background: 'statusBarItem.warningBackground',
      tooltip: /\$\(warning\) Setting "pronto\\\.completion\\\.maxTokens" is bad\\\./,
    },
  ];
  for (const c of cases) {
    const view = renderStatus(c.status, true);
    assert.equal(view.text, c.text, c.what);
    assert.match(view.ariaLabel, c.aria, c.what);
    assert.equal(view.background, c.background, c.what);
    assert.match(view.tooltip, c.tooltip, c.what);
  }
});

test('menuHint: short enough for the quick pick, and says what to do', () => {
  const cases: Array<[StatusParams | undefined, boolean, RegExp]> = [
    [base, false, /not running/],
    [undefined, true, /^Starting/],
    [{ ...base, state: 'stopped', needsModel: true }, true, /No model chosen.*Choose a model first/],
    [{ ...base, demoModel: true }, true, /^Demo model: suggestions are meaningless\. Choose a real model\.$/],
    [{ ...base, state: 'error', engineGaveUp: true }, true, /keeps failing/],
    [{ ...base, settingsProblems: [{ setting: 'pronto.x', message: 'm' }] }, true, /settings are invalid/],
    [{ ...base, enabled: false }, true, /switched off/],
    [base, true, /^Choose an action$/],
  ];
  for (const [status, running, want] of cases) {
    const hint = menuHint(status, running);
    assert.match(hint, want);
    assert.ok(hint.length <= 72, `${hint.length} characters: ${hint}`);
  }
});

test('renderStatus: server not running, and no status yet', () => {
  const down = renderStatus(base, false);
  assert.match(down.ariaLabel, /^Pronto: stopped/);
  assert.equal(down.background, 'statusBarItem.warningBackground');
  assert.match(down.tooltip, /not running/);
  const early = renderStatus(undefined, true);
  assert.equal(early.ariaLabel, 'Pronto: starting');
});

test('renderStatus: markdown in server text is escaped in the tooltip', () => {
  const view = renderStatus({ ...base, state: 'error', message: 'bad [link](command:x) *x*' }, true);
  assert.ok(!view.tooltip.includes('[link](command:x)'));
  assert.match(view.tooltip, /\\\[link\\\]\\\(command:x\\\)/);
});
