/**
 * Page script of the "Pronto: Monitor" panel (extension/src/monitorPanel.ts). Plain DOM plus uPlot
 * for the charts. It renders what the extension sends (protocol/webview.ts) and never talks to the
 * server itself. On start it restores its choices (window, pause, show cancelled) from setState and
 * posts `{ type: 'ready' }`; the extension answers with the status and a full snapshot, then with
 * incremental ones every sample interval. Data goes into the DOM with textContent only.
 *
 * Hooks for tests and people: every chart card has `data-chart`, `data-points` (samples in the
 * window), `data-last` (newest sample time), `data-measured` (values measured), `data-measured-sources`
 * (labels of the sources measured, `|`-separated), `data-threshold` and
 * `data-unavailable`; the alerts
 * section has `data-severity` (none | warning | critical). Each deployment whose colours are
 * sources (blue and green side by side during a rollout) is an `article[data-deployment]` with
 * `data-phase` and its gate rows (`tr[data-gate]`), above the charts.
 */
import 'uplot/dist/uPlot.min.css';
import { MONITOR_WINDOWS_MS, type MonitorSnapshot, type MonitorWindowMs } from '../protocol/monitorData';
import type { ExtensionToWebview, MonitorPanelState, StatusMessage, WebviewToExtension } from '../protocol/webview';
import { gateTableRows } from './lib/gateTable';
import { ChartView, composePng, readTheme, type Theme } from './lib/monitorCharts';
import { CHARTS, chartData, formatValue, mergeSnapshot, sourceLine, windowLabel, type SeriesStore } from './lib/monitorFormat';
import { acceptanceRows, clock, counters, recentRows, serverLine } from './lib/statsFormat';

interface VsCodeApi {
  postMessage(msg: WebviewToExtension): void;
  getState(): MonitorPanelState | undefined;
  setState(state: MonitorPanelState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const saved: MonitorPanelState = vscode.getState() ?? {};
const DEFAULT_WINDOW: MonitorWindowMs = MONITOR_WINDOWS_MS[0];
const asWindow = (v: unknown): MonitorWindowMs | undefined => MONITOR_WINDOWS_MS.find((w) => w === v);

let status: StatusMessage | undefined;
let snapshot: MonitorSnapshot | undefined;
let receivedAt: number | undefined;
let store: SeriesStore | undefined;
let error: string | undefined;
let theme: Theme = readTheme();

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`monitor page: #${id} is missing`);
  return e as T;
}

function make<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function save(next: Partial<MonitorPanelState>): void {
  Object.assign(saved, next);
  vscode.setState(saved);
}

// ---------------------------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------------------------

const views: ChartView[] = CHARTS.map((def) => {
  const card = make('article', 'chart');
  card.dataset.chart = def.id;
  const head = make('header');
  head.append(make('h3', undefined, def.title), make('span', 'current', '–'));
  card.append(head, make('div', 'plot'), make('p', 'unavailable'), make('p', 'notes'));
  el('charts').append(card);
  return new ChartView(def, card);
});

function renderCharts(): void {
  if (!snapshot || !store) return;
  for (const view of views) {
    const data = chartData(view.def, snapshot.sources, store, snapshot.alerts.rules);
    const card = view.card;
    card.dataset.points = String(data.xs.length);
    card.dataset.last = String(data.xs[data.xs.length - 1] ?? '');
    card.dataset.measured = String(data.measured);
    card.dataset.measuredSources = data.measuredSources.join('|');
    if (data.threshold) card.dataset.threshold = String(data.threshold.value);
    else delete card.dataset.threshold;
    card.dataset.unavailable = data.unavailable ?? '';
    const current = data.current === null ? '–' : formatValue(data.current, view.def.unit);
    const headline = view.def.headline && data.headline !== null ? ` · ${formatValue(data.headline, '%')} accepted` : '';
    card.querySelector('.current')!.textContent = `${current}${headline}`;
    const unavailable = card.querySelector<HTMLElement>('.unavailable')!;
    unavailable.textContent = data.unavailable ? `Unavailable: ${data.unavailable}` : '';
    unavailable.hidden = !data.unavailable;
    card.classList.toggle('is-unavailable', Boolean(data.unavailable));
    const notes = card.querySelector<HTMLElement>('.notes')!;
    notes.textContent = data.unavailable ? '' : data.notes.join(' · ');
    view.render(data, theme);
  }
}

