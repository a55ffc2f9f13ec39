/**
 * Messages between the extension (extension/src/templates/panel.ts) and the prompt-templates page
 * (media/templates.ts). The page is a trust boundary: the extension parses what it posts with zod.
 * Templates themselves are validated by the sidecar (protocol/templates.ts), which is the one place
 * that knows the rules; the page shows the problems it returns next to the fields.
 * Handshake: the page posts `ready`; the extension answers with `state` (and again on every change).
 */
import { z } from 'zod';
import { parsePageMessage } from './chatView';
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

export const parseTemplatesPageMessage = (raw: unknown) => parsePageMessage(templatesPageToExtensionSchema, raw, 'templates page');

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
