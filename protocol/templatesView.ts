/**
 * Messages between the extension (extension/src/templates/panel.ts) and the prompt-templates page
 * (media/templates.ts). The page is a trust boundary: the extension parses what it posts with zod.
 * Templates themselves are validated by the sidecar (protocol/templates.ts), which is the one place
 * that knows the rules; the page shows the problems it returns next to the fields.
 * Handshake: the page posts `ready`; the extension answers with `state` (and again on every change).
 */
import { z } from 'zod';
import type { PreviewTemplateResult, TemplateProblem, TemplatesState } from './templates';

const scope = z.enum(['user', 'workspace']);
/** A draft as typed: any shape (the sidecar validates it), but bounded in size. */
const draft = z.record(z.string().max(64), z.union([z.string().max(100_000), z.undefined()]));

export const templatesPageToExtensionSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('ready') }),
  z.strictObject({ type: z.literal('preview'), seq: z.number().int().min(0), template: draft }),
  z.strictObject({ type: z.literal('save'), template: draft, scope, previousId: z.string().max(100).optional() }),
  z.strictObject({ type: z.literal('delete'), id: z.string().max(100), scope }),
  z.strictObject({ type: z.literal('reset'), scope }),
  z.strictObject({ type: z.literal('import'), scope }),
  z.strictObject({ type: z.literal('export'), scope: z.enum(['user', 'workspace', 'all']) }),
  z.strictObject({ type: z.literal('openFile'), scope }),
]);
export type TemplatesPageToExtension = z.infer<typeof templatesPageToExtensionSchema>;

export function parseTemplatesPageMessage(raw: unknown): { ok: true; message: TemplatesPageToExtension } | { ok: false; error: string } {
  const r = templatesPageToExtensionSchema.safeParse(raw);
  if (r.success) return { ok: true, message: r.data };
  let shown: string;
  try {
    shown = (JSON.stringify(raw) ?? String(raw)).slice(0, 200);
  } catch {
    shown = String(raw);
  }
  return {
    ok: false,
    error: `invalid templates page message ${shown}: ${r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ')}`,
  };
}

export type ExtensionToTemplatesPage =
  | {
      type: 'state';
      /** null while the server is down (the page says so). */
      templates: TemplatesState | null;
      server: 'running' | 'down';
      /** The editor the preview renders against. */
      editor?: { label: string; languageId: string };
    }
  | { type: 'preview'; seq: number; result: PreviewTemplateResult }
  | { type: 'saved'; ok: true; id: string; scope: 'user' | 'workspace' }
  | { type: 'saved'; ok: false; problems: TemplateProblem[]; message?: string }
  | { type: 'notice'; kind: 'info' | 'error'; message: string };
