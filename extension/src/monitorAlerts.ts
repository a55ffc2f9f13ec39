/**
 * Alert notifications from the sidecar's monitor (`pronto/monitor/alert`): one notification per
 * incident (the sidecar decides, with its cooldown, by setting `notify`), warning or error by
 * severity, with a button to the monitor. Resolutions are logged, not shown: the status bar colour
 * goes back by itself (it renders `pronto/status`'s `alert`). The open monitor panel is refreshed
 * at once either way.
 *
 * Registered on each language client as it starts, without touching Ctx: a new running client is
 * noticed through Ctx.onDidChange.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { MonitorAlertNotification, type MonitorAlertParams } from '../../protocol/monitor';
import type { Ctx } from './ctx';
import { MonitorPanel } from './monitorPanel';

export function watchMonitorAlerts(ctx: Ctx): vscode.Disposable {
  let watched: LanguageClient | undefined;
  let subscription: vscode.Disposable | undefined;
  const onAlert = (p: MonitorAlertParams) => {
    const { incident } = p;
    ctx.log.info(`monitor: ${p.change === 'fired' ? `${incident.severity} alert` : 'alert resolved'} #${incident.id}: ${incident.message}`);
    MonitorPanel.alertChanged();
    if (p.change !== 'fired' || !p.notify) return;
    const text = `Pronto: ${incident.message}.`;
    const show = incident.severity === 'critical' ? vscode.window.showErrorMessage : vscode.window.showWarningMessage;
    void show(text, 'Show Monitor', 'Alert Settings').then((pick) => {
      if (pick === 'Show Monitor') void vscode.commands.executeCommand('pronto.showMonitor');
      if (pick === 'Alert Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'pronto.monitor.alerts');
    });
  };
  const sync = () => {
    const client = ctx.runningClient;
    if (client === watched) return;
    subscription?.dispose();
    subscription = client?.onNotification(MonitorAlertNotification.type, onAlert);
    watched = client;
  };
  const listener = ctx.onDidChange(sync);
  sync();
  return {
    dispose: () => {
      listener.dispose();
      subscription?.dispose();
    },
  };
}
