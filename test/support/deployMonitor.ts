// A monitor sampler (MonitorService, alerts off, 1 s interval) with the deploy → monitor link
// (DeployMonitorLink) on it, for the tests of the link: unit (fake platform), integration (local
// platform, Kubernetes against the recorded-API server). Nothing runs on a timer: tests call
// `link.refresh()` and `service.tick()` themselves. `dispose` stops both.
import type { MonitorDeploymentInfo, MonitorSnapshot } from '../../protocol/monitorData';
import { DeployMonitorLink, type DeployMonitorLinkDeps } from '../../server/src/deploy/monitorLink';
import { type MonitorDeps, MonitorService } from '../../server/src/monitor/service';

export interface LinkedMonitor {
  service: MonitorService;
  link: DeployMonitorLink;
  /** The last deployment lines the link set. */
  deployments(): MonitorDeploymentInfo[];
  /** The last minute of every source, as a panel gets it. */
  snapshot(): MonitorSnapshot;
  dispose(): Promise<void>;
}

export function linkedMonitor(
  o: { createPlatform?: DeployMonitorLinkDeps['createPlatform']; scrape?: MonitorDeps['scrape']; log?: (line: string) => void } = {},
): LinkedMonitor {
  const service = new MonitorService(
    {
      intervalMs: 1000,
      windowMs: 60_000,
      alerts: {
        latencyP95Ms: 0,
        gpuUtilisationPercent: 0,
        memoryPercent: 0,
        errorRatePercent: 0,
        forMs: 0,
        hysteresisPercent: 0,
        cooldownMs: 0,
      },
    },
    { ...(o.scrape ? { scrape: o.scrape } : {}), ...(o.log ? { log: o.log } : {}) },
  );
  let deployments: MonitorDeploymentInfo[] = [];
  const link = new DeployMonitorLink({
    registry: service.sources,
    setDeployments: (d) => {
      deployments = d;
      service.setDeployments(d);
    },
    intervalMs: () => 1000,
    log: o.log ?? (() => undefined),
    ...(o.createPlatform ? { createPlatform: o.createPlatform } : {}),
  });
  return {
    service,
    link,
    deployments: () => deployments,
    snapshot: () => service.snapshot({ windowMs: 60_000 }, { records: [] } as never),
    async dispose() {
      await link.dispose();
      await service.stop();
    },
  };
}
