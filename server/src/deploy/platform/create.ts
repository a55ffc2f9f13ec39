/** Picks the platform a deploy config targets. */
import * as path from 'node:path';
import type { DeployConfig } from '../config/schema';
import { KubernetesPlatform } from './kubernetes/platform';
import { LocalPlatform } from './local/platform';
import type { Platform } from './types';

export interface PlatformOptions {
  /** The workspace folder (relative paths of the config are resolved against it). */
  root: string;
  log?: (line: string) => void;
  /** Local platform: GPUs present (default: probed with nvidia-smi). */
  gpuCount?: number;
  /** Kubernetes: a kubeconfig file instead of the default one (tests). */
  kubeconfig?: string;
}

/** The workspace of a config file: the folder holding `.pronto/`, else the file's own folder. */
export function workspaceOf(configFile: string): string {
  const dir = path.dirname(path.resolve(configFile));
  return path.basename(dir) === '.pronto' ? path.dirname(dir) : dir;
}

export async function createPlatform(config: DeployConfig, options: PlatformOptions): Promise<Platform> {
  if (config.target.kind === 'local')
    return new LocalPlatform(config, { root: options.root, log: options.log, gpuCount: options.gpuCount });
  return KubernetesPlatform.fromKubeconfig(config, { log: options.log, kubeconfig: options.kubeconfig });
}
