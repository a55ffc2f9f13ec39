/**
 * Small file primitives for the local platform's state folder: atomic JSON writes (temporary file +
 * rename, so a reader or a SIGKILL never sees half a file), and the rollout lock as a lock file
 * created with O_EXCL and taken over only from a holder that is gone.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LockHolder, LockResult } from '../types';

export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof SyntaxError) throw new Error(`${file} is damaged (${err.message}); move it away to start from nothing`);
    throw err;
  }
}

export async function writeJsonAtomic(file: string, value: unknown, mode = 0o600): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
  await rename(tmp, file);
}

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's start time (clock ticks since boot, /proc/PID/stat field 22); undefined off Linux. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is still the process started then (guards against a pid reused after it died). */
export function pidRuns(pid: number, startTime: number | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (startTime === undefined) return true;
  return processStartTime(pid) === startTime;
}

export function lockIsStale(holder: LockHolder, now: number): boolean {
  if (holder.host === os.hostname() && !pidAlive(holder.pid)) return true;
  return now > holder.renewedAt + holder.ttlSeconds * 1000;
}

export async function acquireLockFile(file: string, holder: LockHolder): Promise<LockResult> {
  await mkdir(path.dirname(file), { recursive: true });
  try {
    await writeFile(file, JSON.stringify(holder), { flag: 'wx', mode: 0o600 });
    return { ok: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const current = await readJson<LockHolder>(file).catch(() => undefined);
  if (current && current.id === holder.id) return { ok: true };
  if (current && !lockIsStale(current, Date.now())) return { ok: false, holder: current };
  // Stale (or unreadable): take it over, then check that no one else took it at the same moment.
  await writeJsonAtomic(file, holder);
  const after = await readJson<LockHolder>(file);
  return after?.id === holder.id ? { ok: true } : { ok: false, holder: after! };
}

export async function renewLockFile(file: string, holder: LockHolder): Promise<void> {
  const current = await readJson<LockHolder>(file);
  if (current?.id !== holder.id) {
    throw new Error(current ? `lost the rollout lock to ${describeHolder(current)}` : 'the rollout lock file disappeared');
  }
  holder.renewedAt = Date.now();
  await writeJsonAtomic(file, holder);
}

export async function releaseLockFile(file: string, holder: LockHolder): Promise<void> {
  const current = await readJson<LockHolder>(file).catch(() => undefined);
  if (current?.id === holder.id) await unlink(file).catch(() => undefined);
}

export function describeHolder(h: LockHolder): string {
  const since = new Date(h.acquiredAt).toISOString().replace('T', ' ').slice(0, 19);
  return `${h.user}@${h.host} (${h.tool}, pid ${h.pid}) since ${since} UTC${h.rolloutId ? `, rollout ${h.rolloutId}` : ''}`;
}
