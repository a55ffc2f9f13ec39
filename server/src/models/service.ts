/**
 * The models feature as the LSP server sees it: `listModels()` answers `pronto/listModels`,
 * `download()` answers `pronto/downloadModel` and feeds `pronto/downloadProgress`
 * (see protocol/lsp.ts). Files live in `<storageDir>/models/<catalog file name>`; a model counts
 * as installed only when its file is there together with the record written right after its
 * SHA-256 was verified (`<file>.verified.json`), so nothing unverified is ever offered.
 *
 * Wiring in the server (sketch):
 *   const models = new ModelService({ storageDir, mirror: settings.model.mirror });
 *   connection.onRequest(ListModelsRequest.type, () => models.listModels());
 *   connection.onRequest(DownloadModelRequest.type, (p, token) =>
 *     models.download(p.id, (progress) => connection.sendNotification(DownloadProgressNotification.type, progress),
 *                     abortSignalFrom(token)));
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CatalogModel, DownloadProgressParams, ListModelsResult } from '../../../protocol/lsp';
import { CATALOG, type CatalogEntry, downloadUrl, findModel, QUANTS, resolveBaseUrl } from './catalog';
import { DownloadError, type DownloadOptions, downloadVerified } from './download';
import { describeAs, describeDownloadFailure } from './downloadFailure';
import { adviseVersions, describeHardware, type HardwareInfo, probeHardware, type Suggestion, suggestModel } from './hardware';

export interface ModelServiceOptions {
  /** Extension/server storage folder; models go to `<storageDir>/models`. */
  storageDir: string;
  /** The `pronto.model.mirror` setting (base URL replacing https://huggingface.co). */
  mirror?: string;
  /** Environment read for PRONTO_MODEL_MIRROR and HF_TOKEN. Default process.env. */
  env?: NodeJS.ProcessEnv;
  catalog?: readonly CatalogEntry[];
  /** Hardware probe; default `probeHardware()`. Results are reused for `hardwareCacheMs`. */
  probe?: () => Promise<HardwareInfo>;
  hardwareCacheMs?: number;
  /** Context size the engine will use, for sizing the suggestion. */
  contextTokens?: number;
  /** Passed through to `downloadVerified` (tests shorten retry delays). */
  downloadOptions?: Partial<Pick<DownloadOptions, 'retries' | 'retryDelayMs' | 'progressIntervalMs' | 'fetchImpl'>>;
}

interface VerifiedRecord {
  sha256: string;
  sizeBytes: number;
  source: string;
  verifiedAt: string;
}

type ProgressListener = (p: DownloadProgressParams) => void;

interface InFlight {
  promise: Promise<{ path: string }>;
  listeners: Set<ProgressListener>;
}

export class ModelService {
  readonly modelsDir: string;
  private readonly catalog: readonly CatalogEntry[];
  private readonly env: NodeJS.ProcessEnv;
  private readonly inFlight = new Map<string, InFlight>();
  private hardware?: { at: number; info: Promise<HardwareInfo> };

  constructor(private readonly options: ModelServiceOptions) {
    this.modelsDir = join(options.storageDir, 'models');
    this.catalog = options.catalog ?? CATALOG;
    this.env = options.env ?? process.env;
  }

  /** Local path a catalog model has (or will have) once downloaded. */
  pathFor(entry: CatalogEntry): string {
    return join(this.modelsDir, entry.file);
  }

  /** The verified local file of `id`, or undefined when it is not installed. */
  async installedPath(id: string): Promise<string | undefined> {
    const entry = findModel(id, this.catalog);
    if (!entry) return undefined;
    const path = this.pathFor(entry);
    try {
      const record = JSON.parse(await readFile(`${path}.verified.json`, 'utf8')) as Partial<VerifiedRecord>;
      const size = (await stat(path)).size;
      if (record.sizeBytes !== size) return undefined;
      if (entry.sha256 && record.sha256 !== entry.sha256) return undefined;
      return path;
    } catch {
      return undefined;
    }
  }

  async hardwareInfo(): Promise<HardwareInfo> {
    const now = Date.now();
    if (!this.hardware || now - this.hardware.at > (this.options.hardwareCacheMs ?? 60_000)) {
      this.hardware = { at: now, info: (this.options.probe ?? (() => probeHardware()))() };
    }
    return this.hardware.info;
  }

  async suggestion(): Promise<Suggestion> {
    return suggestModel(await this.hardwareInfo(), this.catalog, { contextTokens: this.options.contextTokens });
  }

