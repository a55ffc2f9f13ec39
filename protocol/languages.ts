/**
 * The `pronto.completion.languages` setting, read the same way by the server (which offers no
 * suggestion where it is off) and the client (its "this language" switch in the menu). The
 * convention is GitHub Copilot's `github.copilot.enable`: language id → on/off, `"*"` for every
 * language not listed. Prose and commit messages are off by default: ghost text there is noise, and
 * one stray Tab inserts it.
 */

export type LanguageSwitches = Readonly<Record<string, boolean>>;

export const DEFAULT_LANGUAGE_SWITCHES: LanguageSwitches = { '*': true, plaintext: false, markdown: false, scminput: false };

/** Whether suggestions are on for `languageId`: its own entry, else `"*"`, else on. */
export function languageEnabled(switches: LanguageSwitches | undefined, languageId: string): boolean {
  const own = switches?.[languageId];
  if (typeof own === 'boolean') return own;
  const all = switches?.['*'];
  return typeof all === 'boolean' ? all : true;
}

/** The switches with `languageId` set to `on`, keeping the others. */
export function withLanguage(switches: LanguageSwitches | undefined, languageId: string, on: boolean): Record<string, boolean> {
  return { ...(switches ?? {}), [languageId]: on };
}
