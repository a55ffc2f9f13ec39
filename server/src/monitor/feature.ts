/**
 * The monitor as a server feature (features/feature.ts): one line in features/index.ts registers it.
 * It points the monitor's `engine` source at the sidecar's engine (local process with the key the
 * sidecar gave it, or the remote URL with its key), feeds it the request records and accepts, pushes
 * the worst alert into the status, and stops the sampler at shutdown. Everything else:
 * registerMonitor (register.ts) and the MonitorService (service.ts).
 */
import type { Feature } from '../features/feature';
import { registerMonitor, type MonitorHandle } from './register';

/** The registry of named sources, for other features (deployment: blue and green); set at register. */
export let monitorHandle: MonitorHandle | undefined;

export const monitorFeature: Feature = {
  name: 'monitor',
  register(ctx) {
    const handle = registerMonitor(ctx.connection, {
      stats: ctx.stats,
      getSettings: () => ctx.settings(),
      engine: () => {
        const remote = ctx.settings()['engine.url'];
        const client = ctx.engine.client;
        return { label: remote ? `Remote engine (${remote})` : 'Local engine', url: client?.baseUrl, apiKey: client?.apiKey };
      },
      languageOf: (uri) => ctx.documents.get(uri)?.languageId,
      setStatusAlert: (alert) => ctx.status.setAlert(alert),
      log: (line) => ctx.log.info(line),
    });
    monitorHandle = handle;
    return {
      shutdown: async () => {
        await handle.dispose();
        if (monitorHandle === handle) monitorHandle = undefined;
      },
    };
  },
};
