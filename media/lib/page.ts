// What every webview page script needs: VS Code's API object (typed by the page's state and the
// messages it sends) and its elements by id (a missing one is a bug in the page's HTML).

export interface VsCodeApi<State, Message> {
  postMessage(msg: Message): void;
  getState(): State | undefined;
  setState(state: State): void;
}
declare function acquireVsCodeApi(): unknown;

/** Call once per page: VS Code allows one acquisition. */
export function vscodeApi<State, Message>(): VsCodeApi<State, Message> {
  return acquireVsCodeApi() as VsCodeApi<State, Message>;
}

export function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`${document.title}: #${id} is missing`);
  return e as T;
}
