// Types for scripts/install-e2e.mjs (imported by test/e2e/ and scripts/start.mjs).
export declare const NODE24_VERSION: string;
export declare const CODE_SERVER_VERSION: string;
export declare const APT_PACKAGES: string[];
export declare const repoRoot: string;
export declare const cacheDir: string;
export interface E2EPaths {
  cacheDir: string;
  node24Dir: string;
  node24: string;
  codeServerDir: string;
  codeServerEntry: string;
  chromium: string;
}
export declare function e2ePaths(): E2EPaths;
export declare function missingE2E(): string[];
export declare function ensureE2E(): E2EPaths;
export declare function codeServerEnv(home: string, tmp: string, extra?: Record<string, string>): NodeJS.ProcessEnv;
export declare function codeServerArgs(
  paths: E2EPaths,
  opts: { bind: string; userData: string; extensions: string; workspace: string; extraArgs?: string[] },
): string[];
