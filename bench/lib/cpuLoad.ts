// A competing CPU load for the busy-machine benchmark: one process spinning on one core (pinned with
// taskset when it exists), as an editor's language server, a build or a browser tab would.

import { spawn, spawnSync } from 'node:child_process';

export interface CpuLoad {
  /** Which core it is pinned to, or undefined when taskset is missing (then the kernel places it). */
  core?: number;
  stop(): void;
}

export function startCpuLoad(core = 1): CpuLoad {
  const spin = [process.execPath, '-e', 'for (;;) {}'];
  const hasTaskset = spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
  const child = hasTaskset
    ? spawn('taskset', ['-c', String(core), ...spin], { stdio: 'ignore' })
    : spawn(spin[0]!, spin.slice(1), { stdio: 'ignore' });
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
  return {
    core: hasTaskset ? core : undefined,
    stop: () => {
      process.off('exit', kill);
      kill();
    },
  };
}
