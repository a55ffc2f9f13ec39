/**
 * Which catalog model fits this machine. Two halves: `probeHardware()` asks the machine
 * (`nvidia-smi --query-gpu=...` for NVIDIA GPUs, `os` for RAM), and `suggestModel()` is a pure
 * function from that description to a choice, so the rule is tested with tables, not with GPUs.
 *
 * The rule: with a GPU, the biggest model of the preferred family whose weights + KV cache +
 * compute buffers fit in 90% of the freest GPU's free memory, plus its draft model when both fit.
 * Without a GPU (or when nothing fits on it), the smallest model, since CPU decoding speed falls
 * with size and completion needs low latency; total RAM decides whether even that fits.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { CATALOG, type CatalogEntry, type ModelFamily, QUANTS } from './catalog';

export interface GpuInfo {
  name: string;
  freeBytes: number;
  totalBytes: number;
}

export interface HardwareInfo {
  gpus: GpuInfo[];
  totalRamBytes: number;
  freeRamBytes: number;
  /** Set when nvidia-smi exists but failed (driver problem): reported, and the CPU is assumed. */
  gpuProbeError?: string;
}

export interface Suggestion {
  /** null when no catalog model fits at all. */
  modelId: string | null;
  /** A draft model for speculative decoding, when one exists and fits next to the model. */
  draftId?: string;
  backend: 'gpu' | 'cpu';
  /** One sentence for a person: why this choice. */
  reason: string;
}

export interface SuggestOptions {
  /** Context the engine will allocate, in tokens. Default 4096. */
  contextTokens?: number;
  /** Family to choose from first. Default Qwen2.5-Coder. */
  family?: ModelFamily;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Compute buffers and runtime overhead of llama.cpp besides weights and KV cache. */
const RUNTIME_OVERHEAD_BYTES = 300 * MiB;
/** Share of free GPU memory we plan to use (the rest stays for the desktop and fragmentation). */
const GPU_USABLE_SHARE = 0.9;
/** Share of total RAM a CPU model may take (the editor and the rest of the system need the remainder). */
const RAM_USABLE_SHARE = 0.5;

/** Memory a model needs to run: weights (+5% for buffers mapped alongside), KV cache, overhead. */
export function memoryNeededBytes(entry: CatalogEntry, contextTokens = 4096): number {
  return Math.ceil(entry.sizeBytes * 1.05 + entry.kvBytesPerToken * contextTokens + RUNTIME_OVERHEAD_BYTES);
}

function gib(n: number): string {
  return `${(n / GiB).toFixed(1)} GiB`;
}

/**
 * Lines of `nvidia-smi --query-gpu=name,memory.free,memory.total --format=csv,noheader,nounits`
 * (MiB) → GPUs. Lines that do not parse (e.g. "[N/A]") are skipped.
 */
export function parseNvidiaSmi(output: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of output.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const m = /^(.*),\s*([^,]*),\s*([^,]*)$/.exec(line.trim());
    if (!m) continue;
    const name = m[1]!.trim();
    const free = Number(m[2]);
    const total = Number(m[3]);
    if (!name || !m[2] || !Number.isFinite(free) || !Number.isFinite(total) || free < 0 || total <= 0) continue;
    gpus.push({ name, freeBytes: free * MiB, totalBytes: total * MiB });
  }
  return gpus;
}

export function describeHardware(hw: HardwareInfo): string {
  const ram = `${gib(hw.totalRamBytes)} RAM`;
  if (hw.gpus.length === 0) {
    return hw.gpuProbeError ? `CPU only (${hw.gpuProbeError}), ${ram}` : `CPU only, ${ram}`;
  }
  const gpus = hw.gpus.map((g) => `${g.name} (${gib(g.freeBytes)} free of ${gib(g.totalBytes)})`).join(', ');
  return `${gpus}; ${ram}`;
}

/** Larger models first, then higher precision: a bigger model at 4 bits beats a smaller one at 8. */
const byCapability = (a: CatalogEntry, b: CatalogEntry) => b.paramsB - a.paramsB || QUANTS[b.quant].bits - QUANTS[a.quant].bits;
/** On the CPU: up to 8 bits first (16-bit doubles the memory traffic for no visible gain), then the most bits. */
const forTheCpu = (a: CatalogEntry, b: CatalogEntry) =>
  Number(QUANTS[a.quant].bits > 8) - Number(QUANTS[b.quant].bits > 8) || QUANTS[b.quant].bits - QUANTS[a.quant].bits;

