import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CATALOG, findModel } from '../../server/src/models/catalog';
import {
  adviseVersions,
  describeHardware,
  type HardwareInfo,
  memoryNeededBytes,
  parseNvidiaSmi,
  probeHardware,
  suggestModel,
} from '../../server/src/models/hardware';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const hw = (gpuFreeGiB: number[] | null, ramGiB = 16): HardwareInfo => ({
  gpus: (gpuFreeGiB ?? []).map((free, i) => ({ name: `GPU${i}`, freeBytes: free * GiB, totalBytes: Math.max(free, 8) * GiB })),
  totalRamBytes: ramGiB * GiB,
  freeRamBytes: (ramGiB / 2) * GiB,
});

describe('parseNvidiaSmi', () => {
  const cases: Array<[string, string, Array<[string, number, number]>]> = [
    ['one GPU', 'NVIDIA GeForce RTX 3060, 11264, 12288\n', [['NVIDIA GeForce RTX 3060', 11264, 12288]]],
    [
      'two GPUs, CRLF',
      'A100, 40000, 40960\r\nT4, 15000, 15360\r\n',
      [
        ['A100', 40000, 40960],
        ['T4', 15000, 15360],
      ],
    ],
    ['comma in the name', 'Weird, Inc GPU, 100, 200', [['Weird, Inc GPU', 100, 200]]],
    ['[N/A] values are skipped', 'GPU X, [N/A], [N/A]\nGPU Y, 5, 10', [['GPU Y', 5, 10]]],
    ['empty output', '', []],
  ];
  for (const [name, out, expected] of cases) {
    test(name, () => {
      assert.deepEqual(
        parseNvidiaSmi(out).map((g) => [g.name, g.freeBytes / MiB, g.totalBytes / MiB]),
        expected,
      );
    });
  }
});

describe('memoryNeededBytes', () => {
  test('grows with context and with model size', () => {
    const small = findModel('qwen2.5-coder-0.5b')!;
    const big = findModel('qwen2.5-coder-7b')!;
    assert.ok(memoryNeededBytes(small, 8192) > memoryNeededBytes(small, 2048));
    assert.ok(memoryNeededBytes(big) > memoryNeededBytes(small));
    assert.ok(memoryNeededBytes(small) > small.sizeBytes);
  });
});

