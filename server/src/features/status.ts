/**
 * Status and statistics: `pronto/stats` (the per-request records and counters) and
 * `pronto/requestStatus` (push `pronto/status` again). The status itself is built by the shared
 * StatusReporter, which every feature reports to.
 */
import { RequestStatusNotification, StatsRequest, type StatsResult } from '../../../protocol/lsp';
import type { Feature } from './feature';

export const statusFeature: Feature = {
  name: 'status',
  register(ctx) {
    ctx.connection.onRequest(StatsRequest.method, (): StatsResult => ctx.stats.snapshot());
    ctx.connection.onNotification(RequestStatusNotification.method, () => ctx.status.resend());
    return undefined;
  },
};