export function suggestModel(hw: HardwareInfo, catalog: readonly CatalogEntry[] = CATALOG, options: SuggestOptions = {}): Suggestion {
  const ctx = options.contextTokens ?? 4096;
  const family = options.family ?? 'qwen2.5-coder';
  const inFamily = catalog.filter((m) => m.family === family);
  const pool = inFamily.length > 0 ? inFamily : [...catalog];
  if (pool.length === 0) return { modelId: null, backend: 'cpu', reason: 'the model catalog is empty' };
  const bySizeAsc = [...pool].sort((a, b) => memoryNeededBytes(a, ctx) - memoryNeededBytes(b, ctx));
  const smallest = bySizeAsc[0]!;

  const bestGpu = freestGpu(hw);
  let gpuNote = '';
  if (bestGpu) {
    const budget = bestGpu.freeBytes * GPU_USABLE_SHARE;
    const fits = pool.filter((m) => memoryNeededBytes(m, ctx) <= budget).sort(byCapability)[0];
    if (fits) {
      const draft = catalog
        .filter((d) => d.draftFor?.includes(fits.id))
        .sort(byCapability)
        .find((d) => memoryNeededBytes(fits, ctx) + memoryNeededBytes(d, ctx) <= budget);
      return {
        modelId: fits.id,
        ...(draft ? { draftId: draft.id } : {}),
        backend: 'gpu',
        reason: `needs ${gib(memoryNeededBytes(fits, ctx))} of ${bestGpu.name}'s ${gib(bestGpu.freeBytes)} free${draft ? ', with a draft model' : ''}`,
      };
    }
    gpuNote = `${bestGpu.name} has only ${gib(bestGpu.freeBytes)} free, so `;
  }

  // The CPU: the fewest parameters (decoding speed falls with size), in the best precision up to
  // 8 bits that fits in RAM.
  const fewest = Math.min(...pool.map((m) => m.paramsB));
  const cpuPick = pool
    .filter((m) => m.paramsB === fewest && memoryNeededBytes(m, ctx) <= hw.totalRamBytes * RAM_USABLE_SHARE)
    .sort(forTheCpu)[0];
  if (!cpuPick) {
    const need = memoryNeededBytes(smallest, ctx);
    return {
      modelId: null,
      backend: 'cpu',
      reason: `${gpuNote}${smallest.label} needs about ${gib(need)} but this machine has ${gib(hw.totalRamBytes)} RAM in total; no catalog model fits`,
    };
  }
  return {
    modelId: cpuPick.id,
    backend: 'cpu',
    reason: `${gpuNote}the fastest on the CPU${hw.gpus.length === 0 ? ' (no NVIDIA GPU found)' : ''}`,
  };
}

function freestGpu(hw: HardwareInfo): GpuInfo | undefined {
  return hw.gpus.reduce<GpuInfo | undefined>((best, g) => (!best || g.freeBytes > best.freeBytes ? g : best), undefined);
}

export interface VersionAdvice {
  id: string;
  /** Memory the version needs with the configured context (weights, KV cache, buffers). */
  memoryBytes: number;
  /** Whether it fits the freest GPU (90% of its free memory) or, without one, half of the RAM. */
  fits: boolean;
  /** The version to pick for this machine (at most one per model). */
  suggested: boolean;
  /** One short phrase: where it fits, or why not. */
  note: string;
}

/**
 * For the versions (quantizations) of one model: the memory each needs, whether it fits, and which
 * one to take: the highest precision that fits the GPU; on the CPU the highest up to 8 bits.
 */
export function adviseVersions(hw: HardwareInfo, versions: readonly CatalogEntry[], contextTokens = 4096): VersionAdvice[] {
  const gpu = freestGpu(hw);
  const budget = gpu ? gpu.freeBytes * GPU_USABLE_SHARE : hw.totalRamBytes * RAM_USABLE_SHARE;
  const where = gpu ? `${gpu.name} (${gib(gpu.freeBytes)} free)` : `${gib(hw.totalRamBytes)} RAM`;
  const eligible = versions.filter((v) => memoryNeededBytes(v, contextTokens) <= budget).sort(gpu ? byCapability : forTheCpu);
  const pick = eligible[0]?.id;
  return versions.map((v) => {
    const memoryBytes = memoryNeededBytes(v, contextTokens);
    const fits = memoryBytes <= budget;
    const note = !fits ? `too big for ${where}` : v.id === pick ? `suggested for ${where}` : `fits ${where}`;
    return { id: v.id, memoryBytes, fits, suggested: v.id === pick, note };
  });
}

export interface ProbeOptions {
  /** The nvidia-smi executable. Default `nvidia-smi` from PATH. */
  nvidiaSmiPath?: string;
  timeoutMs?: number;
}

/** Ask the machine: NVIDIA GPUs through nvidia-smi (absent = none), RAM through `os`. Never throws. */
export async function probeHardware(options: ProbeOptions = {}): Promise<HardwareInfo> {
  const base = { totalRamBytes: os.totalmem(), freeRamBytes: os.freemem() };
  const cmd = options.nvidiaSmiPath ?? 'nvidia-smi';
  type ExecError = Omit<NodeJS.ErrnoException, 'code'> & { code?: string | number; killed?: boolean };
  const result = await new Promise<{ stdout: string; stderr: string; error?: ExecError }>((resolve) => {
    execFile(
      cmd,
      ['--query-gpu=name,memory.free,memory.total', '--format=csv,noheader,nounits'],
      { timeout: options.timeoutMs ?? 5000, windowsHide: true },
      (error, stdout, stderr) => {
        resolve({ stdout: String(stdout), stderr: String(stderr), error: (error as ExecError | null) ?? undefined });
      },
    );
  });
  if (result.error) {
    if (result.error.code === 'ENOENT') return { gpus: [], ...base };
    const detail = result.stderr.trim().split('\n')[0]?.trim();
    const why = result.error.killed
      ? 'timed out'
      : `failed${typeof result.error.code === 'number' ? ` (exit ${result.error.code})` : ''}${detail ? `: ${detail}` : ''}`;
    return { gpus: [], ...base, gpuProbeError: `nvidia-smi ${why}` };
  }
  return { gpus: parseNvidiaSmi(result.stdout), ...base };
}
