/**
 * The deploy feature (server/src/features/feature.ts shape): the `pronto/deploy/...` requests on
 * top of the rollout controller (register.ts), and the link that makes a deployment's colours
 * sources of the monitor (monitorLink.ts). On shutdown a rollout driven here is left to resume.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Feature } from '../features/feature';
import { monitorHandle } from '../monitor/feature';
import { DEFAULT_CONFIG_PATH } from './config/load';
import { DeployMonitorLink } from './monitorLink';
import { registerDeploy } from './register';

export const deployFeature: Feature = {
  name: 'deploy',
  register(ctx) {
    const log = (line: string) => ctx.log.info(line);
    // The monitor feature registers first (features/index.ts); without it there is nothing to link.
    const monitor = monitorHandle?.service;
    const link = monitor
      ? new DeployMonitorLink({
          registry: monitor.sources,
          setDeployments: (d) => monitor.setDeployments(d),
          intervalMs: () => ctx.settings()['monitor.intervalSeconds'] * 1000,
          log,
        })
      : undefined;
    const deploy = registerDeploy(ctx.connection, {
      log,
      onConfig: (configFile) => link?.watch(configFile),
      onRolloutChange: () => void link?.refresh(),
    });
    return {
      capabilities(params) {
        const folders = params.workspaceFolders?.map((f) => f.uri) ?? (params.rootUri ? [params.rootUri] : []);
        for (const uri of folders) {
          if (uri.startsWith('file:')) link?.watch(path.join(fileURLToPath(uri), DEFAULT_CONFIG_PATH), false);
        }
        return {};
      },
      initialized: () => link?.start(),
      shutdown: async () => {
        await link?.dispose();
        await deploy.dispose();
      },
    };
  },
};
