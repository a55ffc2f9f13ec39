/**
 * Chat and prompt templates (server/src/chat/, server/src/templates/): their `pronto/chat…` and
 * `pronto/templates…` handlers, registered by registerPromptFeatures, wired to the shared services.
 * The templates are also used by completion (a custom FIM template renders the prompt), so this
 * feature hands them out through `templates()` once registered (features/index.ts passes that to
 * completionFeature).
 */
import type { TemplatesFeature } from '../templates/feature';
import { registerPromptFeatures } from '../chat/feature';
import type { Feature } from './feature';

export interface PromptsFeature extends Feature {
  /** The templates, once the feature is registered. */
  templates(): TemplatesFeature | undefined;
}

export function promptsFeature(): PromptsFeature {
  let templates: TemplatesFeature | undefined;
  return {
    name: 'prompts',
    templates: () => templates,
    register(ctx) {
      const prompts = registerPromptFeatures({
        connection: ctx.connection,
        getClient: () => ctx.engine.client,
        engineInfo: () => ctx.engine.info,
        engineMessage: () => ctx.engine.state.message,
        getSettings: () => ctx.settings(),
        openDocument: (uri) => {
          const d = ctx.documents.get(uri);
          return d ? { text: d.getText(), languageId: d.languageId } : undefined;
        },
        setStatusNote: (note) => ctx.status.setNote(note, 'templates'),
        log: (line) => ctx.log.info(line),
      });
      templates = prompts;
      ctx.onEngineState((s) => {
        if (s.state === 'ready') void prompts.engineReady();
      });
      return {
        capabilities: (params) => {
          prompts.initialize(params, ctx.storageDir());
          return {};
        },
        shutdown: () => prompts.dispose(),
      };
    },
  };
}
