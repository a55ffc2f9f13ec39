/**
 * The model catalog, downloads and checks: `pronto/listModels`, `pronto/downloadModel` (progress
 * pushed as `pronto/downloadProgress`; a failure answered as a plain sentence with its kind),
 * `pronto/checkModel`. The services live in server/src/models/ and are passed in by main.ts; the
 * catalog service is rebuilt when the mirror (setting or request) or the storage folder changes.
 */
import { LSPErrorCodes, ResponseError, type CancellationToken } from 'vscode-languageserver';
import {
  CheckModelRequest,
  DownloadModelRequest,
  DownloadProgressNotification,
  ListModelsRequest,
  type CheckModelResult,
  type DownloadModelParams,
  type DownloadProgressParams,
  type ListModelsResult,
} from '../../../protocol/lsp';
import { failureOf } from '../models/downloadFailure';
import type { Settings } from '../settings';
import type { Feature } from './feature';

/** What the server needs from the models feature (server/src/models/ModelService satisfies it). */
export interface ModelService {
  listModels(): Promise<ListModelsResult>;
  download(id: string, onProgress: (p: DownloadProgressParams) => void, signal?: AbortSignal): Promise<{ path: string }>;
}

/** Builds the model service on first use (storage folder and settings known by then). */
export type CreateModelService = (storageDir: string, settings: Settings) => ModelService;

export interface ModelsFeatureDeps {
  createModelService?: CreateModelService;
  /** Answers pronto/checkModel (server/src/models/modelCheck.ts). */
  checkModel?: (path: string, purpose?: 'completion' | 'chat') => Promise<CheckModelResult>;
}

export function modelsFeature(deps: ModelsFeatureDeps): Feature {
  return {
    name: 'models',
    register(ctx) {
      let current: { service: ModelService; mirror: string; storageDir: string } | undefined;
      /** The model service for `mirror` (default: the pronto.model.mirror setting), made on first use. */
      const modelService = (mirror: string = ctx.settings()['model.mirror']): ModelService | undefined => {
        if (!deps.createModelService) return undefined;
        const storageDir = ctx.storageDir();
        if (!current || current.mirror !== mirror || current.storageDir !== storageDir) {
          current = { service: deps.createModelService(storageDir, { ...ctx.settings(), 'model.mirror': mirror }), mirror, storageDir };
        }
        return current.service;
      };
      ctx.connection.onRequest(ListModelsRequest.method, async () => {
        const service = modelService();
        if (!service) throw new Error('The model catalog is not available in this build.');
        return service.listModels();
      });
      ctx.connection.onRequest(DownloadModelRequest.method, async ({ id, mirror }: DownloadModelParams, token: CancellationToken) => {
        const service = modelService(typeof mirror === 'string' ? mirror : undefined);
        if (!service) throw new Error('Model download is not available in this build.');
        try {
          return await service.download(
            id,
            (p) => void ctx.connection.sendNotification(DownloadProgressNotification.method, p),
            ctx.signalFrom(token),
          );
        } catch (err) {
          // A plain sentence and its kind as the error's data (the client offers retry, a mirror, a
          // local file); the technical message goes to the log.
          const failure = failureOf(err);
          if (!failure) throw err;
          ctx.log.warn(`download of ${id} failed: ${(err as Error).message}`);
          throw new ResponseError(LSPErrorCodes.RequestFailed, failure.sentence, failure);
        }
      });
      ctx.connection.onRequest(
        CheckModelRequest.method,
        async ({ path: file, purpose }: { path: string; purpose?: 'completion' | 'chat' }): Promise<CheckModelResult> => {
          if (!deps.checkModel) throw new Error('Model checks are not available in this build.');
          return deps.checkModel(file, purpose === 'chat' ? 'chat' : 'completion');
        },
      );
      return undefined;
    },
  };
}
