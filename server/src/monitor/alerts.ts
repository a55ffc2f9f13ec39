/**
 * Alert rules over the monitor's series, evaluated in the sidecar at every sample (pure: the caller
 * passes the time). Per rule and source a small state machine keeps alerts from flapping:
 *
 *   ok ──value > threshold──► pending ──held for `forMs`──► firing (incident opens: "fired")
 *    ▲                           │ value <= threshold            │ value <= clearAt, or no data
 *    └───────────────────────────┘                               ▼
 *    └───────────────held for `forMs`────────────────────── clearing ──value > clearAt──► firing
 *                      (incident closes: "resolved")
 *
 * `clearAt = threshold × (1 − hysteresis)`: a value hovering around the threshold neither fires nor
 * clears repeatedly. No data (no requests in the window, a failed scrape) counts as recovered: an
 * alert clears by itself once the engine stops showing the problem. A notification is asked for
 * (`notify`) once per incident, and not again for the same rule and source within `cooldownMs`.
 */
import type {
  ActiveAlert,
  AlertIncident,
  AlertRuleId,
  AlertRuleInfo,
  AlertSeverity,
  MonitorAlerts,
  MonitorMetricId,
} from '../../../protocol/monitorData';
import type { MonitorAlertParams } from '../../../protocol/monitor';
import type { StatusAlert } from '../../../protocol/lsp';
import type { MonitorValues } from './engineSample';

export interface AlertSettings {
  /** 0 switches a rule off. */
  latencyP95Ms: number;
  gpuUtilisationPercent: number;
  memoryPercent: number;
  errorRatePercent: number;
  forMs: number;
  /** 0..100: how far below the threshold a value must fall to clear. */
  hysteresisPercent: number;
  cooldownMs: number;
}

export const HISTORY_LENGTH = 20;

export function alertRules(s: AlertSettings): AlertRuleInfo[] {
  const clear = (t: number) => t * (1 - Math.min(100, Math.max(0, s.hysteresisPercent)) / 100);
  const rule = (
    id: AlertRuleId,
    label: string,
    severity: AlertSeverity,
    metrics: MonitorMetricId[],
    threshold: number,
    unit: AlertRuleInfo['unit'],
  ): AlertRuleInfo => ({ id, label, severity, metrics, threshold, clearAt: clear(threshold), unit });
  return [
    rule('latency', 'Request latency p95', 'warning', ['requestP95WindowMs'], s.latencyP95Ms, 'ms'),
    rule('gpuUtilisation', 'GPU utilisation', 'critical', ['gpuUtilisationPercent'], s.gpuUtilisationPercent, '%'),
    rule('memory', 'Memory used', 'warning', ['gpuMemoryPercent', 'ramPercent'], s.memoryPercent, '%'),
    rule('errorRate', 'Error rate', 'warning', ['errorRateWindowPercent'], s.errorRatePercent, '%'),
  ];
}

/** The value a rule watches in one sample: its first series that was measured. */
export function ruleValue(rule: AlertRuleInfo, values: MonitorValues): number | null {
  for (const id of rule.metrics) {
    const v = values[id];
    if (v !== null && v !== undefined && Number.isFinite(v)) return v;
  }
  return null;
}

export function formatValue(v: number, unit: AlertRuleInfo['unit']): string {
  if (unit === 'ms') return `${v >= 100 ? Math.round(v) : Number(v.toPrecision(2))} ms`;
  if (unit === '%') return `${v >= 10 ? Math.round(v) : Number(v.toPrecision(2))}%`;
  return String(Math.round(v * 100) / 100);
}

interface RuleState {
  phase: 'ok' | 'pending' | 'firing' | 'clearing';
  since: number;
  value: number | null;
  incident?: AlertIncident;
}

export class AlertEvaluator {
  private settings: AlertSettings;
  private rules: AlertRuleInfo[];
  private readonly states = new Map<string, RuleState & { rule: AlertRuleId; source: string; label: string }>();
  private readonly lastNotified = new Map<string, number>();
  private readonly history: AlertIncident[] = [];
  private nextId = 1;

  constructor(settings: AlertSettings) {
    this.settings = settings;
    this.rules = alertRules(settings);
  }

  configure(settings: AlertSettings): void {
    this.settings = settings;
    this.rules = alertRules(settings);
  }

