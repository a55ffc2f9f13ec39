/** The status bar item: renders Ctx's state through the pure `renderStatus`; a click opens the menu. */
import * as vscode from 'vscode';
import type { Ctx } from './ctx';
import { renderStatus } from './statusView';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('pronto.status', vscode.StatusBarAlignment.Right, 100);
  private readonly subscription: vscode.Disposable;
  /** Until the first start has finished, a missing client means "starting", not "not running". */
  private firstStart = true;

  constructor(private readonly ctx: Ctx) {
    this.item.name = 'Pronto';
    this.item.command = 'pronto.showMenu';
    this.subscription = ctx.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  firstStartFinished(): void {
    this.firstStart = false;
    this.render();
  }

  private render(): void {
    const running = this.ctx.runningClient !== undefined;
    const view = renderStatus(this.ctx.status, running || this.firstStart);
    this.item.text = view.text;
    this.item.tooltip = new vscode.MarkdownString(view.tooltip, true);
    this.item.backgroundColor = view.background ? new vscode.ThemeColor(view.background) : undefined;
    this.item.accessibilityInformation = { label: view.ariaLabel, role: 'button' };
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