  /** `pronto/listModels`. */
  async listModels(): Promise<ListModelsResult> {
    const hw = await this.hardwareInfo();
    const contextTokens = this.options.contextTokens;
    const suggestion = suggestModel(hw, this.catalog, { contextTokens });
    const advice = new Map(
      [...new Set(this.catalog.map((m) => m.model))].flatMap((model) =>
        adviseVersions(
          hw,
          this.catalog.filter((m) => m.model === model),
          contextTokens,
        ).map((a) => [a.id, a] as const),
      ),
    );
    const models = await Promise.all(
      this.catalog.map(async (m): Promise<CatalogModel> => {
        const fit = advice.get(m.id)!;
        return {
          id: m.id,
          label: m.label,
          model: m.model,
          modelLabel: m.modelLabel,
          quant: m.quant,
          bits: QUANTS[m.quant].bits,
          quantLabel: QUANTS[m.quant].label,
          quality: QUANTS[m.quant].quality,
          paramsB: m.paramsB,
          sizeBytes: m.sizeBytes,
          memoryBytes: fit.memoryBytes,
          fits: fit.fits,
          suggestedVersion: fit.suggested,
          fitNote: fit.note,
          installed: (await this.installedPath(m.id)) !== undefined,
          recommended: m.id === suggestion.modelId,
          ...(m.draftFor ? { draftFor: [...m.draftFor] } : {}),
        };
      }),
    );
    return { models, hardware: describeHardware(hw), suggestion: suggestion.reason };
  }

  /**
   * `pronto/downloadModel`: download (or resume) and verify a catalog model, returning its path.
   * Already installed → returns at once. A second call for a model being downloaded joins the
   * first (its progress is reported to both; only the first caller's signal cancels it).
   */
  async download(id: string, onProgress?: ProgressListener, signal?: AbortSignal): Promise<{ path: string }> {
    const entry = findModel(id, this.catalog);
    if (!entry) {
      throw new Error(`unknown model id "${id}"; the catalog has: ${this.catalog.map((m) => m.id).join(', ')}`);
    }
    const existing = this.inFlight.get(id);
    if (existing) {
      if (onProgress) existing.listeners.add(onProgress);
      try {
        return await existing.promise;
      } finally {
        if (onProgress) existing.listeners.delete(onProgress);
      }
    }
    // Registered before the first await, so a concurrent call for the same id always joins this one.
    const listeners = new Set<ProgressListener>(onProgress ? [onProgress] : []);
    const emit = (p: DownloadProgressParams) => {
      for (const l of listeners) {
        try {
          l(p);
        } catch {
          // a failing listener must not break the download
        }
      }
    };
    const promise = (async () => {
      const installed = await this.installedPath(id);
      if (installed) {
        emit({
          id,
          receivedBytes: entry.sizeBytes,
          totalBytes: entry.sizeBytes,
          state: 'done',
          message: 'already downloaded and verified',
        });
        return { path: installed };
      }
      return this.runDownload(entry, emit, signal);
    })();
    this.inFlight.set(id, { promise, listeners });
    try {
      return await promise;
    } finally {
      this.inFlight.delete(id);
    }
  }

  private async runDownload(entry: CatalogEntry, emit: ProgressListener, signal: AbortSignal | undefined): Promise<{ path: string }> {
    const id = entry.id;
    let received = 0;
    let total = entry.sizeBytes;
    let url: string | undefined;
    try {
      url = downloadUrl(entry, resolveBaseUrl(this.options.mirror, this.env));
      const token = this.env['HF_TOKEN']?.trim();
      const result = await downloadVerified({
        url,
        destination: this.pathFor(entry),
        expectedSha256: entry.sha256,
        signal,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...this.options.downloadOptions,
        onProgress: (p) => {
          received = p.receivedBytes;
          if (p.totalBytes > 0) total = p.totalBytes;
          emit({ id, receivedBytes: p.receivedBytes, totalBytes: total, state: p.phase });
        },
      });
      const record: VerifiedRecord = {
        sha256: result.sha256,
        sizeBytes: result.sizeBytes,
        source: result.checksumSource,
        verifiedAt: new Date().toISOString(),
      };
      await writeFile(`${result.path}.verified.json`, JSON.stringify(record, null, 2));
      emit({
        id,
        receivedBytes: result.sizeBytes,
        totalBytes: result.sizeBytes,
        state: 'done',
        message: `verified SHA-256 ${result.sha256}`,
      });
      return { path: result.path };
    } catch (err) {
      const cancelled = err instanceof DownloadError && err.code === 'cancelled';
      const message = err instanceof Error ? err.message : String(err);
      emit({ id, receivedBytes: received, totalBytes: total, state: cancelled ? 'cancelled' : 'failed', message });
      throw describeAs(err, describeDownloadFailure(err, url));
    }
  }
}
