/**
 * The extension's package.json `contributes.configuration` must offer every setting the server
 * reads, with the same default (and the same choices for enums), so VS Code's settings UI and the
 * server agree. Extension-only settings (e.g. pronto.trace.server) may exist on top.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { z } from 'zod';
import { settingsTable } from '../../server/src/settings';

const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes?: { configuration?: { properties?: Record<string, { default?: unknown; enum?: unknown[]; type?: string }> } };
};
const properties = pkg.contributes?.configuration?.properties ?? {};

for (const [key, entry] of Object.entries(settingsTable)) {
  test(`package.json contributes pronto.${key} with the server's default`, () => {
    const prop = properties[`pronto.${key}`];
    assert.ok(prop, `pronto.${key} is missing from package.json contributes.configuration`);
    assert.deepEqual(prop.default, entry.default);
    if (entry.schema instanceof z.ZodEnum) assert.deepEqual(prop.enum, entry.schema.options);
    const expectedType =
      typeof entry.default === 'boolean'
        ? 'boolean'
        : typeof entry.default === 'string'
          ? 'string'
          : typeof entry.default === 'object'
            ? 'object'
            : undefined;
    if (expectedType) assert.equal(prop.type, expectedType);
    else assert.ok(prop.type === 'integer' || prop.type === 'number', `pronto.${key} is numeric`);
  });
}
