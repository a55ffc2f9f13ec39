// Command-line value checks shared by the benchmarks: a bad value is an error that names the flag.

export function intArg(flag: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag} needs an integer in ${min}..${max}, got ${v ?? 'nothing'}`);
  return n;
}

export function strArg(flag: string, v: string | undefined): string {
  if (!v) throw new Error(`${flag} needs a value`);
  return v;
}

/** A comma-separated list of names, each one of `allowed`. */
export function listArg<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T[] {
  const names = (v ?? '').split(',').filter(Boolean);
  for (const n of names) if (!allowed.includes(n as T)) throw new Error(`${flag}: unknown "${n}" (${allowed.join(', ')})`);
  if (!names.length) throw new Error(`${flag} needs a list: ${allowed.join(',')}`);
  return names as T[];
}

/**
 * Parses `--flag value` pairs, one setter per flag; `--help` prints `usage` and exits; anything else
 * is an error naming the argument.
 */
export function parseFlags(
  argv: string[],
  usage: string,
  flags: Record<string, (value: string | undefined, flag: string) => unknown>,
): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    }
    const set = flags[a];
    if (!set) throw new Error(`unknown argument ${a} (try --help)`);
    set(argv[++i], a);
  }
}
