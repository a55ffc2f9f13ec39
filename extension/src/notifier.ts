/**
 * Turns the pushed status into notifications (attention.ts decides what and when) and opens the
 * walkthrough on the first run. The one place in the extension that pops up messages about the
 * server's state; commands report their own failures through the command table's handler.
 */
import * as vscode from 'vscode';
import { type Attention, type AttentionAction, actionTitles, attentionFor, newAttention } from './attention';
import type { Ctx } from './ctx';

export const WALKTHROUGH_ID = 'pronto-dev.pronto#pronto.welcome';
const WALKTHROUGH_SHOWN_KEY = 'pronto.walkthroughShown';

const actionCommands: Record<AttentionAction, string> = {
  selectModel: 'pronto.selectModel',
  downloadModel: 'pronto.downloadModel',
  chooseModel: 'pronto.chooseModel',
  showLogs: 'pronto.showLogs',
  openSettings: 'workbench.action.openSettings',
};

export class Notifier implements vscode.Disposable {
  private readonly said = new Set<string>();
  private readonly subscription: vscode.Disposable;

  constructor(private readonly ctx: Ctx) {
    this.subscription = ctx.onDidChange(() => this.update());
  }

  /**
   * Opens the "Get started with Pronto" walkthrough once per installation (VS Code opens an
   * extension's walkthrough by itself only from its Welcome page, which `npm start` and many users
   * turn off).
   */
  async openWalkthroughOnFirstRun(): Promise<void> {
    const state = this.ctx.extension.globalState;
    if (state.get<boolean>(WALKTHROUGH_SHOWN_KEY)) return;
    await state.update(WALKTHROUGH_SHOWN_KEY, true);
    this.ctx.log.info('first run: opening the walkthrough');
    await openWalkthrough();
  }

  private update(): void {
    // Only a pushed status clears reasons: a restarting server (no status yet) forgets nothing.
    const status = this.ctx.status;
    if (!status) return;
    for (const a of newAttention(this.said, attentionFor(status))) void this.show(a);
  }

  /** Not logged here: the server already logged the same sentence in this output channel. */
  private async show(a: Attention): Promise<void> {
    const show = a.severity === 'error' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    const titles = a.actions.map((x) => actionTitles[x]);
    const pick = await show(a.message, ...titles);
    const action = a.actions[titles.indexOf(pick ?? '')];
    if (!action) return;
    if (action === 'openSettings') await vscode.commands.executeCommand(actionCommands[action], a.setting ?? 'pronto.');
    else await vscode.commands.executeCommand(actionCommands[action]);
  }

  dispose(): void {
    this.subscription.dispose();
  }
}

export async function openWalkthrough(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false);
}
