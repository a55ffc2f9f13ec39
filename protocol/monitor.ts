/**
 * The monitor's messages (extension ↔ server, and any other feature that wants to show an engine in
 * the monitor). The sidecar samples every registered *source* (an engine's `/metrics`, plus its own
 * per-request records for the engine its completions go to) on a fixed interval into a bounded time
 * series; clients ask for a window of it with `pronto/monitor/snapshot`. Alerts are evaluated in the
 * sidecar, so every client (the VS Code panel, the status bar, another editor) sees the same ones.
 *
 * Data model: a list of named sources, each with the same set of series (`MONITOR_METRICS`), sampled
 * at the same instants. A value is `null` when it was not measured in that interval (no requests, a
 * failed scrape) or the engine does not report it (`unavailable`, with the reason): never 0.
 *
 * Sources: the sidecar's own engine is always there (`id: "engine"`, local or remote). Other features
 * (deployment: blue and green side by side) add and remove named sources with
 * `pronto/monitor/addSource` / `removeSource`, or in-process through `MonitorService.sources`
 * (server/src/monitor/). See server/README.md, "Monitor".
 */
import { NotificationType, RequestType } from 'vscode-languageserver-protocol';
import { z } from 'zod';
import type { AlertIncident, MonitorSnapshot, MonitorSnapshotParams, MonitorSourceInfo, MonitorSourceSpec } from './monitorData';

export * from './monitorData';

const SOURCE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Validation of `pronto/monitor/addSource` params (a trust boundary: any client may send it). */
export const monitorSourceSpecSchema = z.strictObject({
  id: z.string().regex(SOURCE_ID, 'must be 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit'),
  label: z.string().min(1).max(120),
  url: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().max(4096).optional(),
  role: z.string().max(32).optional(),
});

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

/** client → server, request: the monitor's state and a window of every source's series. */
export namespace MonitorSnapshotRequest {
  export const method = 'pronto/monitor/snapshot' as const;
  export const type = new RequestType<MonitorSnapshotParams, MonitorSnapshot, void>(method);
}

/** client → server, request: add (or replace, same id) a named source; answers the source list. */
export namespace MonitorAddSourceRequest {
  export const method = 'pronto/monitor/addSource' as const;
  export const type = new RequestType<MonitorSourceSpec, { sources: MonitorSourceInfo[] }, void>(method);
}

/** client → server, request: remove a source added with addSource (the engine source cannot be). */
export namespace MonitorRemoveSourceRequest {
  export const method = 'pronto/monitor/removeSource' as const;
  export const type = new RequestType<{ id: string }, { sources: MonitorSourceInfo[] }, void>(method);
}

export interface MonitorAlertParams {
  incident: AlertIncident;
  /** `fired` or `resolved`. */
  change: 'fired' | 'resolved';
  /** Show a notification: the first firing of an incident outside the rule's cooldown. */
  notify: boolean;
}

/** server → client, notification: an alert fired or resolved. */
export namespace MonitorAlertNotification {
  export const method = 'pronto/monitor/alert' as const;
  export const type = new NotificationType<MonitorAlertParams>(method);
}
