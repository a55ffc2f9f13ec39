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
 *
 * States that need the user stand out with a warning or error colour and say what to do in the
 * text itself, not only in the tooltip: no model chosen, the demo model (meaningless output), a
 * refused model file, invalid settings.
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
  const settingsProblems = status.settingsProblems ?? [];
  let text = `${icons[state]} Pronto`;
  if (status.needsModel) {
    text = '$(warning) Pronto: choose a model';
  } else if (status.modelProblem) {
    text = '$(error) Pronto: model refused';
  } else if (!status.enabled) {
    text = `$(circle-slash) Pronto`;
  } else if (status.demoModel && (state === 'ready' || state === 'busy')) {
    text = `${state === 'busy' ? icons.busy : '$(warning)'} Pronto demo: choose a model`;
  } else if (state === 'ready' || state === 'busy') {
    const figures = formatFigures(status);
    if (figures) text += ` ${figures}`;
  } else if (state !== 'starting') {
    text += ` ${labels[state]}`;
  }
  if (settingsProblems.length && !status.needsModel && !status.modelProblem)
    text = `${text.replace(/^\$\(sparkle\) /, '$(warning) ')} · check settings`;

  const lines: string[] = [];
  lines.push(`**Pronto**: ${labels[state]}${status.enabled ? '' : ' (completions disabled)'}`);
  if (status.message) lines.push(escapeMarkdown(status.message));
  if (settingsProblems.length) lines.push(settingsProblems.map((p) => `$(warning) ${escapeMarkdown(p.message)}`).join('  \n'));
  const details: string[] = [];
  if (status.model)
    details.push(
      `Model: ${escapeMarkdown(status.model)}${status.demoModel ? ' (demo model: output is meaningless; choose a real model)' : ''}`,
    );
  if (status.backend) details.push(`Backend: ${escapeMarkdown(status.backend)}`);
  const figures = formatFigures(status);
  if (figures) details.push(`Last completion: ${figures}`);
  if (details.length) lines.push(details.join('  \n'));
  lines.push(status.needsModel || status.demoModel || status.modelProblem ? 'Click to choose a model.' : 'Click for the menu.');

  const aria = [`Pronto: ${labels[state]}`];
  if (status.needsModel) aria.push('no model chosen, completions are off; click to choose a model');
  if (status.modelProblem) aria.push('the model file was refused; click to choose another');
  if (!status.enabled) aria.push('completions disabled');
  if (status.demoModel) aria.push('demo model, suggestions are meaningless; click to choose a model');
  if (settingsProblems.length) aria.push(`${settingsProblems.length} invalid setting${settingsProblems.length > 1 ? 's' : ''}`);
  if (figures && !status.demoModel) aria.push(figures.replace(' · ', ', '));
  const view: StatusView = { text, ariaLabel: aria.join(', '), tooltip: lines.join('\n\n') };
  if (state === 'error') view.background = 'statusBarItem.errorBackground';
  else if (state === 'degraded' || state === 'stopped' || settingsProblems.length || (status.demoModel && status.enabled))
    view.background = 'statusBarItem.warningBackground';
  return view;
}

/**
 * The one-line hint under the menu's input: short enough to fit (a quick pick shows about 70
 * characters); the full status sentence stays in the tooltip.
 */
export function menuHint(status: StatusParams | undefined, serverRunning: boolean): string {
  if (!serverRunning) return 'The language server is not running: restart it, or see the logs.';
  if (!status) return 'Starting…';
  if (status.needsModel) return 'No model chosen: completions are off. Choose a model first.';
  if (status.modelProblem) return 'The model file was refused: choose another (see the tooltip for why).';
  if (status.demoModel) return 'Demo model: suggestions are meaningless. Choose a real model.';
  if (status.engineGaveUp) return 'The engine keeps failing: see the logs, or choose another model.';
  if (status.settingsProblems?.length) return 'Some settings are invalid (their defaults are used): open Settings.';
  if (!status.enabled) return 'Completions are switched off.';
  if (status.state === 'error' || status.state === 'degraded') return 'Something is wrong: see the logs.';
  return 'Choose an action';
}
