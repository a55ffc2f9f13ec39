/**
 * Context keys for `when` clauses (package.json `menus.commandPalette`), so the command palette only
 * offers what makes sense now: Enable or Disable (not both), Start or Stop the language server, Restart
 * Engine only with a model to run.
 *
 *   pronto.serverRunning  the language server is up
 *   pronto.enabled        completions are switched on
 *   pronto.needsModel     no model is chosen (the engine is not started)
 */
import * as vscode from 'vscode';
import type { Ctx } from './ctx';

export class ContextKeys implements vscode.Disposable {
  private readonly subscription: vscode.Disposable;
  private last = '';

  constructor(private readonly ctx: Ctx) {
    this.subscription = ctx.onDidChange(() => this.update());
    this.update();
  }

  private update(): void {
    const status = this.ctx.status;
    const keys = {
      'pronto.serverRunning': this.ctx.runningClient !== undefined,
      'pronto.enabled': status?.enabled ?? vscode.workspace.getConfiguration('pronto').get<boolean>('enable', true),
      'pronto.needsModel': status?.needsModel === true,
    };
    const now = JSON.stringify(keys);
    if (now === this.last) return;
    this.last = now;
    for (const [key, value] of Object.entries(keys)) void vscode.commands.executeCommand('setContext', key, value);
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
