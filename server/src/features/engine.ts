/**
 * The engine's lifecycle as the editor sees it: started once the settings are known, restarted when
 * an engine setting changes or on `pronto/restartEngine`, stopped at shutdown (and signalled if the
 * server exits without one). The EngineManager itself is a shared service (ctx.engine): completion
 * and chat use its client.
 */
import { RestartEngineRequest, SetEngineApiKeyNotification } from '../../../protocol/lsp';
import { engineSettingsChanged } from '../settings';
import type { Feature } from './feature';

export const engineFeature: Feature = {
  name: 'engine',
  register(ctx) {
    const { engine } = ctx;
    /** Bumped by every restart this feature starts, so a reload that already restarted is not doubled. */
    let restarts = 0;

    ctx.connection.onRequest(RestartEngineRequest.method, async (): Promise<null> => {
      const before = restarts;
      await ctx.reloadSettings();
      if (restarts === before) {
        restarts++;
        await engine.restart(ctx.settings());
      }
      return null;
    });

    // The remote engine's key changed (VS Code: its secret storage): connect again with it.
    ctx.connection.onNotification(SetEngineApiKeyNotification.method, async (p: { apiKey?: unknown }) => {
      if (typeof p?.apiKey !== 'string') return ctx.log.warn('pronto/setEngineApiKey without an apiKey string: ignored');
      const key = p.apiKey || undefined;
      if (key === ctx.client.engineApiKey) return;
      ctx.client.engineApiKey = key;
      ctx.log.info(`the remote engine API key was ${key ? 'set' : 'cleared'}`);
      if (ctx.settings()['engine.url']) {
        restarts++;
        await engine.restart(ctx.settings());
      }
    });

    // The client went away without shutdown (crash, closed pipe): never leave the engine behind.
    process.once('exit', () => engine.killNow());

    return {
      initialized: () => engine.start(ctx.settings()),
      settingsChanged: async (previous, next) => {
        if (!engineSettingsChanged(previous, next)) return;
        restarts++;
        await engine.restart(next);
      },
      shutdown: () => engine.stop(),
    };
  },
};
