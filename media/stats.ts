/**
 * Page script of the "Pronto: Statistics" panel (extension/src/statsPanel.ts). Plain DOM, no
 * framework. It renders what the extension sends (protocol/webview.ts) and never talks to the
 * server itself. On start it redraws the state saved with setState (the page is re-created each
 * time the panel is shown again), then posts `{ type: 'ready' }`; the extension answers with the
 * status and fresh stats, and then new stats every ~2 s. Data goes into the DOM with textContent
 * only.
 */
import type { ExtensionToWebview, StatsMessage, StatsPanelState, WebviewToExtension } from '../protocol/webview';
import { el, vscodeApi } from './lib/page';
import { clock, counters, recentRows, serverLine } from './lib/statsFormat';

const vscode = vscodeApi<StatsPanelState, WebviewToExtension>();
let state: StatsPanelState = vscode.getState() ?? {};

function renderServer(): void {
  const line = serverLine(state.status);
  const server = el('server');
  server.textContent = line.text;
  server.classList.toggle('down', line.down);
  document.body.dataset.server = state.status?.server ?? 'unknown';
  el<HTMLButtonElement>('restart').hidden = state.status?.server !== 'down';
  el<HTMLButtonElement>('refresh').disabled = state.status?.server === 'down';
}

function renderError(): void {
  const e = el('error');
  e.textContent = state.error ?? '';
  e.hidden = !state.error;
}

function renderStats(m: StatsMessage | undefined): void {
  const box = el('counters');
  const body = el<HTMLTableElement>('recent').tBodies[0]!;
  if (!m) {
    box.replaceChildren();
    body.replaceChildren();
    el('updated').textContent = 'No statistics yet.';
    return;
  }
  box.replaceChildren(
    ...counters(m.stats).map((c) => {
      const card = document.createElement('div');
      card.className = 'counter';
      card.dataset.stat = c.id;
      const value = document.createElement('span');
      value.className = 'value';
      value.textContent = c.value;
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = c.label;
      card.append(value, label);
      return card;
    }),
  );
  const rows = recentRows(m.stats);
  if (!rows.length) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 7;
    td.className = 'empty';
    td.textContent = 'No completions yet: type in an editor.';
    tr.append(td);
    body.replaceChildren(tr);
  } else {
    body.replaceChildren(
      ...rows.map((cells) => {
        const tr = document.createElement('tr');
        tr.className = 'record';
        cells.forEach((text, i) => {
          const td = document.createElement('td');
          td.textContent = text;
          if (i >= 3) td.className = 'num';
          tr.append(td);
        });
        return tr;
      }),
    );
  }
  const updated = el('updated');
  updated.textContent =
    state.status?.server === 'down'
      ? `Last figures, from ${clock(m.receivedAt)}, before the server stopped.`
      : `Updated ${clock(m.receivedAt)}, every 2 s while this panel is visible.`;
  updated.dataset.receivedAt = String(m.receivedAt);
}

function render(): void {
  renderServer();
  renderError();
  renderStats(state.stats);
}

function save(next: StatsPanelState): void {
  state = next;
  vscode.setState(state);
  render();
}

window.addEventListener('message', (event: MessageEvent<ExtensionToWebview>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'status':
      save({ ...state, status: msg, error: msg.server === 'down' ? undefined : state.error });
      break;
    case 'stats':
      save({ ...state, stats: msg, error: undefined });
      break;
    case 'statsError':
      save({ ...state, error: msg.message });
      break;
    default:
      break; // not ours (the webview host posts its own messages too)
  }
});

el('refresh').addEventListener('click', () => vscode.postMessage({ type: 'refresh' }));
el('logs').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.showLogs' }));
el('restart').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.restartServer' }));

render();
vscode.postMessage({ type: 'ready' });
