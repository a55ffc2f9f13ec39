/**
 * Page script of "Pronto: Rollout" (extension/src/deploy/rolloutView.ts): renders the `state`
 * messages (protocol/deploy.ts) with textContent only, and asks for the allowed commands when a
 * button is pressed. Saves the last state with setState so it redraws at once when shown again.
 */
import type { DeployPhase, ExtensionToRolloutView, RolloutViewState, RolloutViewToExtension } from '../protocol/deploy';
import { el, vscodeApi } from './lib/page';
import { gateTableRows } from './lib/gateTable';

const vscode = vscodeApi<RolloutViewState, RolloutViewToExtension>();

/** The happy path, in order, for the phase strip. */
const STRIP: Array<[DeployPhase, string]> = [
  ['deploying', 'deploy'],
  ['waitingReady', 'ready'],
  ['smokeTesting', 'smoke test'],
  ['analysing', 'gates'],
  ['awaitingPromotion', 'promotion'],
  ['switching', 'switch'],
  ['watching', 'watch'],
  ['scalingDown', 'scale down'],
  ['succeeded', 'done'],
];

const PHASE_TEXT: Record<DeployPhase, string> = {
  deploying: 'Deploying the new colour',
  waitingReady: 'Waiting until the new colour is ready',
  smokeTesting: 'Smoke test through the preview service',
  analysing: 'Gates: measuring the new colour',
  awaitingPromotion: 'Gates passed: waiting for Promote',
  switching: 'Switching active to the new colour',
  watching: 'Post-promotion watch',
  scalingDown: 'Waiting to scale the old colour down',
  rollingBack: 'Rolling back',
  succeeded: 'Rollout succeeded',
  rolledBack: 'Rolled back',
  aborted: 'Aborted: rolled back',
};

const time = (ms: number) => new Date(ms).toLocaleTimeString();

function render(state: RolloutViewState | undefined): void {
  const problem = el('problem');
  const promote = el<HTMLButtonElement>('promote');
  const rollback = el<HTMLButtonElement>('rollback');
  if (!state) return;
  const s = state.status;
  if (!s.ok) {
    problem.hidden = false;
    problem.textContent =
      'serverDown' in s && s.serverDown
        ? 'The Pronto language server is not running.'
        : s.problems.map((p) => (p.line ? `line ${p.line}: ${p.path ? `${p.path}: ` : ''}${p.message}` : p.message)).join('\n');
    document.body.dataset.phase = 'unknown';
    promote.disabled = true;
    rollback.disabled = true;
    return;
  }
  problem.hidden = true;
  el('title').textContent = `Rollout of ${s.name}`;
  el('platform').textContent =
    `${s.platform} · active: ${s.active ?? 'none'}${s.drivenBy ? ` · driven by ${s.drivenBy}` : ''}${s.interrupted ? ' · interrupted: Deploy Engine… resumes it' : ''}`;
  const r = s.rollout;
  document.body.dataset.phase = r?.phase ?? 'none';
  const inProgress = r !== undefined && !['succeeded', 'rolledBack', 'aborted'].includes(r.phase);
  promote.disabled = !inProgress || r?.phase === 'rollingBack' || r?.phase === 'switching';
  rollback.disabled = !inProgress || r?.phase === 'rollingBack';

  const phases = el('phases');
  const reached = new Set(r?.history.map((h) => h.phase) ?? []);
  phases.replaceChildren(
    ...STRIP.filter(([p]) => p !== 'awaitingPromotion' || reached.has(p)).map(([p, label]) => {
      const li = document.createElement('li');
      li.textContent = label;
      li.dataset.phase = p;
      li.className = r?.phase === p ? 'current' : reached.has(p) ? 'done' : '';
      return li;
    }),
  );
  el('phase').textContent = r
    ? `${PHASE_TEXT[r.phase]} (${r.revision} → ${r.candidate}${r.stable ? `, stable ${r.stable}` : ''})${state.message && inProgress ? ` — ${state.message}` : ''}`
    : 'No rollout yet: run Pronto: Deploy Engine…';
  const reason = el('reason');
  reason.hidden = !r?.reason;
  reason.textContent = r?.reason ?? '';

  el<HTMLTableElement>('gates').tBodies[0]!.replaceChildren(...gateTableRows(r?.gates ?? []));
  el('history').replaceChildren(
    ...(r?.history ?? [])
      .slice(-12)
      .reverse()
      .map((h) => {
        const li = document.createElement('li');
        li.textContent = `${time(h.at)}  ${h.phase}: ${h.note}`;
        return li;
      }),
  );
  el('updated').textContent = `Updated ${time(state.at)}`;
}

el('promote').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.deploy.promote' }));
el('rollback').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.deploy.rollBack' }));
el('deploy').addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: 'pronto.deploy.start' }));

window.addEventListener('message', (event: MessageEvent<ExtensionToRolloutView>) => {
  if (event.data?.type !== 'state') return;
  vscode.setState(event.data);
  render(event.data);
});

render(vscode.getState());
vscode.postMessage({ type: 'ready' });
