import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { defaultSettings, engineSettingsChanged, parseSettings, settingsTable } from '../../server/src/settings';

test('no sources: every default', () => {
  const r = parseSettings();
  assert.deepEqual(r.settings, defaultSettings);
  assert.deepEqual(r.problems, []);
});

test('nested (VS Code / initializationOptions) and flat dotted keys are read', () => {
  const r = parseSettings({ model: { path: '/m.gguf' }, engine: { path: '/e', url: 'http://h:1' }, 'completion.maxTokens': 32 });
  assert.equal(r.settings['model.path'], '/m.gguf');
  assert.equal(r.settings['engine.path'], '/e');
  assert.equal(r.settings['engine.url'], 'http://h:1');
  assert.equal(r.settings['completion.maxTokens'], 32);
  assert.deepEqual(r.problems, []);
});

test('later sources win per setting; null means unset', () => {
  const r = parseSettings({ model: { path: '/a' }, engine: { parallel: 3 } }, { model: { path: '/b' }, engine: { parallel: null } });
  assert.equal(r.settings['model.path'], '/b');
  assert.equal(r.settings['engine.parallel'], 3);
});

test('a bad value names the setting and falls back to its default; other settings are kept', () => {
  const r = parseSettings({
    completion: { debounceMs: 'fast', multiline: 'sometimes', maxTokens: 64 },
    engine: { url: 'ftp://x', gpuLayers: 1.5 },
  });
  assert.equal(r.settings['completion.debounceMs'], defaultSettings['completion.debounceMs']);
  assert.equal(r.settings['completion.multiline'], 'auto');
  assert.equal(r.settings['engine.url'], '');
  assert.equal(r.settings['engine.gpuLayers'], -1);
  assert.equal(r.settings['completion.maxTokens'], 64);
  assert.equal(r.problems.length, 4);
  for (const name of ['pronto.completion.debounceMs', 'pronto.completion.multiline', 'pronto.engine.url', 'pronto.engine.gpuLayers']) {
    assert.ok(
      r.problems.some((p) => p.includes(`"${name}"`)),
      `a problem names ${name}: ${r.problems.join('\n')}`,
    );
  }
});

test('non-object sources are ignored without throwing', () => {
  assert.deepEqual(parseSettings('garbage', 42, undefined).settings, defaultSettings);
});

test('every default passes its own schema', () => {
  for (const [key, entry] of Object.entries(settingsTable)) {
    assert.ok(entry.schema.safeParse(entry.default).success, key);
  }
});

test('engineSettingsChanged only for settings that need a restart', () => {
  const a = parseSettings().settings;
  assert.equal(engineSettingsChanged(a, { ...a, 'completion.maxTokens': 5 }), false);
  assert.equal(engineSettingsChanged(a, { ...a, 'model.path': '/x' }), true);
});

test('token budgets: defaults, valid values, and bad values named with a reason', () => {
  const d = parseSettings().settings;
  assert.equal(d['context.prefixTokens'], 1024);
  assert.equal(d['context.suffixTokens'], 256);
  assert.equal(d['context.extraTokens'], 1024);
  const ok = parseSettings({ context: { prefixTokens: 2048, suffixTokens: 0, extraTokens: 64 } });
  assert.deepEqual(ok.problems, []);
  assert.equal(ok.settings['context.prefixTokens'], 2048);
  assert.equal(ok.settings['context.suffixTokens'], 0);
  assert.equal(ok.settings['context.extraTokens'], 64);
  const bad = parseSettings({ context: { prefixTokens: -1, suffixTokens: 12.5, extraTokens: '1k' } });
  assert.equal(bad.settings['context.prefixTokens'], 1024);
  assert.equal(bad.settings['context.suffixTokens'], 256);
  assert.equal(bad.settings['context.extraTokens'], 1024);
  assert.equal(bad.problems.length, 3);
  const named = (key: string) => bad.problems.find((p) => p.includes(`"pronto.context.${key}"`)) ?? '';
  assert.match(named('prefixTokens'), /must not be negative/);
  assert.match(named('suffixTokens'), /whole number of tokens/);
  assert.match(named('extraTokens'), /number of tokens/);
  assert.match(parseSettings({ context: { prefixTokens: 1e6 } }).problems[0] ?? '', /pronto\.context\.prefixTokens.*at most 65536 tokens/);
});
