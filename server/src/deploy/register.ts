/**
 * The deploy feature of the sidecar: the `pronto/deploy/...` requests (protocol/deploy.ts) on top
 * of the rollout controller, for the extension's Deploy commands. `registerDeploy(connection)` is
 * the one call server.ts makes. A rollout started here runs in the background of the sidecar and
 * reports through `pronto/deploy/progress`; it holds the platform's lock like `pronto-deploy` does,
 * so the two refuse each other, and promote/abort reach whichever drives the rollout.
 */
import type { Connection } from 'vscode-languageserver';
import {
  DeployEndpointsRequest,
  DeployManifestsRequest,
  DeployManualRequest,
  DeployProgressNotification,
  DeployScaleRequest,
  DeployStarterRequest,
  DeployStartRequest,
  DeployStatusRequest,
  type DeployRollout,
  type DeployStatusResult,
} from '../../../protocol/deploy';
import { loadDeployConfigFile } from './config/load';
import type { DeployConfig } from './config/schema';
import { starterConfig } from './config/starter';
import { COLOURS, configRevision, renderManifests } from './manifests/render';
import { createPlatform, workspaceOf } from './platform/create';
import type { Platform } from './platform/types';
import { RolloutController, requestManual, rolloutStatus } from './rollout/controller';
import { isTerminal } from './rollout/machine';
import { describeHolder } from './platform/local/files';

export interface DeployDeps {
  log: (line: string) => void;
  /** Platform factory (tests). */
  createPlatform?: typeof createPlatform;
  /** A request named this config (the monitor link watches it). */
  onConfig?: (configFile: string) => void;
  /** A rollout changed here (progress, promote, abort): the monitor link reads it again at once. */
  onRolloutChange?: () => void;
}

interface Running {
  controller: RolloutController;
  done: Promise<unknown>;
}

