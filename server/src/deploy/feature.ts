/**
 * The deploy feature (server/src/features/feature.ts shape): the `pronto/deploy/...` requests on
 * top of the rollout controller (register.ts). On shutdown a rollout driven here is left to resume.
 */
import type { Feature } from '../features/feature';
import { registerDeploy } from './register';

export const deployFeature: Feature = {
  name: 'deploy',
  register(ctx) {
    const deploy = registerDeploy(ctx.connection, { log: (line) => ctx.log.info(line) });
    return { shutdown: () => deploy.dispose() };
  },
};
