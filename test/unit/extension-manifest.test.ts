/**
 * package.json's `contributes` against the server's settings table and the walkthrough files: the
 * extension's settings UI must offer exactly the settings the server reads, with the same defaults,
 * enums and bounds.
 */
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { settingsTable } from '../../server/src/settings';

const root = join(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const props = pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>;
/**
 * Settings only the client reads: vscode-languageclient's trace switch, and the old API key setting
 * (deprecated; the client moves a key found there into its secret storage, which needs the setting
 * still declared to clear it).
 */
const clientOnly = new Set(['pronto.trace.server', 'pronto.engine.apiKey']);

test('every server setting is contributed, and nothing else', () => {
  const server = Object.keys(settingsTable)
    .map((k) => `pronto.${k}`)
    .sort();
  const contributed = Object.keys(props)
    .filter((k) => !clientOnly.has(k))
    .sort();
  assert.deepEqual(contributed, server);
});

test('contributed defaults, types, enums and bounds match the server schemas', () => {
  for (const [key, entry] of Object.entries(settingsTable)) {
    const p = props[`pronto.${key}`];
    assert.ok(p, key);
    assert.deepEqual(p.default, entry.default, `${key} default`);
    assert.ok(typeof p.markdownDescription === 'string' && p.markdownDescription.length > 10, `${key} has a description`);
    const schema = z.toJSONSchema(entry.schema as z.ZodType) as Record<string, unknown>;
    if (schema.type) assert.equal(p.type, schema.type, `${key} type`);
    if (schema.enum) assert.deepEqual(p.enum, schema.enum, `${key} enum`);
    if (typeof schema.minimum === 'number') assert.equal(p.minimum, schema.minimum, `${key} minimum`);
    if (typeof schema.maximum === 'number') assert.equal(p.maximum, schema.maximum, `${key} maximum`);
    // The default itself passes the server's validation.
    assert.ok((entry.schema as z.ZodType).safeParse(p.default).success, `${key} default is valid`);
  }
});

test('commands are namespaced, keybindings and menus point at contributed commands', () => {
  const ids = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const id of ids) assert.match(id, /^pronto\./);
  for (const kb of pkg.contributes.keybindings) assert.ok(ids.has(kb.command), kb.command);
  for (const m of pkg.contributes.menus.commandPalette) assert.ok(ids.has(m.command), m.command);
  assert.ok(ids.has('pronto.acceptWord') && ids.has('pronto.acceptLine'));
});

test('walkthrough steps point at existing pages and contributed commands', () => {
  const ids = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  for (const w of pkg.contributes.walkthroughs) {
    for (const step of w.steps) {
      assert.ok(existsSync(join(root, step.media.markdown)), step.media.markdown);
      for (const m of String(step.description).matchAll(/\(command:(pronto\.[\w.]+)\)/g)) assert.ok(ids.has(m[1]!), m[1]);
    }
  }
});

test('the extension entry point and activation are declared', () => {
  assert.equal(pkg.main, './dist/extension.js');
  assert.ok(pkg.activationEvents.includes('onStartupFinished'));
});

test('the command palette offers only what makes sense now (when clauses on context keys the extension sets)', () => {
  const when = new Map<string, string>(
    pkg.contributes.menus.commandPalette.map((m: { command: string; when: string }) => [m.command, m.when]),
  );
  // One of Enable/Disable, never both; Toggle stays for keybindings only.
  assert.equal(when.get('pronto.enable'), '!pronto.enabled');
  assert.equal(when.get('pronto.disable'), 'pronto.enabled');
  assert.equal(when.get('pronto.toggle'), 'false');
  // Start only when stopped; stop and restart only when running.
  assert.equal(when.get('pronto.startServer'), '!pronto.serverRunning');
  assert.equal(when.get('pronto.stopServer'), 'pronto.serverRunning');
  assert.equal(when.get('pronto.restartServer'), 'pronto.serverRunning');
  assert.match(when.get('pronto.restartEngine') ?? '', /pronto\.serverRunning && !pronto\.needsModel/);
  // Every context key used is one extension/src/contextKeys.ts sets (or one of VS Code's own).
  const source = readFileSync(join(root, 'extension', 'src', 'contextKeys.ts'), 'utf8');
  const builtin = new Set(['inlineSuggestionVisible', 'editorIsOpen', 'editorHasSelection', 'editorTextFocus', 'editorReadonly', 'false']);
  for (const w of when.values()) {
    for (const key of w.match(/[\w.]+/g) ?? []) {
      if (builtin.has(key)) continue;
      assert.ok(source.includes(`'${key}'`), `context key ${key} is set by contextKeys.ts`);
    }
  }
});

test('the packaged extension has a README, an icon and an honest description', () => {
  assert.ok(existsSync(join(root, 'extension', 'marketplace', 'README.md')));
  const icon = readFileSync(join(root, pkg.icon));
  assert.equal(icon.subarray(1, 4).toString('latin1'), 'PNG');
  assert.ok(icon.readUInt32BE(16) >= 128 && icon.readUInt32BE(20) >= 128, 'at least 128x128, as the Marketplace asks');
  // It runs on the CPU as well: no claim of being GPU-accelerated.
  assert.doesNotMatch(pkg.description, /GPU-accelerated/i);
  assert.match(pkg.description, /CPU/);
  // The engine's port is not offered for forwarding.
  assert.deepEqual(pkg.contributes.configurationDefaults['remote.portsAttributes']['pronto-engine'].onAutoForward, 'ignore');
});
