/**
 * `pronto-deploy`: the rollout controller without an editor, for CI pipelines and terminals
 * (bundled to dist/deploy.js). The same controller as Pronto's Deploy commands in VS Code.
 *
 *   pronto-deploy init [--local|--kubernetes] [--name N] [--model PATH]   write a commented .pronto/deploy.yaml
 *   pronto-deploy validate                            check the config (line-accurate problems)
 *   pronto-deploy render [--api-key-file F]           print the Kubernetes manifests (for kubectl apply)
 *   pronto-deploy rollout                             roll the config out (or resume the interrupted rollout)
 *   pronto-deploy status                              the deployment and the rollout, with each gate
 *   pronto-deploy promote | abort                     promote now / roll back, whoever drives the rollout
 *   pronto-deploy scale N [--colour blue|green]       replicas of the active colour (local: engine processes)
 *   pronto-deploy endpoints                           URLs (and key) of active, preview and each colour
 *   pronto-deploy down                                local platform: stop every engine and HAProxy
 * Options: --config FILE (default .pronto/deploy.yaml), --json.
 * Exit codes: 0 done (rollout succeeded), 1 the rollout rolled back or aborted or failed,
 * 2 bad usage or config, 3 refused (another rollout holds the lock, or nothing to promote).
 * Ctrl-C during a rollout aborts it (back to the stable colour); a second Ctrl-C leaves at once,
 * and the next `rollout` resumes.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH, formatProblems, loadDeployConfigFile } from './config/load';
import type { DeployConfig } from './config/schema';
import { starterConfig } from './config/starter';
import { type Colour, initialLayout, renderManifests } from './manifests/render';
import { createPlatform, workspaceOf } from './platform/create';
import { LocalPlatform } from './platform/local/platform';
import { RolloutController, RolloutRefused, requestManual, rolloutStatus } from './rollout/controller';

const USAGE = `usage: pronto-deploy <init|validate|render|rollout|status|promote|abort|scale N|endpoints|down> [--config FILE] [--json]
see server/README.md (Deploy) for details`;

class UsageError extends Error {}

interface Args {
  command: string;
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  const valued = new Set(['--config', '--api-key-file', '--name', '--model', '--colour']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const [k, v] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
      if (valued.has(k)) {
        const value = v ?? argv[++i];
        if (value === undefined) throw new UsageError(`${k} needs a value`);
        flags.set(k, value);
      } else flags.set(k, true);
    } else positional.push(a);
  }
  const command = positional.shift() ?? '';
  return { command, positional, flags };
}

const stamp = () => new Date().toISOString().slice(11, 19);
const logLine = (line: string) => process.stderr.write(`[${stamp()}] ${line}\n`);

async function loadConfig(args: Args): Promise<{ config: DeployConfig; file: string }> {
  const file = path.resolve(String(args.flags.get('--config') ?? DEFAULT_CONFIG_PATH));
  const r = await loadDeployConfigFile(file);
  if (!r.ok) throw new UsageError(formatProblems(path.relative(process.cwd(), file) || file, r.problems));
  return { config: r.config, file };
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const json = args.flags.has('--json');
  const out = (text: string, data?: unknown) =>
    process.stdout.write(json && data !== undefined ? `${JSON.stringify(data, null, 2)}\n` : `${text}\n`);
  switch (args.command) {
    case 'init': {
      const file = path.resolve(String(args.flags.get('--config') ?? DEFAULT_CONFIG_PATH));
      if (existsSync(file)) throw new UsageError(`${file} exists already; edit it, or pass --config for another file`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(
        file,
        starterConfig({
          kind: args.flags.has('--kubernetes') ? 'kubernetes' : 'local',
          name: args.flags.get('--name') as string | undefined,
          modelPath: args.flags.get('--model') as string | undefined,
        }),
      );
      out(`wrote ${file}`, { file });
      return 0;
    }
    case 'validate': {
      const { config, file } = await loadConfig(args);
      out(`${file}: ok (${config.target.kind}, ${config.replicas} replica(s))`, config);
      return 0;
    }
    case 'render': {
      const { config } = await loadConfig(args);
      if (config.target.kind !== 'kubernetes') throw new UsageError('render prints Kubernetes manifests: the config targets kind: local');
      const keyFile = args.flags.get('--api-key-file');
      let key = keyFile ? (await readFile(String(keyFile), 'utf8')).trim() : (config.apiKey.env && process.env[config.apiKey.env]) || '';
      if (!key) {
        key = (await import('node:crypto')).randomBytes(24).toString('base64url');
        logLine('no API key given (--api-key-file, or apiKey.env): the Secret carries a newly generated key; keep it, clients need it');
      }
      const { yaml, objects } = renderManifests(config, initialLayout(config), key);
      out(yaml, objects);
      return 0;
    }
    case 'status': {
      const { config, file } = await loadConfig(args);
      const platform = await createPlatform(config, { root: workspaceOf(file), log: logLine });
      const s = await rolloutStatus(platform);
      out(s.summary, { ...s, summary: undefined });
      return 0;
    }
    case 'endpoints': {
      const { config, file } = await loadConfig(args);
      const platform = await createPlatform(config, { root: workspaceOf(file), log: logLine });
      const e = await platform.endpoints();
      out(
        [
          `active:  ${e.active?.url ?? '—'}`,
          `preview: ${e.preview?.url ?? '—'}`,
          ...Object.entries(e.colours).map(([c, x]) => `${c}: ${x.url} (${x.role}, ${x.replicas} replica(s))`),
          'API key: pronto-deploy endpoints --json',
        ].join('\n'),
        e,
      );
      return 0;
    }
    case 'rollout':
    case 'promote':
    case 'abort': {
      const { config, file } = await loadConfig(args);
      const platform = await createPlatform(config, { root: workspaceOf(file), log: logLine });
      const cancel = new AbortController();
      let interrupts = 0;
      const onSigint = () => {
        interrupts++;
        if (interrupts === 1) {
          logLine('Ctrl-C: aborting the rollout (back to the stable colour); press Ctrl-C again to leave now (the next `rollout` resumes)');
          cancel.abort(new Error('interrupted'));
        } else process.exit(130);
      };
      process.on('SIGINT', onSigint);
      try {
        const opts = { tool: `pronto-deploy ${args.command}`, log: logLine, onUpdate: undefined };
        if (args.command === 'rollout') {
          const final = await new RolloutController({ ...opts, platform }).run(config, cancel.signal);
          out(summarise(final.phase, final.reason), final);
          return final.phase === 'succeeded' ? 0 : 1;
        }
        const r = await requestManual(platform, args.command, { ...opts, config, signal: cancel.signal });
        out(r.message, r.state);
        return 0;
      } finally {
        process.off('SIGINT', onSigint);
      }
    }
    case 'scale': {
      const n = Number(args.positional[0]);
      if (!Number.isInteger(n) || n < 0 || n > 64)
        throw new UsageError('scale needs a whole number of replicas, 0 to 64: pronto-deploy scale 2');
      const { config, file } = await loadConfig(args);
      const platform = await createPlatform(config, { root: workspaceOf(file), log: logLine });
      const status = await rolloutStatus(platform);
      if (status.lockLive) throw new RolloutRefused(`a rollout is in progress (${status.record.rollout?.phase}); scale after it ends`);
      const colour = (args.flags.get('--colour') as Colour | undefined) ?? status.record.active;
      if (!colour || (colour !== 'blue' && colour !== 'green'))
        throw new UsageError('nothing is deployed yet (or --colour is not blue or green)');
      await platform.scale(colour, n);
      out(`${colour}: ${await platform.replicas(colour)} replica(s)`, { colour, replicas: n });
      return 0;
    }
    case 'down': {
      const { config, file } = await loadConfig(args);
      const platform = await createPlatform(config, { root: workspaceOf(file), log: logLine });
      if (!(platform instanceof LocalPlatform)) throw new UsageError('down is for the local platform; on Kubernetes use kubectl delete');
      const status = await rolloutStatus(platform);
      if (status.lockLive) throw new RolloutRefused(`a rollout is in progress (${status.record.rollout?.phase}); abort it first`);
      await platform.down();
      out('stopped every engine and HAProxy');
      return 0;
    }
    case '':
    case 'help':
    case '--help':
      out(USAGE);
      return args.command ? 0 : 2;
    default:
      throw new UsageError(`unknown command "${args.command}"\n${USAGE}`);
  }
}

function summarise(phase: string, reason?: string): string {
  if (phase === 'succeeded') return 'rollout succeeded';
  return `rollout ${phase}${reason ? `: ${reason}` : ''}`;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`pronto-deploy: ${err.message}\n`);
      process.exit(err instanceof UsageError ? 2 : err instanceof RolloutRefused ? 3 : 1);
    },
  );
}
