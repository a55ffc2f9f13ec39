/**
 * What deserves a notification, as a pure function of the pushed status (no `vscode` import, so it
 * is unit-tested directly: test/unit/extension-attention.test.ts). Each reason has a key; the
 * notifier shows a reason once when its key appears and forgets it when a status without it
 * arrives, so a problem that is fixed and comes back is said again, and one that persists across
 * busy/ready flips is said once.
 *
 * No model chosen is not a notification: the walkthrough opens and the status item says so.
 */
import type { StatusParams } from '../../protocol/lsp';

export type AttentionAction = 'selectModel' | 'downloadModel' | 'chooseModel' | 'showLogs' | 'openSettings';

export interface Attention {
  key: string;
  severity: 'error' | 'warning';
  /** One plain message, starting with "Pronto:". */
  message: string;
  /** Buttons, in order. */
  actions: AttentionAction[];
  /** For `openSettings`: the setting to show. */
  setting?: string;
}

/** Button titles. */
export const actionTitles: Record<AttentionAction, string> = {
  selectModel: 'Select Model File…',
  downloadModel: 'Download a Model…',
  chooseModel: 'Choose a Model…',
  showLogs: 'Show Logs',
  openSettings: 'Open Settings',
};

export function attentionFor(status: StatusParams | undefined): Attention[] {
  if (!status) return [];
  const out: Attention[] = [];
  const model = status.modelProblem;
  if (model) {
    out.push({
      key: `model:${model.setting}:${model.path}:${model.problem}`,
      severity: 'error',
      message: `Pronto: ${model.problem} ${model.advice}`,
      actions: model.setting === 'pronto.model.demo' ? ['chooseModel'] : ['selectModel', 'downloadModel'],
    });
  } else if (status.engineGaveUp) {
    out.push({
      key: `gaveUp:${status.message}`,
      severity: 'error',
      message: `Pronto: ${status.message}`,
      actions: ['showLogs', 'selectModel'],
    });
  }
  const settings = status.settingsProblems ?? [];
  if (settings.length === 1) {
    const only = settings[0]!;
    out.push({
      key: `settings:${only.setting}:${only.message}`,
      severity: 'warning',
      message: `Pronto: ${only.message}`,
      actions: ['openSettings'],
      setting: only.setting,
    });
  } else if (settings.length > 1) {
    out.push({
      key: `settings:${settings.map((p) => `${p.setting}:${p.message}`).join('|')}`,
      severity: 'warning',
      message: `Pronto: ${settings.length} settings have invalid values (${settings.map((p) => p.setting).join(', ')}); their defaults are used.`,
      actions: ['openSettings'],
      setting: 'pronto.',
    });
  }
  return out;
}

/**
 * Keys to say now, given the keys said before and the current reasons; `said` is updated (keys
 * whose reason went away are dropped, so they are said again if they return).
 */
export function newAttention(said: Set<string>, current: Attention[]): Attention[] {
  const keys = new Set(current.map((a) => a.key));
  for (const k of [...said]) if (!keys.has(k)) said.delete(k);
  const fresh = current.filter((a) => !said.has(a.key));
  for (const a of fresh) said.add(a.key);
  return fresh;
}
