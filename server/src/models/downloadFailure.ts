/**
 * A failed download as one plain sentence for a person ("Can't reach huggingface.co — are you
 * offline?") plus its kind, so a client can offer the actions that fit (retry, a mirror, a local
 * file). Pure: table-tested in test/unit/models-download-failure.test.ts. The full technical message
 * still goes to the log.
 */
import type { DownloadFailure } from '../../../protocol/lsp';
import { DownloadError } from './download';

/** Network error codes that mean "no route to anywhere": name resolution or the network is down. */
const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH']);

/** The first `code` found along an error's `cause` chain (fetch wraps the socket error twice). */
export function causeCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  const inMessage = err instanceof Error ? /\b(E[A-Z]{3,}(?:_[A-Z]+)?)\b/.exec(err.message)?.[1] : undefined;
  return inMessage;
}

export function hostOf(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).host || undefined;
  } catch {
    return undefined;
  }
}

export function describeDownloadFailure(err: unknown, url?: string): DownloadFailure {
  const host = hostOf(url);
  const where = host ?? 'the download server';
  const at = (f: Omit<DownloadFailure, 'host'>): DownloadFailure => ({ ...f, ...(host ? { host } : {}) });
  if (!(err instanceof DownloadError)) {
    const message = err instanceof Error ? err.message : String(err);
    return at({ kind: 'other', sentence: `${message.charAt(0).toUpperCase()}${message.slice(1)}${/[.!?]$/.test(message) ? '' : '.'}` });
  }
  switch (err.code) {
    case 'network': {
      const code = causeCode(err);
      if (code && OFFLINE_CODES.has(code)) return at({ kind: 'offline', sentence: `Can't reach ${where} — are you offline?` });
      if (code === 'ECONNREFUSED') return at({ kind: 'unreachable', sentence: `${where} refused the connection.` });
      if (/no answer for/.test(err.message))
        return at({ kind: 'unreachable', sentence: `${where} stopped answering in the middle of the download.` });
      return at({ kind: 'unreachable', sentence: `Can't reach ${where}${code ? ` (${code})` : ''}.` });
    }
    case 'http': {
      const status = err.status ?? 0;
      if (status === 404)
        return at({ kind: 'not-found', sentence: `${where} has no such file (HTTP 404): the catalog or the mirror is out of date.` });
      if (status === 401 || status === 403)
        return at({
          kind: 'auth',
          sentence: `${where} refused the download (HTTP ${status}): the model may need a Hugging Face token (HF_TOKEN).`,
        });
      if (status === 429 || status >= 500)
        return at({ kind: 'server', sentence: `${where} is busy or failing (HTTP ${status}); try again later, or use a mirror.` });
      return at({ kind: 'http', sentence: `${where} answered HTTP ${status} instead of the model file.` });
    }
    case 'disk':
      return at({
        kind: 'disk',
        sentence: /disk is full/.test(err.message)
          ? 'There is not enough free disk space for the model.'
          : `The model could not be saved: ${err.message.replace(/^cannot write /, 'cannot write ')}.`,
      });
    case 'mismatch':
      return at({
        kind: 'checksum',
        sentence: 'The download did not match its published checksum and was deleted; try again, or use a mirror.',
      });
    case 'no-checksum':
      return at({
        kind: 'no-checksum',
        sentence: `${where} gave no checksum for the file, so it was not downloaded (a mirror must send Hugging Face's X-Linked-ETag header).`,
      });
    case 'locked':
      return at({ kind: 'busy', sentence: 'This model is already being downloaded by another window; wait for it to finish.' });
    case 'cancelled':
      return at({ kind: 'other', sentence: 'The download was cancelled; the part already downloaded is kept for next time.' });
    default:
      return at({ kind: 'other', sentence: `${where} sent an unexpected answer: ${err.message}.` });
  }
}

/**
 * The description of errors that ModelService.download rejected with, so the LSP layer can answer
 * with it (as the error's data) while the error itself stays what it was (tests check its code).
 */
const described = new WeakMap<object, DownloadFailure>();

export function describeAs<E>(err: E, failure: DownloadFailure): E {
  if (typeof err === 'object' && err !== null) described.set(err, failure);
  return err;
}

export function failureOf(err: unknown): DownloadFailure | undefined {
  return typeof err === 'object' && err !== null ? described.get(err) : undefined;
}
