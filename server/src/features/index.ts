/**
 * The features the server runs, in registration order (the order their `initialized` hooks run).
 * A new feature is one line here; see feature.ts.
 */
import { completionFeature } from './completion';
import { engineFeature } from './engine';
import type { Feature } from './feature';
import { modelsFeature, type CreateModelService } from './models';
import { statusFeature } from './status';

export interface FeatureDeps {
  createModelService?: CreateModelService;
  /** Timeout of one pronto/resolveDefinitions request (default 3000 ms). */
  resolveDefinitionsTimeoutMs?: number;
}

export function defaultFeatures(deps: FeatureDeps = {}): Feature[] {
  return [
    statusFeature,
    modelsFeature(deps.createModelService),
    completionFeature({ resolveDefinitionsTimeoutMs: deps.resolveDefinitionsTimeoutMs }),
    engineFeature,
  ];
}
