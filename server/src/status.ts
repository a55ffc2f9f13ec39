/**
 * Builds the `pronto/status` push from the engine state, the enabled switch, in-flight requests and
 * recent figures. Pushes only when something a client would render changed.
 */
import type { SettingProblem, StatusAlert, StatusParams } from '../../protocol/lsp';
import type { EngineState } from './engine/manager';

export class StatusReporter {
  private engine: EngineState = { state: 'starting', message: 'Starting Pronto…' };
  private enabled = true;
  private inFlight = 0;
  private figures: { tokensPerSecond?: number; lastLatencyMs?: number } = {};
  /** Notes appended to the message, by source (settings, templates). */
  private readonly notes = new Map<string, string>();
  private alert: StatusAlert | undefined;
  private settingsProblems: SettingProblem[] = [];
  private lastSent = '';

  constructor(private readonly send: (status: StatusParams) => void) {}

  current(): StatusParams {
    const e = this.engine;
    const state = e.state === 'ready' && this.inFlight > 0 ? 'busy' : e.state;
    let message = e.message;
    if (!this.enabled) message = `Completions are switched off. ${message}`;
    for (const note of this.notes.values()) message = `${message} ${note}`;
    return {
      state,
      message,
      enabled: this.enabled,
      ...(e.model !== undefined ? { model: e.model } : {}),
      ...(e.backend !== undefined ? { backend: e.backend } : {}),
      ...(e.demoModel !== undefined ? { demoModel: e.demoModel } : {}),
      ...(e.needsModel ? { needsModel: true } : {}),
      ...(e.modelProblem ? { modelProblem: e.modelProblem } : {}),
      ...(e.chatModelProblem ? { chatModelProblem: e.chatModelProblem } : {}),
      ...(e.gaveUp ? { engineGaveUp: true } : {}),
      ...(this.settingsProblems.length ? { settingsProblems: this.settingsProblems } : {}),
      ...(this.figures.tokensPerSecond !== undefined ? { tokensPerSecond: this.figures.tokensPerSecond } : {}),
      ...(this.figures.lastLatencyMs !== undefined ? { lastLatencyMs: this.figures.lastLatencyMs } : {}),
      ...(this.alert ? { alert: this.alert } : {}),
    };
  }

  private push(force = false): void {
    const status = this.current();
    const key = JSON.stringify(status);
    if (!force && key === this.lastSent) return;
    this.lastSent = key;
    this.send(status);
  }

  setEngine(state: EngineState): void {
    this.engine = state;
    this.push();
  }
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    this.push();
  }
  /** Settings problems and the like, appended to the message; one note per source. */
  setNote(note: string | undefined, source = 'settings'): void {
    if (note) this.notes.set(source, note);
    else this.notes.delete(source);
    this.push();
  }
  /** The worst monitor alert firing now (server/src/monitor/), or undefined when none is. */
  setAlert(alert: StatusAlert | undefined): void {
    this.alert = alert;
    this.push();
  }
  /** Settings with invalid values (each replaced by its default); empty clears the warning. */
  setSettingsProblems(problems: SettingProblem[]): void {
    this.settingsProblems = problems;
    this.push();
  }
  requestStarted(): void {
    this.inFlight++;
    this.push();
  }
  requestEnded(figures: { tokensPerSecond?: number; lastLatencyMs?: number }): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.figures = { ...this.figures, ...figures };
    this.push();
  }
  resend(): void {
    this.push(true);
  }
}
