// `npm run bench:deploy`: blue-green rollouts on the local platform under a steady load, through the
// real parts (pronto-deploy as a child process, real engines, real HAProxy). Blue and green run
// different models, so every reply says which colour served it. Per rollout it measures:
//   - failed requests during the rollout (goal 0)
//   - the longest latency of the requests at the switch (started within 1 s of it) against the
//     p99 of the requests before it (goal ≤ 1.5×)
//   - the time from "promote" (the controller starts switching) until every request started later
//     is served by the new colour
// and prints one row per rollout plus the worst case as a table.
//
//   npm run bench:deploy -- [--rollouts N] [--interval-ms M]
import { engineBinary } from '../test/support/engine';
import { cleanupWorkspace, localConfig, makeWorkspace, runCli, SteadyLoad, startCli, type Outcome } from '../test/support/deploy';
import { ensureModel } from '../test/support/models';
import { intArg } from './lib/args';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rollouts = flag('--rollouts') ? intArg('--rollouts', flag('--rollouts'), 1, 20) : 3;
const intervalMs = flag('--interval-ms') ? intArg('--interval-ms', flag('--interval-ms'), 20, 2000) : 100;

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)] ?? Number.NaN;
}

interface Row {
  rollout: string;
  requests: number;
  failed: number;
  p99Before: number;
  maxAtSwitch: number;
  ratio: number;
  promoteToAllNew: number;
}

async function main(): Promise<void> {
  const models = { blue: await ensureModel('chat'), green: await ensureModel('chatGreen') };
  const names = { blue: 'pronto-test-chat', green: 'pronto-test-chat-green' } as const;
  const env = { PRONTO_ENGINE_PATH: engineBinary };
  const ws = await makeWorkspace('pronto-bench-deploy-');
  const rows: Row[] = [];
  try {
    ws.write(localConfig(ws, { model: models.blue }));
    const first = await runCli(ws, ['rollout'], env);
    if (first.code !== 0) throw new Error(`first deploy failed:\n${first.stderr}`);
    for (let i = 0; i < rollouts; i++) {
      const to = i % 2 === 0 ? 'green' : 'blue';
      const from = to === 'green' ? 'blue' : 'green';
      ws.write(localConfig(ws, { model: models[to] }));
      const load = new SteadyLoad(`http://127.0.0.1:${ws.activePort}`, ws.apiKey(), intervalMs);
      const run = startCli(ws, ['rollout'], env);
      const r = await run.done;
      // Keep the load on for a moment after the end, as users would be.
      await new Promise((res) => setTimeout(res, 500));
      const outcomes: Outcome[] = await load.stop();
      if (r.code !== 0) throw new Error(`rollout ${i + 1} did not succeed:\n${r.stderr}`);
      const history = ws.state().rollout!.history;
      const switchStart = history.find((h) => h.phase === 'switching')!.at;
      const switched = history.find((h) => h.phase === 'watching')!.at;
      const latency = (o: Outcome) => o.end - o.start;
      const before = outcomes.filter((o) => o.end < switchStart - 1000 && o.ok);
      const atSwitch = outcomes.filter((o) => o.start >= switchStart - 1000 && o.start <= switched + 1000);
      // The first moment after which every request started was served by the new colour.
      const sorted = [...outcomes].sort((a, b) => a.start - b.start);
      let lastOld = switchStart;
      for (const o of sorted) if (o.model === names[from] || !o.ok) lastOld = Math.max(lastOld, o.start);
      const p = p99(before.map(latency));
      const max = Math.max(...atSwitch.map(latency));
      rows.push({
        rollout: `${i + 1}: ${from} → ${to}`,
        requests: outcomes.length,
        failed: outcomes.filter((o) => !o.ok).length,
        p99Before: p,
        maxAtSwitch: max,
        ratio: max / p,
        promoteToAllNew: lastOld - switchStart,
      });
    }
  } finally {
    await runCli(ws, ['down'], env).catch(() => undefined);
    cleanupWorkspace(ws);
  }
  const worst: Row = {
    rollout: 'worst',
    requests: rows.reduce((n, r) => n + r.requests, 0),
    failed: rows.reduce((n, r) => n + r.failed, 0),
    p99Before: Math.max(...rows.map((r) => r.p99Before)),
    maxAtSwitch: Math.max(...rows.map((r) => r.maxAtSwitch)),
    ratio: Math.max(...rows.map((r) => r.ratio)),
    promoteToAllNew: Math.max(...rows.map((r) => r.promoteToAllNew)),
  };
  const table = [
    [
      'rollout',
      'requests',
      'failed (goal 0)',
      'p99 before (ms)',
      'longest at switch (ms)',
      'ratio (goal ≤ 1.5×)',
      'promote → all new on new colour (ms)',
    ],
    ...[...rows, worst].map((r) => [
      r.rollout,
      String(r.requests),
      String(r.failed),
      r.p99Before.toFixed(0),
      r.maxAtSwitch.toFixed(0),
      `${r.ratio.toFixed(2)}×`,
      r.promoteToAllNew.toFixed(0),
    ]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  const line = (row: string[]) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(
    `\nbench:deploy — local platform (HAProxy ${'2.6'}), steady load: a completion or a streaming chat every ${intervalMs} ms, ${rollouts} rollout(s)\n`,
  );
  console.log(line(table[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const row of table.slice(1)) console.log(line(row));
  console.log(
    `\ngoals: failed 0 → ${worst.failed === 0 ? 'met' : 'MISSED'}; longest at the switch ≤ 1.5× p99 before → ${worst.ratio <= 1.5 ? 'met' : 'MISSED'}`,
  );
}

main().catch((err: Error) => {
  console.error(`bench:deploy: ${err.message}`);
  process.exit(1);
});
