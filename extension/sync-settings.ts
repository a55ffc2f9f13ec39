/**
 * Rewrites package.json `contributes.configuration.properties` from the server's settings table
 * (server/src/settings.ts), keeping client-only settings and hand-written extras (enum
 * descriptions). Run after adding or changing a server setting:
 *
 *   npx tsx extension/sync-settings.ts
 *
 * test/unit/extension-manifest.test.ts fails when the two drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { settingsTable } from '../server/src/settings';

const file = join(__dirname, '..', 'package.json');
const pkg = JSON.parse(readFileSync(file, 'utf8'));
const old = (pkg.contributes.configuration.properties ?? {}) as Record<string, Record<string, unknown>>;
const clientOnly = Object.entries(old).filter(([k]) => k === 'pronto.trace.server');
const extras: Record<string, Record<string, unknown>> = {
  'pronto.completion.languages': { additionalProperties: { type: 'boolean' } },
  'pronto.completion.multiline': {
    enumDescriptions: [
      'Decide from the cursor context: multi-line after an opening bracket or on an empty line, else single-line.',
      'Always allow multi-line suggestions.',
      'Only ever suggest the rest of the current line.',
    ],
  },
};

const properties: Record<string, Record<string, unknown>> = {};
let order = 0;
for (const [key, entry] of Object.entries(settingsTable)) {
  const js = z.toJSONSchema(entry.schema as z.ZodType) as Record<string, unknown>;
  const name = `pronto.${key}`;
  const p: Record<string, unknown> = {
    type: js.type ?? (typeof entry.default === 'string' ? 'string' : typeof entry.default === 'boolean' ? 'boolean' : 'number'),
    default: entry.default,
    markdownDescription: entry.description,
    order: order++,
  };
  if (js.enum) p.enum = js.enum;
  if (typeof js.minimum === 'number') p.minimum = js.minimum;
  if (typeof js.maximum === 'number') p.maximum = js.maximum;
  Object.assign(p, extras[name] ?? {});
  properties[name] = p;
}
for (const [k, v] of clientOnly) properties[k] = { ...v, order: order++ };
pkg.contributes.configuration.properties = properties;
writeFileSync(file, JSON.stringify(pkg, null, 2) + '\n');
console.log(`package.json: ${Object.keys(properties).length} pronto.* settings`);
