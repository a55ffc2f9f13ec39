/**
 * The rows of a rollout's gate table (gate, measured by, threshold, measured, result), grouped by
 * stage: shared by the rollout view (media/rollout.ts) and the monitor's deployment lines
 * (media/monitor.ts). Text goes in with textContent only. Rows carry `data-gate` and `data-stage`.
 */
import type { DeployGate } from '../../protocol/deploy';

const STAGE: Record<DeployGate['stage'], string> = {
  smoke: 'Smoke test',
  analysis: 'Before the switch (preview)',
  watch: 'After the switch (active)',
};

export function gateTableRows(gates: DeployGate[]): HTMLTableRowElement[] {
  if (!gates.length) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 5;
    td.className = 'muted';
    td.textContent = 'No gate measured yet.';
    tr.append(td);
    return [tr];
  }
  const rows: HTMLTableRowElement[] = [];
  for (const stage of ['smoke', 'analysis', 'watch'] as const) {
    const inStage = gates.filter((g) => g.stage === stage);
    if (!inStage.length) continue;
    const head = document.createElement('tr');
    head.className = 'stage';
    const th = document.createElement('th');
    th.colSpan = 5;
    th.textContent = STAGE[stage];
    head.append(th);
    rows.push(head);
    for (const g of inStage) {
      const tr = document.createElement('tr');
      tr.className = g.passed ? 'pass' : 'fail';
      tr.dataset.gate = g.name;
      tr.dataset.stage = g.stage;
      for (const text of [g.name, g.source, g.threshold, g.measured, g.passed ? 'pass' : 'FAIL']) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      rows.push(tr);
    }
  }
  return rows;
}