describe('suggestModel', () => {
  // [case, hardware, expected model, expected draft, expected backend]
  const cases: Array<[string, HardwareInfo, string | null, string | undefined, 'gpu' | 'cpu']> = [
    ['no GPU: smallest model on CPU', hw(null), 'qwen2.5-coder-0.5b', undefined, 'cpu'],
    ['24 GiB free: 7B with the 0.5B draft', hw([24]), 'qwen2.5-coder-7b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['11 GiB free: 7B and the draft still fit', hw([11]), 'qwen2.5-coder-7b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['9.5 GiB free: 7B fits but not with its draft', hw([9.5]), 'qwen2.5-coder-7b', undefined, 'gpu'],
    ['9 GiB free: 7B does not fit (8.4 GiB > 90%), 3B with draft', hw([9]), 'qwen2.5-coder-3b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['6 GiB free: 3B with draft', hw([6]), 'qwen2.5-coder-3b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['3.5 GiB free: 1.5B with draft', hw([3.5]), 'qwen2.5-coder-1.5b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['3 GiB free: 1.5B, no room for the draft', hw([3]), 'qwen2.5-coder-1.5b', undefined, 'gpu'],
    ['1.2 GiB free: 0.5B on GPU, no draft of itself', hw([1.2]), 'qwen2.5-coder-0.5b', undefined, 'gpu'],
    ['0.5 GiB free: nothing fits the GPU, CPU smallest', hw([0.5]), 'qwen2.5-coder-0.5b', undefined, 'cpu'],
    ['freest of two GPUs counts', hw([1, 12]), 'qwen2.5-coder-7b', 'qwen2.5-coder-0.5b', 'gpu'],
    ['1 GiB RAM, no GPU: nothing fits', hw(null, 1), null, undefined, 'cpu'],
  ];
  for (const [name, info, model, draft, backend] of cases) {
    test(name, () => {
      const s = suggestModel(info, CATALOG);
      assert.equal(s.modelId, model, s.reason);
      assert.equal(s.draftId, draft, s.reason);
      assert.equal(s.backend, backend, s.reason);
      assert.ok(s.reason.length > 10);
    });
  }

  test('family preference: DeepSeek', () => {
    // The biggest model at the best precision that fits the GPU; on the CPU the smallest model at 8 bits.
    const gpu = suggestModel(hw([24]), CATALOG, { family: 'deepseek-coder' });
    assert.deepEqual([gpu.modelId, gpu.draftId], ['deepseek-coder-6.7b-q8_0', 'deepseek-coder-1.3b-q8_0']);
    assert.equal(
      suggestModel(hw([8]), CATALOG, { family: 'deepseek-coder' }).modelId,
      'deepseek-coder-6.7b',
      '4-bit 6.7B beats 8-bit 1.3B',
    );
    assert.equal(suggestModel(hw(null), CATALOG, { family: 'deepseek-coder' }).modelId, 'deepseek-coder-1.3b-q8_0');
    assert.equal(
      suggestModel(hw(null, 4.5), CATALOG, { family: 'deepseek-coder' }).modelId,
      'deepseek-coder-1.3b',
      'only the 4-bit fits 4.5 GiB RAM',
    );
  });

  test('the GPU reason explains a fall back to CPU', () => {
    assert.equal(suggestModel(hw([0.5]), CATALOG).reason, 'GPU0 has only 0.5 GiB free, so the fastest on the CPU');
    assert.equal(suggestModel(hw([24]), CATALOG).reason, "needs 8.4 GiB of GPU0's 24.0 GiB free, with a draft model");
  });

  test('empty catalog', () => {
    assert.equal(suggestModel(hw([24]), []).modelId, null);
  });
});

describe('describeHardware', () => {
  test('CPU and GPU forms', () => {
    assert.equal(describeHardware(hw(null, 24)), 'CPU only, 24.0 GiB RAM');
    assert.match(describeHardware(hw([6])), /^GPU0 \(6\.0 GiB free of 8\.0 GiB\); 16\.0 GiB RAM$/);
    assert.match(describeHardware({ ...hw(null), gpuProbeError: 'nvidia-smi failed' }), /CPU only \(nvidia-smi failed\)/);
  });
});

describe('probeHardware (real child processes)', () => {
  test('a missing nvidia-smi means CPU only, no error', async () => {
    const info = await probeHardware({ nvidiaSmiPath: '/nonexistent/nvidia-smi' });
    assert.deepEqual(info.gpus, []);
    assert.equal(info.gpuProbeError, undefined);
    assert.ok(info.totalRamBytes > 0);
  });

  test('parses what an nvidia-smi prints, and reports one that fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pronto-smi-'));
    try {
      const ok = join(dir, 'nvidia-smi');
      await writeFile(ok, '#!/bin/sh\n[ "$1" = "--query-gpu=name,memory.free,memory.total" ] || exit 3\necho "Fake GPU, 7000, 8192"\n');
      await chmod(ok, 0o755);
      const info = await probeHardware({ nvidiaSmiPath: ok });
      assert.deepEqual(info.gpus, [{ name: 'Fake GPU', freeBytes: 7000 * MiB, totalBytes: 8192 * MiB }]);

      const bad = join(dir, 'nvidia-smi-bad');
      await writeFile(bad, '#!/bin/sh\necho "NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver" >&2\nexit 9\n');
      await chmod(bad, 0o755);
      const failed = await probeHardware({ nvidiaSmiPath: bad });
      assert.deepEqual(failed.gpus, []);
      assert.match(failed.gpuProbeError ?? '', /could not communicate with the NVIDIA driver/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('adviseVersions', () => {
  const versions = (model: string) => CATALOG.filter((m) => m.model === model);
  // [case, hardware, model, suggested id, fitting ids]
  const cases: Array<[string, HardwareInfo, string, string | undefined, string[], RegExp]> = [
    [
      'big GPU: the 8-bit',
      hw([24]),
      'deepseek-coder-6.7b',
      'deepseek-coder-6.7b-q8_0',
      ['deepseek-coder-6.7b', 'deepseek-coder-6.7b-q8_0'],
      /suggested for GPU0 \(24\.0 GiB free\)/,
    ],
    ['8 GiB GPU: only the 4-bit fits', hw([8]), 'deepseek-coder-6.7b', 'deepseek-coder-6.7b', ['deepseek-coder-6.7b'], /too big for GPU0/],
    [
      'CPU with 16 GiB: the 8-bit',
      hw(null),
      'deepseek-coder-1.3b',
      'deepseek-coder-1.3b-q8_0',
      ['deepseek-coder-1.3b', 'deepseek-coder-1.3b-q8_0'],
      /16\.0 GiB RAM/,
    ],
    [
      'CPU with 4.5 GiB: the 4-bit',
      hw(null, 4.5),
      'deepseek-coder-1.3b',
      'deepseek-coder-1.3b',
      ['deepseek-coder-1.3b'],
      /too big for 4\.5 GiB RAM/,
    ],
    ['nothing fits', hw(null, 1), 'qwen2.5-coder-7b', undefined, [], /too big for 1\.0 GiB RAM/],
    [
      '3-bit or 8-bit 1.5B on a small GPU',
      hw([1.5]),
      'qwen2.5-coder-1.5b',
      'qwen2.5-coder-1.5b-iq3_xxs',
      ['qwen2.5-coder-1.5b-iq3_xxs'],
      /too big for GPU0/,
    ],
  ];
  for (const [name, info, model, suggested, fitting, note] of cases) {
    test(name, () => {
      const advice = adviseVersions(info, versions(model));
      assert.equal(advice.find((a) => a.suggested)?.id, suggested);
      assert.ok(advice.filter((a) => a.suggested).length <= 1);
      assert.deepEqual(
        advice
          .filter((a) => a.fits)
          .map((a) => a.id)
          .sort(),
        [...fitting].sort(),
      );
      assert.ok(
        advice.some((a) => note.test(a.note)),
        JSON.stringify(advice),
      );
      for (const a of advice) assert.ok(a.memoryBytes > CATALOG.find((m) => m.id === a.id)!.sizeBytes, 'memory covers more than the file');
    });
  }
});
