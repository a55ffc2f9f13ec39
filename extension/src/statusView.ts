/**
 * What the status bar item shows for a given server status: a pure function of the pushed
 * `pronto/status` params (protocol/lsp.ts) and of whether the language server is running at all.
 * No `vscode` import, so it is unit-tested directly (test/unit/extension-status-view.test.ts).
 */
import type { ServerState, StatusParams } from '../../protocol/lsp';

export interface StatusView {
  /** Status bar text, with codicons. */
  text: string;
  /** Screen-reader label; starts with "Pronto: <state>" (the e2e tests read it). */
  ariaLabel: string;
  /** Markdown tooltip. */
  tooltip: string;
  /** Theme colour id for the background, for states that need attention. */
  background?: 'statusBarItem.errorBackground' | 'statusBarItem.warningBackground';
}

const icons: Record<ServerState, string> = {
  starting: '$(loading~spin)',
  ready: '$(sparkle)',
  busy: '$(loading~spin)',
  degraded: '$(warning)',
  error: '$(error)',
  stopped: '$(circle-slash)',
};

const labels: Record<ServerState, string> = {
  starting: 'starting',
  ready: 'ready',
  busy: 'busy',
  degraded: 'degraded',
  error: 'error',
  stopped: 'stopped',
};

/** Formats tokens/s and latency compactly: "18.4 tok/s · 212 ms". Empty when neither is known. */
export function formatFigures(status: Pick<StatusParams, 'tokensPerSecond' | 'lastLatencyMs'>): string {
  const parts: string[] = [];
  if (typeof status.tokensPerSecond === 'number' && Number.isFinite(status.tokensPerSecond)) {
    const tps = status.tokensPerSecond;
    parts.push(`${tps >= 100 ? Math.round(tps) : tps.toFixed(1)} tok/s`);
  }
  if (typeof status.lastLatencyMs === 'number' && Number.isFinite(status.lastLatencyMs)) {
    const ms = status.lastLatencyMs;
    parts.push(ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`);
  }
  return parts.join(' · ');
}

function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, (c) => `\\${c}`);
}

/**
 * `status` undefined means no status has been pushed yet (the server is still starting);
 * `serverRunning` false means the language server process is not running (stopped or crashed).
 */
export function renderStatus(status: StatusParams | undefined, serverRunning: boolean): StatusView {
  if (!serverRunning) {
    return {
      text: `${icons.stopped} Pronto`,
      ariaLabel: 'Pronto: stopped, the language server is not running',
      tooltip: 'Pronto: the language server is not running. Click for the menu (restart, logs).',
      background: 'statusBarItem.warningBackground',
    };
  }
  if (!status) {
    return { text: `${icons.starting} Pronto`, ariaLabel: 'Pronto: starting', tooltip: 'Pronto: starting the language server…' };
  }
  const state = status.state;
  let text = `${icons[state]} Pronto`;
  if (!status.enabled) {
    text = `$(circle-slash) Pronto`;
  } else if (state === 'ready' || state === 'busy') {
    const figures = formatFigures(status);
    if (figures) text += ` ${figures}`;
  } else if (state !== 'starting') {
    text += ` ${labels[state]}`;
  }
  if (status.demoModel && status.enabled) text += ' (demo)';

  const lines: string[] = [];
  lines.push(`**Pronto**: ${labels[state]}${status.enabled ? '' : ' (completions disabled)'}`);
  if (status.message) lines.push(escapeMarkdown(status.message));
  const details: string[] = [];
  if (status.model)
    details.push(
      `Model: ${escapeMarkdown(status.model)}${status.demoModel ? ' (demo model: output is meaningless; choose a real model)' : ''}`,
    );
  if (status.backend) details.push(`Backend: ${escapeMarkdown(status.backend)}`);
  const figures = formatFigures(status);
  if (figures) details.push(`Last completion: ${figures}`);
  if (details.length) lines.push(details.join('  \n'));
  lines.push('Click for the menu.');

  const aria = [`Pronto: ${labels[state]}`];
  if (!status.enabled) aria.push('completions disabled');
  if (status.demoModel) aria.push('demo model');
  if (figures) aria.push(figures.replace(' · ', ', '));
  const view: StatusView = { text, ariaLabel: aria.join(', '), tooltip: lines.join('\n\n') };
  if (state === 'error') view.background = 'statusBarItem.errorBackground';
  else if (state === 'degraded' || state === 'stopped') view.background = 'statusBarItem.warningBackground';
  return withAlert(view, status.alert);
}

/** A monitor alert firing: its icon and count in the text, its colour, its summary in the tooltip. */
function withAlert(view: StatusView, alert: StatusParams['alert']): StatusView {
  if (!alert) return view;
  const critical = alert.severity === 'critical';
  const more = alert.count > 1 ? ` (${alert.count} alerts firing)` : '';
  return {
    text: `${view.text} ${critical ? '$(error)' : '$(warning)'}${alert.count > 1 ? ` ${alert.count}` : ''}`,
    ariaLabel: `${view.ariaLabel}, ${alert.severity} alert: ${alert.summary}`,
    tooltip: `${view.tooltip}\n\n**${critical ? 'Critical alert' : 'Warning'}**: ${escapeMarkdown(alert.summary)}${more}. See "Pronto: Show Monitor".`,
    background:
      critical || view.background === 'statusBarItem.errorBackground' ? 'statusBarItem.errorBackground' : 'statusBarItem.warningBackground',
  };
}
