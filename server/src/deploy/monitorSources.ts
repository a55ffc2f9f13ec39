/**
 * Which monitor sources a deployment contributes, and how the panel names them: a pure function of
 * what the platform reports (the record with its rollout, and the colours that run), table-tested in
 * test/unit/deploy-monitor-sources.test.ts. monitorLink.ts applies the plan to the monitor.
 *
 * Every running colour is a source with a stable id per deployment and colour, so its history stays
 * when its label changes ("green (candidate)" becomes "green (active)" at the switch) and it leaves
 * the panel when the colour stops (scaled down after a promote, or a rolled-back candidate). Its
 * `role` is the colour itself: the panel draws blue and green in those colours. No API key is in a
 * plan: the monitor reaches a colour through the platform (monitorLink.ts), which holds the key.
 */
import { createHash } from 'node:crypto';
import type { DeployGate } from '../../../protocol/deploy';
import type { MonitorDeploymentInfo, MonitorSourceSpec } from '../../../protocol/monitorData';
import { COLOURS, type Colour } from './manifests/render';
import type { Endpoints } from './platform/types';
import { isTerminal, type RolloutState } from './rollout/machine';

/** One deployment as read from its platform. */
export interface DeploymentReading {
  configFile: string;
  name: string;
  /** The colour `active` selects. */
  active?: Colour;
  /** The rollout in progress, or the last one. */
  rollout?: Pick<RolloutState, 'id' | 'phase' | 'stable' | 'candidate' | 'switched' | 'gates' | 'reason'>;
  /** The colours that run now, with their address (platform.endpoints().colours). */
  colours: Endpoints['colours'];
  /** The deployment could not be read this time (the colours are then the last ones read). */
  error?: string;
}

export interface PlannedSource {
  configFile: string;
  colour: Colour;
  spec: MonitorSourceSpec;
}

export interface DeploymentPlan {
  sources: PlannedSource[];
  deployments: MonitorDeploymentInfo[];
}

/** What a colour is to a person right now. */
export type ColourStatus = 'active' | 'candidate' | 'rolling back' | 'previous' | 'idle';

export function colourStatus(d: Pick<DeploymentReading, 'active' | 'rollout'>, colour: Colour): ColourStatus {
  const r = d.rollout && !isTerminal(d.rollout.phase) ? d.rollout : undefined;
  if (r?.phase === 'rollingBack' && colour === r.candidate) return 'rolling back';
  if (colour === d.active) return 'active';
  if (r && colour === r.candidate) return 'candidate';
  // After the switch the old colour stays up (post-promotion watch, scale-down delay) for a rollback.
  if (r && colour === r.stable) return 'previous';
  return 'idle';
}

/** A source id per deployment and colour, stable across labels, unique across config files, ≤ 64 characters. */
export function deploySourceId(configFile: string, name: string, colour: Colour): string {
  const hash = createHash('sha256').update(configFile).digest('hex').slice(0, 8);
  return `deploy-${name.slice(0, 32)}-${hash}-${colour}`;
}

const ORDER: Record<ColourStatus, number> = { active: 0, candidate: 1, 'rolling back': 1, previous: 2, idle: 3 };

function summary(d: DeploymentReading, shown: Array<{ colour: Colour; status: ColourStatus }>): string {
  const named = (c: { colour: Colour; status: ColourStatus }) => `${c.colour} (${c.status})`;
  const r = d.rollout;
  if (r && !isTerminal(r.phase)) {
    const candidate = shown.find((c) => c.colour === r.candidate);
    const others = shown.filter((c) => c.colour !== r.candidate);
    const who = candidate ? named(candidate) : r.candidate;
    return `Rollout ${r.id}: ${who} ${r.phase}${others.length ? ` next to ${others.map(named).join(', ')}` : ''}`;
  }
  const serving = shown.length ? `${shown.map(named).join(', ')} serving` : 'nothing running';
  if (!r) return serving;
  return `${serving}; the last rollout ${r.id} ended ${r.phase}${r.reason ? `: ${r.reason}` : ''}`;
}

function gatesOf(r: DeploymentReading['rollout']): DeployGate[] {
  return (r?.gates ?? []).map((g) => ({
    stage: g.stage,
    name: g.name,
    source: g.source,
    threshold: g.threshold,
    measured: g.measured,
    passed: g.passed,
  }));
}

/**
 * The monitor sources and the panel's deployment lines for these deployments. A deployment with no
 * colour running and no rollout in progress contributes nothing (it was taken down). With several
 * deployments the labels carry the deployment's name.
 */
export function planDeploymentSources(readings: DeploymentReading[]): DeploymentPlan {
  const live = readings.filter(
    (d) => COLOURS.some((c) => d.colours[c]) || (d.rollout && !isTerminal(d.rollout.phase)) || d.error !== undefined,
  );
  const named = live.length > 1;
  const sources: PlannedSource[] = [];
  const deployments: MonitorDeploymentInfo[] = [];
  for (const d of live) {
    const shown = COLOURS.filter((c) => d.colours[c])
      .map((colour) => ({ colour, status: colourStatus(d, colour) }))
      .sort((a, b) => ORDER[a.status] - ORDER[b.status]);
    const ids: string[] = [];
    for (const { colour, status } of shown) {
      const endpoint = d.colours[colour]!;
      const id = deploySourceId(d.configFile, d.name, colour);
      ids.push(id);
      sources.push({
        configFile: d.configFile,
        colour,
        spec: { id, label: `${named ? `${d.name}: ` : ''}${colour} (${status})`, url: endpoint.url, role: colour },
      });
    }
    const r = d.rollout;
    deployments.push({
      name: d.name,
      configFile: d.configFile,
      ...(d.active ? { active: d.active } : {}),
      ...(r
        ? {
            rollout: {
              id: r.id,
              phase: r.phase,
              candidate: r.candidate,
              switched: r.switched,
              gates: gatesOf(r),
              ...(r.reason ? { reason: r.reason } : {}),
            },
          }
        : {}),
      sources: ids,
      summary: summary(d, shown),
      ...(d.error !== undefined ? { error: d.error } : {}),
    });
  }
  return { sources, deployments };
}
