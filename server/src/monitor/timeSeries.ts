/**
 * A bounded time series: one row per sample (a time and a value for every series id), kept in a
 * ring of fixed capacity, so memory stays constant however long the sidecar runs. Values are stored
 * in Float64Arrays with NaN for "not measured", and come back out as `null`.
 */
import { MONITOR_METRIC_IDS, type MonitorMetricId, type MonitorSeries } from '../../../protocol/monitorData';
import type { MonitorValues } from './engineSample';

export class TimeSeriesRing {
  private times: Float64Array;
  private columns: Map<MonitorMetricId, Float64Array>;
  /** Index of the oldest row. */
  private head = 0;
  private size = 0;

  constructor(
    private capacity: number,
    private readonly ids: readonly MonitorMetricId[] = MONITOR_METRIC_IDS,
  ) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.times = new Float64Array(capacity);
    this.columns = new Map(ids.map((id) => [id, new Float64Array(capacity)]));
  }

  get length(): number {
    return this.size;
  }

  get maxLength(): number {
    return this.capacity;
  }

  /** Appends a row; the oldest one goes when full. Ids not in `values` are stored as not measured. */
  push(t: number, values: MonitorValues): void {
    const slot = (this.head + this.size) % this.capacity;
    this.times[slot] = t;
    for (const [id, column] of this.columns) {
      const v = values[id];
      column[slot] = v === null || v === undefined || !Number.isFinite(v) ? Number.NaN : v;
    }
    if (this.size < this.capacity) this.size++;
    else this.head = (this.head + 1) % this.capacity;
  }

  /** Time of the newest row, or undefined when empty. */
  get lastTime(): number | undefined {
    return this.size ? this.times[(this.head + this.size - 1) % this.capacity] : undefined;
  }

  /** The newest value of a series (null when not measured or empty). */
  latest(id: MonitorMetricId): number | null {
    if (!this.size) return null;
    const v = this.columns.get(id)?.[(this.head + this.size - 1) % this.capacity];
    return v === undefined || Number.isNaN(v) ? null : v;
  }

  /** Rows with `from <= t` and, when given, `t > after`, oldest first. */
  window(from: number, after?: number): MonitorSeries {
    const rows: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const slot = (this.head + i) % this.capacity;
      const t = this.times[slot]!;
      if (t >= from && (after === undefined || t > after)) rows.push(slot);
    }
    const values = {} as MonitorSeries['values'];
    for (const id of this.ids) {
      const column = this.columns.get(id)!;
      values[id] = rows.map((slot) => {
        const v = column[slot]!;
        return Number.isNaN(v) ? null : v;
      });
    }
    return { t: rows.map((slot) => this.times[slot]!), values };
  }

  /** Changes the capacity, keeping the newest rows that fit. */
  resize(capacity: number): void {
    if (capacity === this.capacity) return;
    const all = this.window(Number.NEGATIVE_INFINITY);
    const keep = Math.min(all.t.length, capacity);
    const start = all.t.length - keep;
    this.capacity = capacity;
    this.times = new Float64Array(capacity);
    this.columns = new Map(this.ids.map((id) => [id, new Float64Array(capacity)]));
    this.head = 0;
    this.size = 0;
    for (let i = start; i < all.t.length; i++) {
      const row: MonitorValues = {};
      for (const id of this.ids) row[id] = all.values[id][i];
      this.push(all.t[i]!, row);
    }
  }
}
