/**
 * The features the server runs, in registration order (the order their hooks run). A new feature is
 * one line here; see feature.ts.
 */
import { deployFeature } from '../deploy/feature';
import { completionFeature } from './completion';
import { engineFeature } from './engine';
import type { Feature } from './feature';
import { modelsFeature, type ModelsFeatureDeps } from './models';
import { monitorFeature } from '../monitor/feature';
import { promptsFeature } from './prompts';
import { statusFeature } from './status';

export interface FeatureDeps extends ModelsFeatureDeps {
  /** Timeout of one pronto/resolveDefinitions request (default 3000 ms). */
  resolveDefinitionsTimeoutMs?: number;
}

export function defaultFeatures(deps: FeatureDeps = {}): Feature[] {
  const prompts = promptsFeature();
  return [
    statusFeature,
    modelsFeature(deps),
    prompts,
    completionFeature({ resolveDefinitionsTimeoutMs: deps.resolveDefinitionsTimeoutMs, templates: prompts.templates }),
    engineFeature,
    monitorFeature,
    deployFeature,
  ];
}
