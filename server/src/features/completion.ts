/**
 * Inline completion: `textDocument/inlineCompletion`, `pronto/didAcceptCompletion` and
 * `pronto/setEnabled`. Owns the completion state: the provider (cache, debounce, prefetch), the
 * context ring fed by document events, the editor's definitions (`pronto/resolveDefinitions`, for
 * clients that advertise it) and the enabled switch.
 */
import * as path from 'node:path';
import { CancellationTokenSource, InlineCompletionTriggerKind, type InlineCompletionItem } from 'vscode-languageserver';
import { languageEnabled } from '../../../protocol/languages';
import {
  DidAcceptCompletionNotification,
  ResolveDefinitionsRequest,
  SetEnabledNotification,
  type DidAcceptParams,
  type ResolveDefinitionsParams,
  type ResolveDefinitionsResult,
} from '../../../protocol/lsp';
import { CompletionProvider } from '../completion/provider';
import { offersSuggestionBefore } from '../completion/trigger';
import { cursorContext, windowBudget, type ContextSources } from '../context/completionContext';
import { combineDefinitions, EditorDefinitions, StickyDefinitions } from '../context/definitions';
import { ContextRing } from '../context/ring';
import type { TemplatesFeature } from '../templates/feature';
import type { Feature } from './feature';

export interface CompletionFeatureOptions {
  /** Timeout of one pronto/resolveDefinitions request (default 3000 ms). */
  resolveDefinitionsTimeoutMs?: number;
  /** The prompt templates (the prompts feature): a custom FIM template renders the prompt. */
  templates?: () => TemplatesFeature | undefined;
}

/** The cursor line's text after `offset`. */
function lineSuffixAt(text: string, offset: number): string {
  const nl = text.indexOf('\n', offset);
  return text.slice(offset, nl < 0 ? text.length : nl);
}