// Follow the editor's theme: VS Code swaps the body class (vscode-light / vscode-dark / …).
new MutationObserver(() => {
  const next = readTheme();
  if (next.key === theme.key) return;
  theme = next;
  renderCharts();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

new ResizeObserver(() => {
  for (const v of views) v.resize();
}).observe(el('charts'));

// ---------------------------------------------------------------------------------------------
// Everything else
// ---------------------------------------------------------------------------------------------

function renderServer(): void {
  const line = serverLine(status);
  const server = el('server');
  server.textContent = line.text;
  server.classList.toggle('down', line.down);
  document.body.dataset.server = status?.server ?? 'unknown';
  el<HTMLButtonElement>('restart').hidden = status?.server !== 'down';
  const e = el('error');
  e.textContent = error ?? '';
  e.hidden = !error;
}

function renderSources(): void {
  const list = el('sources');
  list.replaceChildren(
    ...(snapshot?.sources ?? []).map((s) => {
      const li = make('li', `source state-${s.state}`, sourceLine(s));
      li.dataset.source = s.id;
      if (s.role) li.dataset.role = s.role;
      return li;
    }),
  );
}

/** A deployment's line (phase, which colour is which), its rollout's gates and why it ended, above the charts. */
function renderDeployments(): void {
  const section = el('deployments');
  const deployments = snapshot?.deployments ?? [];
  section.hidden = !deployments.length;
  section.replaceChildren(
    ...deployments.map((d) => {
      const card = make('article', 'deployment');
      card.dataset.deployment = d.name;
      card.dataset.phase = d.rollout?.phase ?? 'none';
      const inProgress = d.rollout && !['succeeded', 'rolledBack', 'aborted'].includes(d.rollout.phase);
      card.append(make('h2', undefined, `Deployment ${d.name}`), make('p', 'summary', d.summary));
      if (d.error) card.append(make('p', 'error', `Cannot read it now: ${d.error}`));
      if (d.rollout?.reason) card.append(make('p', 'reason', d.rollout.reason));
      if (d.rollout) {
        const table = make('table', 'gates');
        const head = make('tr');
        for (const h of ['gate', 'measured by', 'threshold', 'measured', 'result']) head.append(make('th', undefined, h));
        table.append(make('thead'), make('tbody'));
        table.tHead!.append(head);
        table.tBodies[0]!.append(...gateTableRows(d.rollout.gates));
        const wrap = make('div', 'table-wrap');
        wrap.append(table);
        if (inProgress) card.append(wrap);
        else {
          const box = make('details');
          box.append(make('summary', undefined, `Gates of the last rollout (${d.rollout.phase})`), wrap);
          card.append(box);
        }
      }
      return card;
    }),
  );
}

function thresholdsLine(s: MonitorSnapshot): string {
  const parts = s.alerts.rules.map((r) => `${r.label} ${r.threshold > 0 ? `> ${formatValue(r.threshold, r.unit)}` : 'off'}`);
  return `No alerts. Thresholds: ${parts.join(' · ')}; for ${Math.round(s.alerts.forMs / 1000)} s.`;
}

function renderAlerts(): void {
  const section = el('alerts');
  const active = el('alerts-active');
  if (!snapshot) return;
  const alerts = snapshot.alerts;
  const firing = alerts.active.filter((a) => a.phase !== 'pending');
  section.dataset.severity = firing.some((a) => a.severity === 'critical') ? 'critical' : firing.length ? 'warning' : 'none';
  if (!alerts.active.length) active.replaceChildren(make('li', 'quiet', thresholdsLine(snapshot)));
  else
    active.replaceChildren(
      ...alerts.active.map((a) => {
        const li = make('li', `alert ${a.severity} ${a.phase}`);
        li.dataset.rule = a.rule;
        li.dataset.phase = a.phase;
        li.append(make('strong', undefined, a.phase === 'pending' ? 'pending' : a.severity), document.createTextNode(` ${a.message}`));
        return li;
      }),
    );
  const history = el('alerts-history');
  history.replaceChildren(
    ...(alerts.history.length
      ? alerts.history.slice(0, 10).map((i) => {
          const li = make('li', `incident ${i.severity}`);
          const until = i.resolvedAt ? `resolved ${clock(i.resolvedAt)}` : 'firing';
          li.textContent = `${clock(i.firedAt)} ${i.severity}: ${i.message} (${until})`;
          return li;
        })
      : [make('li', 'quiet', 'None yet.')]),
  );
}

function renderTables(): void {
  if (!snapshot) return;
  el('counters').replaceChildren(
    ...counters(snapshot.stats, snapshot.acceptance).map((c) => {
      const card = make('div', 'counter');
      card.dataset.stat = c.id;
      card.append(make('span', 'value', c.value), make('span', 'label', c.label));
      return card;
    }),
  );
  const acceptance = el<HTMLTableElement>('acceptance').tBodies[0]!;
  const aRows = acceptanceRows(snapshot.acceptance);
  acceptance.replaceChildren(
    ...(aRows.length
      ? aRows.map((cells) => {
          const tr = make('tr');
          tr.dataset.language = cells[0];
          cells.forEach((text, i) => {
            tr.append(make('td', i > 0 ? 'num' : undefined, text));
          });
          return tr;
        })
      : [emptyRow(7, 'No suggestions shown yet.')]),
  );
  const recent = el<HTMLTableElement>('recent').tBodies[0]!;
  const rows = recentRows(snapshot.stats, { showCancelled: saved.showCancelled === true });
  recent.replaceChildren(
    ...(rows.length
      ? rows.map((row) => {
          const tr = make('tr');
          if (row.kind === 'cancelled') {
            tr.className = 'cancelled-run';
            const td = make('td', undefined, row.text);
            td.colSpan = 8;
            tr.append(td);
            return tr;
          }
          tr.className = `record outcome-${row.outcome}`;
          row.cells.forEach((text, i) => {
            tr.append(make('td', i >= 4 ? 'num' : undefined, text));
          });
          return tr;
        })
      : [emptyRow(8, 'No completions yet: type in an editor.')]),
  );
}

function emptyRow(span: number, text: string): HTMLTableRowElement {
  const tr = make('tr');
  const td = make('td', 'empty', text);
  td.colSpan = span;
  tr.append(td);
  return tr;
}

function renderUpdated(): void {
  const updated = el('updated');
  if (receivedAt === undefined) {
    updated.textContent = 'No figures yet.';
    return;
  }
  const every = snapshot ? `${Math.round(snapshot.intervalMs / 1000)} s` : '';
  const win = windowLabel(saved.windowMs ?? DEFAULT_WINDOW);
  updated.textContent =
    status?.server === 'down'
      ? `Last figures, from ${clock(receivedAt)}, before the server stopped.`
      : saved.paused
        ? `Paused at ${clock(receivedAt)}.`
        : `Updated ${clock(receivedAt)}, every ${every}; the last ${win}.`;
  updated.dataset.receivedAt = String(receivedAt);
}

function renderControls(): void {
  el<HTMLSelectElement>('window').value = String(saved.windowMs ?? DEFAULT_WINDOW);
  const pause = el<HTMLButtonElement>('pause');
  pause.textContent = saved.paused ? 'Resume' : 'Pause';
  pause.setAttribute('aria-pressed', String(saved.paused === true));
  el<HTMLInputElement>('show-cancelled').checked = saved.showCancelled === true;
  document.body.dataset.paused = String(saved.paused === true);
}

function renderAll(): void {
  renderControls();
  renderServer();
  renderSources();
  renderDeployments();
  renderAlerts();
  renderTables();
  renderUpdated();
  renderCharts();
}

function showExported(text: string, failed: boolean): void {
  const e = el('exported');
  e.textContent = text;
  e.hidden = false;
  e.classList.toggle('failed', failed);
}

window.addEventListener('message', (event: MessageEvent<ExtensionToWebview>) => {
  const msg = event.data;
  switch (msg?.type) {
    case 'status':
      status = msg;
      if (msg.server === 'down') error = undefined;
      renderServer();
      renderUpdated();
      break;
    case 'snapshot':
      snapshot = msg.snapshot;
      receivedAt = msg.receivedAt;
      store = mergeSnapshot(store, msg.snapshot, msg.windowMs, msg.full);
      error = undefined;
      renderAll();
      break;
    case 'snapshotError':
      error = msg.message;
      renderServer();
      break;
    case 'exported':
      if (msg.error) showExported(`The ${msg.format.toUpperCase()} snapshot was not saved: ${msg.error}`, true);
      else if (msg.path) showExported(`Saved the ${msg.format.toUpperCase()} snapshot to ${msg.path}`, false);
      el('exported').dataset.format = msg.format;
      break;
    default:
      break; // not ours (the webview host posts its own messages too)
  }
});

el<HTMLSelectElement>('window').addEventListener('change', (e) => {
  const windowMs = asWindow(Number((e.target as HTMLSelectElement).value));
  if (windowMs === undefined) return;
  save({ windowMs });
  vscode.postMessage({ type: 'setWindow', windowMs });
});
el('pause').addEventListener('click', () => {
  save({ paused: !saved.paused });
  renderControls();
  renderUpdated();
  vscode.postMessage({ type: 'setPaused', paused: saved.paused === true });
});
el('export-png').addEventListener('click', () => {
  try {
    const title = `Pronto monitor · ${new Date().toLocaleString()} · last ${windowLabel(saved.windowMs ?? DEFAULT_WINDOW)}`;
    vscode.postMessage({ type: 'exportPng', dataUrl: composePng(views, theme, title) });
  } catch (err) {
    showExported(`The PNG snapshot could not be drawn: ${(err as Error).message}`, true);
  }
});
el('export-json').addEventListener('click', () => vscode.postMessage({ type: 'exportJson' }));
el('logs').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.showLogs' }));
el('restart').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.restartServer' }));
el('alert-settings').addEventListener('click', () => vscode.postMessage({ type: 'openAlertSettings' }));
el<HTMLInputElement>('show-cancelled').addEventListener('change', (e) => {
  save({ showCancelled: (e.target as HTMLInputElement).checked });
  renderTables();
});

renderAll();
vscode.postMessage({ type: 'ready' });
// The extension starts with the default window and unpaused: tell it what this page had chosen.
const savedWindow = asWindow(saved.windowMs);
if (savedWindow !== undefined && savedWindow !== DEFAULT_WINDOW) vscode.postMessage({ type: 'setWindow', windowMs: savedWindow });
if (saved.paused) vscode.postMessage({ type: 'setPaused', paused: true });