export function registerDeploy(connection: Connection, deps: DeployDeps): { dispose(): Promise<void> } {
  const running = new Map<string, Running>();
  const make = deps.createPlatform ?? createPlatform;

  async function load(configFile: string): Promise<{ config: DeployConfig; platform: Platform }> {
    deps.onConfig?.(configFile);
    const r = await loadDeployConfigFile(configFile);
    if (!r.ok) {
      const first = r.problems[0]!;
      throw new Error(
        `${configFile}:${first.line}:${first.column}: ${first.path ? `${first.path}: ` : ''}${first.message}${r.problems.length > 1 ? ` (and ${r.problems.length - 1} more)` : ''}`,
      );
    }
    return { config: r.config, platform: await make(r.config, { root: workspaceOf(configFile), log: (l) => deps.log(`deploy: ${l}`) }) };
  }

  connection.onRequest(DeployStatusRequest.type, async ({ configFile }): Promise<DeployStatusResult> => {
    deps.onConfig?.(configFile);
    const r = await loadDeployConfigFile(configFile);
    if (!r.ok) return { ok: false, problems: r.problems };
    const platform = await make(r.config, { root: workspaceOf(configFile), log: (l) => deps.log(`deploy: ${l}`) });
    const s = await rolloutStatus(platform);
    return {
      ok: true,
      name: r.config.name,
      target: r.config.target.kind,
      platform: platform.describe(),
      revision: configRevision(r.config),
      active: s.record.active,
      rollout: s.record.rollout as DeployRollout | undefined,
      drivenBy: s.lockLive && s.lock ? describeHolder(s.lock) : undefined,
      interrupted: s.interrupted,
      drivenHere: running.has(configFile),
      summary: s.summary,
    };
  });

  connection.onRequest(DeployStartRequest.type, async ({ configFile }) => {
    if (running.has(configFile)) throw new Error('A rollout of this config is already running in this window.');
    const { config, platform } = await load(configFile);
    const before = (await platform.readRecord()).rollout;
    const resumed = before !== undefined && !isTerminal(before.phase);
    let started: (id: string) => void = () => undefined;
    let failedToStart: (err: Error) => void = () => undefined;
    const startedP = new Promise<string>((resolve, reject) => {
      started = resolve;
      failedToStart = reject;
    });
    let last: DeployRollout | undefined;
    const controller = new RolloutController({
      platform,
      tool: 'VS Code',
      log: (l) => deps.log(`deploy: ${l}`),
      onUpdate: ({ state, message }) => {
        last = state as DeployRollout;
        started(state.id);
        deps.onRolloutChange?.();
        void connection.sendNotification(DeployProgressNotification.type, { configFile, rollout: last, message, finished: false });
      },
    });
    const done = controller
      .run(config)
      .then((final) => {
        started(final.id);
        void connection.sendNotification(DeployProgressNotification.type, {
          configFile,
          rollout: final as DeployRollout,
          message: final.reason ? `${final.phase}: ${final.reason}` : final.phase,
          finished: true,
        });
      })
      .catch((err: Error) => {
        failedToStart(err);
        deps.log(`deploy: ${err.message}`);
        if (last)
          void connection.sendNotification(DeployProgressNotification.type, {
            configFile,
            rollout: last,
            message: err.message,
            finished: true,
            error: err.message,
          });
      })
      .finally(() => {
        running.delete(configFile);
        deps.onRolloutChange?.();
      });
    running.set(configFile, { controller, done });
    return { rolloutId: await startedP, resumed };
  });

  connection.onRequest(DeployManualRequest.type, async ({ configFile, action }) => {
    const { config, platform } = await load(configFile);
    const r = await requestManual(platform, action, { tool: 'VS Code', config, log: (l) => deps.log(`deploy: ${l}`) });
    deps.onRolloutChange?.();
    return { message: r.message };
  });

  connection.onRequest(DeployEndpointsRequest.type, async ({ configFile }) => {
    const { platform } = await load(configFile);
    return platform.endpoints();
  });

  connection.onRequest(DeployManifestsRequest.type, async ({ configFile }) => {
    const { config, platform } = await load(configFile);
    if (config.target.kind !== 'kubernetes') {
      throw new Error(
        'Show Deploy Manifests is for a Kubernetes target; the local platform runs engine processes behind HAProxy (see its state folder).',
      );
    }
    const record = await platform.readRecord();
    const replicas = { blue: record.colours.blue?.replicas ?? 0, green: record.colours.green?.replicas ?? 0 };
    const fresh = !COLOURS.some((c) => record.colours[c]);
    const layout = fresh
      ? { active: 'blue' as const, preview: 'green' as const, replicas: { blue: config.replicas, green: 0 } }
      : {
          active: record.active,
          preview: record.active ?? 'blue',
          replicas,
          configs: { blue: record.colours.blue?.config, green: record.colours.green?.config },
        };
    // The key stays out of an editor tab: review shows where it goes, `render` prints it for kubectl.
    const { yaml } = renderManifests(config, layout, '<the key in Secret pronto-' + config.name + '-api-key>');
    return {
      yaml: `# Pronto: manifests of ${config.name} (${fresh ? 'nothing deployed yet: blue serves, green at 0' : `as deployed: active ${record.active ?? 'none'}`})\n${yaml}`,
    };
  });

  connection.onRequest(DeployScaleRequest.type, async ({ configFile, replicas }) => {
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > 64) throw new Error('replicas must be a whole number from 0 to 64');
    const { platform } = await load(configFile);
    const s = await rolloutStatus(platform);
    if (s.lockLive) throw new Error(`a rollout is in progress (${s.record.rollout?.phase}); scale after it ends`);
    const colour = s.record.active;
    if (!colour) throw new Error('nothing is deployed yet: run Pronto: Deploy Engine… first');
    await platform.scale(colour, replicas);
    return { colour, replicas: await platform.replicas(colour) };
  });

  connection.onRequest(DeployStarterRequest.type, ({ kind, name, modelPath }) => ({ text: starterConfig({ kind, name, modelPath }) }));

  return {
    /**
     * On shutdown a rollout driven here is left as it is, not rolled back: its lock goes stale when
     * this process ends, and the next Deploy Engine… (or `pronto-deploy rollout`) resumes it.
     */
    async dispose() {
      for (const configFile of running.keys()) deps.log(`deploy: ${configFile}: the rollout is left to be resumed`);
    },
  };
}
