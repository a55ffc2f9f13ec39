/**
 * The text of a download's progress notification: "42% · 223 MB of 531 MB · 12.3 MB/s · 25 s left".
 * Pure (no `vscode`), unit-tested in test/unit/extension-download-progress.test.ts. The speed is
 * measured over the last few seconds of progress reports, so a stall shows at once and a resumed
 * download's first report (bytes already on disk) does not count as speed.
 */

export function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(bytes >= 1e10 ? 0 : 1)} GB`;
  if (bytes >= 1e6) return `${Math.round(bytes / 1e6)} MB`;
  return `${Math.max(0, Math.round(bytes / 1e3))} kB`;
}

export function formatSpeed(bytesPerSecond: number): string {
  if (bytesPerSecond >= 1e6) return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
  return `${Math.round(bytesPerSecond / 1e3)} kB/s`;
}

export function formatTimeLeft(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '';
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min left`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min left`;
}

interface Sample {
  atMs: number;
  bytes: number;
}

export class DownloadMeter {
  private readonly samples: Sample[] = [];

  constructor(private readonly windowMs = 5000) {}

  /** Records a progress report; returns the speed over the window (undefined until 1 s of data). */
  sample(bytes: number, atMs: number): number | undefined {
    const last = this.samples.at(-1);
    // Bytes going down means a restart from zero (the server changed the file): start over.
    if (last && bytes < last.bytes) this.samples.length = 0;
    this.samples.push({ atMs, bytes });
    while (this.samples.length > 2 && atMs - this.samples[1]!.atMs >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const span = atMs - first.atMs;
    if (span < 1000) return undefined;
    return ((bytes - first.bytes) * 1000) / span;
  }
}

/** Percent (0-100, for the progress bar) and the one-line message. */
export function describeProgress(
  receivedBytes: number,
  totalBytes: number,
  bytesPerSecond: number | undefined,
): { percent: number; message: string } {
  const parts: string[] = [];
  let percent = 0;
  if (totalBytes > 0) {
    percent = Math.min(100, Math.max(0, (100 * receivedBytes) / totalBytes));
    parts.push(`${Math.floor(percent)}%`, `${formatSize(receivedBytes)} of ${formatSize(totalBytes)}`);
  } else {
    parts.push(formatSize(receivedBytes));
  }
  if (bytesPerSecond !== undefined) {
    if (bytesPerSecond < 1) parts.push('stalled');
    else {
      parts.push(formatSpeed(bytesPerSecond));
      if (totalBytes > receivedBytes) parts.push(formatTimeLeft((totalBytes - receivedBytes) / bytesPerSecond));
    }
  }
  return { percent, message: parts.join(' · ') };
}