  /**
   * Evaluates every rule for one source's newest sample; returns the incidents that fired or
   * resolved. A rule switched off (threshold 0) resolves at once.
   */
  evaluate(now: number, source: string, sourceLabel: string, values: MonitorValues): MonitorAlertParams[] {
    const changes: MonitorAlertParams[] = [];
    for (const rule of this.rules) {
      const key = `${source}\u0000${rule.id}`;
      const st = this.states.get(key) ?? { phase: 'ok' as const, since: now, value: null, rule: rule.id, source, label: sourceLabel };
      st.label = sourceLabel;
      const v = rule.threshold > 0 ? ruleValue(rule, values) : null;
      st.value = v;
      const above = v !== null && v > rule.threshold;
      const recovered = v === null || v <= rule.clearAt;
      const held = (since: number) => now - since >= this.settings.forMs;
      if (rule.threshold <= 0) {
        if (st.incident) changes.push(this.resolve(st, now));
        st.phase = 'ok';
      } else if (st.phase === 'ok') {
        if (above) {
          st.phase = 'pending';
          st.since = now;
          if (held(st.since)) changes.push(this.fire(st, rule, now, v));
        }
      } else if (st.phase === 'pending') {
        if (!above) {
          st.phase = 'ok';
          st.since = now;
        } else if (held(st.since)) changes.push(this.fire(st, rule, now, v!));
      } else if (st.phase === 'firing') {
        if (recovered) {
          st.phase = 'clearing';
          st.since = now;
          if (held(st.since)) changes.push(this.resolve(st, now));
        } else this.notePeak(st, v!);
      } else if (st.phase === 'clearing') {
        if (!recovered) {
          st.phase = 'firing';
          st.since = now;
          this.notePeak(st, v!);
        } else if (held(st.since)) changes.push(this.resolve(st, now));
      }
      this.states.set(key, st);
    }
    return changes;
  }

  /** A source went away: its open incidents resolve, its states are forgotten. */
  dropSource(source: string, now: number): MonitorAlertParams[] {
    const changes: MonitorAlertParams[] = [];
    for (const [key, st] of this.states) {
      if (st.source !== source) continue;
      if (st.incident) changes.push(this.resolve(st, now));
      this.states.delete(key);
    }
    return changes;
  }

  private fire(st: RuleState & { source: string; label: string }, rule: AlertRuleInfo, now: number, value: number): MonitorAlertParams {
    st.phase = 'firing';
    st.since = now;
    const incident: AlertIncident = {
      id: this.nextId++,
      rule: rule.id,
      source: st.source,
      sourceLabel: st.label,
      severity: rule.severity,
      firedAt: now,
      peak: value,
      threshold: rule.threshold,
      message: `${rule.label} ${formatValue(value, rule.unit)} above ${formatValue(rule.threshold, rule.unit)} on ${st.label}`,
    };
    st.incident = incident;
    this.history.unshift(incident);
    if (this.history.length > HISTORY_LENGTH) this.history.length = HISTORY_LENGTH;
    const notifyKey = `${st.source}\u0000${rule.id}`;
    const last = this.lastNotified.get(notifyKey);
    const notify = last === undefined || now - last >= this.settings.cooldownMs;
    if (notify) this.lastNotified.set(notifyKey, now);
    return { incident: { ...incident }, change: 'fired', notify };
  }

  private resolve(st: RuleState, now: number): MonitorAlertParams {
    const incident = st.incident!;
    incident.resolvedAt = now;
    st.incident = undefined;
    st.phase = 'ok';
    st.since = now;
    return { incident: { ...incident }, change: 'resolved', notify: false };
  }

  private notePeak(st: RuleState, v: number): void {
    if (st.incident && v > st.incident.peak) st.incident.peak = v;
  }

  snapshot(): MonitorAlerts {
    const active: ActiveAlert[] = [];
    for (const st of this.states.values()) {
      if (st.phase === 'ok') continue;
      const rule = this.rules.find((r) => r.id === st.rule);
      if (!rule) continue;
      const shown = st.value === null ? 'no data' : formatValue(st.value, rule.unit);
      active.push({
        rule: st.rule,
        source: st.source,
        severity: rule.severity,
        phase: st.phase,
        since: st.since,
        value: st.value,
        threshold: rule.threshold,
        message:
          st.phase === 'pending'
            ? `${rule.label} ${shown} above ${formatValue(rule.threshold, rule.unit)} on ${st.label} (firing if it holds)`
            : st.phase === 'clearing'
              ? `${rule.label} back to ${shown} on ${st.label} (clears if it holds)`
              : `${rule.label} ${shown} above ${formatValue(rule.threshold, rule.unit)} on ${st.label}`,
      });
    }
    return { rules: this.rules.map((r) => ({ ...r })), forMs: this.settings.forMs, active, history: this.history.map((i) => ({ ...i })) };
  }

  /** The worst alert firing now (clearing counts: it has not cleared yet), for the status bar. */
  statusAlert(): StatusAlert | undefined {
    const firing = [...this.states.values()].filter((s) => s.phase === 'firing' || s.phase === 'clearing');
    if (!firing.length) return undefined;
    const critical = firing.filter((s) => this.rules.find((r) => r.id === s.rule)?.severity === 'critical');
    const worst = (critical[0] ?? firing[0])!;
    return {
      severity: critical.length ? 'critical' : 'warning',
      count: firing.length,
      summary: worst.incident?.message ?? `${worst.rule} on ${worst.label}`,
    };
  }
}