export function completionFeature(options: CompletionFeatureOptions = {}): Feature {
  return {
    name: 'completion',
    register(ctx) {
      const { connection, documents, status, log } = ctx;
      let enabled = true;
      const initial = ctx.settings();
      const ring = new ContextRing(initial['context.ringChunks'], initial['context.ringChunkLines']);
      const lastEditLine = new Map<string, number>();
      /** Set at initialize when the client can answer pronto/resolveDefinitions. */
      let editorDefinitions: EditorDefinitions | undefined;

      const stickyDefinitions = new StickyDefinitions();
      const openDocuments = () => documents.all().map((d) => ({ uri: d.uri, filename: path.basename(d.uri), text: d.getText() }));
      const contextSources: ContextSources = {
        tokens: ctx.tokens,
        ring,
        definitions: (uri, names) =>
          stickyDefinitions.update(uri, combineDefinitions(names, editorDefinitions?.lookup(uri, names), openDocuments(), uri)),
      };
      const provider = new CompletionProvider({
        getClient: () => ctx.engine.client,
        getSettings: () => ctx.settings(),
        context: contextSources,
        stats: ctx.stats,
        fimPrompt: (parts) => options.templates?.()?.fimPrompt(parts),
        onRequestStart: () => status.requestStarted(),
        onRequestEnd: (f) => status.requestEnded(f),
        log: (line) => log.info(line),
      });

      // The ring remembers opened and saved files and edit sites the user moved on from.
      documents.on({
        opened: (doc) => ring.addAround(doc.uri, path.basename(doc.uri), doc.getText(), 0),
        changed: (doc, line) => {
          if (line === undefined) return;
          const prev = lastEditLine.get(doc.uri);
          if (prev !== undefined && Math.abs(prev - line) > ctx.settings()['context.ringChunkLines'] / 2) {
            ring.addAround(doc.uri, path.basename(doc.uri), doc.getText(), prev);
          }
          lastEditLine.set(doc.uri, line);
        },
        saved: (doc) => ring.addAround(doc.uri, path.basename(doc.uri), doc.getText(), lastEditLine.get(doc.uri) ?? 0),
        closed: (uri) => {
          lastEditLine.delete(uri);
          editorDefinitions?.forget(uri);
          stickyDefinitions.forget(uri);
        },
      });

      connection.languages.inlineCompletion.on(async (params, token) => {
        if (!enabled) return { items: [] };
        const doc = documents.get(params.textDocument.uri);
        if (!doc) return { items: [] };
        const settings = ctx.settings();
        // Off for this language (pronto.completion.languages): no engine request, nothing counted.
        if (!languageEnabled(settings['completion.languages'], doc.languageId)) return { items: [] };
        try {
          // A templates file edited since the last request applies now (and drops stale cached suggestions).
          options.templates?.()?.store.refresh();
          const offset = doc.offsetAt(params.position);
          const explicit = params.context?.triggerKind === InlineCompletionTriggerKind.Invoked;
          // In the middle of a word or before other text: no suggestion, no engine request, nothing counted.
          if (!explicit && !offersSuggestionBefore(lineSuffixAt(doc.getText(), offset))) return { items: [] };
          // Background: ask the editor for definitions near the cursor; the answer serves this request
          // if it arrives during the debounce, and later keystrokes from the cache otherwise. The
          // lines the prompt holds (the same window the provider sends) are left out.
          if (editorDefinitions) {
            const text = doc.getText();
            const cursor = cursorContext(
              { uri: doc.uri, text, offset },
              windowBudget(settings, ctx.tokens),
              settings['completion.multiline'],
            );
            editorDefinitions.prepare({
              uri: doc.uri,
              version: doc.version,
              text,
              offset,
              excludeLines: { start: cursor.firstLine, end: cursor.lastLine },
            });
          }
          const result = await provider.provide(
            { uri: doc.uri, text: doc.getText(), offset, explicit, languageId: doc.languageId },
            ctx.signalFrom(token),
          );
          const items: InlineCompletionItem[] = result.items.map((insertText) => ({
            insertText,
            range: { start: params.position, end: params.position },
          }));
          return { items };
        } catch (err) {
          log.error(`inline completion failed: ${(err as Error).stack ?? err}`);
          return { items: [] };
        }
      });

      connection.onNotification(DidAcceptCompletionNotification.method, (p: DidAcceptParams) => {
        if (typeof p?.uri !== 'string' || typeof p.text !== 'string' || !['full', 'word', 'line'].includes(p.kind)) {
          log.warn(`pronto/didAcceptCompletion with unexpected parameters: ${JSON.stringify(p)?.slice(0, 200)}`);
          return;
        }
        provider.noteAccepted(p, documents.get(p.uri)?.getText());
      });
      connection.onNotification(SetEnabledNotification.method, ({ enabled: on }: { enabled: boolean }) => {
        enabled = on === true;
        if (!enabled) provider.abortAll();
        status.setEnabled(enabled);
      });

      return {
        capabilities: () => {
          if (ctx.client.capabilities.resolveDefinitions === true) {
            editorDefinitions = new EditorDefinitions({
              request: (p: ResolveDefinitionsParams, signal: AbortSignal) => {
                const source = new CancellationTokenSource();
                signal.addEventListener('abort', () => source.cancel(), { once: true });
                return connection.sendRequest(ResolveDefinitionsRequest.method, p, source.token) as Promise<ResolveDefinitionsResult>;
              },
              timeoutMs: options.resolveDefinitionsTimeoutMs,
              log: (line) => log.info(line),
            });
          }
          return { inlineCompletionProvider: true };
        },
        initialized: () => {
          // A new FIM template makes cached suggestions stale.
          options.templates?.()?.onTemplatesChanged(() => provider.cache.clear());
          const settings = ctx.settings();
          ring.configure(settings['context.ringChunks'], settings['context.ringChunkLines']);
          enabled = settings.enable;
          status.setEnabled(enabled);
        },
        settingsChanged: (previous, next) => {
          ring.configure(next['context.ringChunks'], next['context.ringChunkLines']);
          if (next.enable !== previous.enable) {
            enabled = next.enable;
            if (!enabled) provider.abortAll();
            status.setEnabled(enabled);
          }
        },
        shutdown: () => {
          editorDefinitions?.dispose();
          provider.abortAll();
        },
      };
    },
  };
}
