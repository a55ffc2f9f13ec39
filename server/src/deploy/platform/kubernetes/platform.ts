// Placeholder replaced in step 3 (Kubernetes platform).
import type { DeployConfig } from '../../config/schema';
import type { Platform } from '../types';

export const KubernetesPlatform = {
  fromKubeconfig(_config: DeployConfig, _opts: { log?: (l: string) => void; kubeconfig?: string }): Platform {
    throw new Error('the Kubernetes platform is not built yet');
  },
};
