/**
 * The model catalog and downloads: `pronto/listModels`, `pronto/downloadModel` (progress pushed as
 * `pronto/downloadProgress`). The catalog service itself lives in server/src/models/ and is passed
 * in by main.ts; it is rebuilt when the mirror setting changes.
 */
import type { CancellationToken } from 'vscode-languageserver';
import {
  DownloadModelRequest,
  DownloadProgressNotification,
  ListModelsRequest,
  type CatalogModel,
  type DownloadProgressParams,
} from '../../../protocol/lsp';
import type { Settings } from '../settings';
import type { Feature } from './feature';

/** What the server needs from the models feature (server/src/models/ModelService satisfies it). */
export interface ModelService {
  listModels(): Promise<{ models: CatalogModel[]; hardware: string }>;
  download(id: string, onProgress: (p: DownloadProgressParams) => void, signal?: AbortSignal): Promise<{ path: string }>;
}

/** Builds the model service on first use (storage folder and settings known by then). */
export type CreateModelService = (storageDir: string, settings: Settings) => ModelService;

export function modelsFeature(createModelService: CreateModelService | undefined): Feature {
  return {
    name: 'models',
    register(ctx) {
      let current: { service: ModelService; mirror: string; storageDir: string } | undefined;
      const modelService = (): ModelService | undefined => {
        if (!createModelService) return undefined;
        const settings = ctx.settings();
        const storageDir = ctx.storageDir();
        if (!current || current.mirror !== settings['model.mirror'] || current.storageDir !== storageDir) {
          current = { service: createModelService(storageDir, settings), mirror: settings['model.mirror'], storageDir };
        }
        return current.service;
      };
      ctx.connection.onRequest(ListModelsRequest.method, async () => {
        const service = modelService();
        if (!service) throw new Error('The model catalog is not available in this build.');
        return service.listModels();
      });
      ctx.connection.onRequest(DownloadModelRequest.method, async ({ id }: { id: string }, token: CancellationToken) => {
        const service = modelService();
        if (!service) throw new Error('Model download is not available in this build.');
        return service.download(
          id,
          (p) => void ctx.connection.sendNotification(DownloadProgressNotification.method, p),
          ctx.signalFrom(token),
        );
      });
      return undefined;
    },
  };
}
