// Start-up of the real pronto-engine binary: version, ready line, health, model info, failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ENGINE_PROTOCOL_VERSION, healthSchema } from '../../protocol/engine';
import { ensureModel, ensureTestModels } from '../support/models';
import { EngineSocket, engineBinary, runEngine, startEngine } from '../support/engine';

const pkgVersion = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')).version as string;

test('--version prints the package version and the llama.cpp release', async () => {
  const r = await runEngine(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, new RegExp(`^pronto-engine ${pkgVersion.replace(/\./g, '\\.')} \\(llama\\.cpp v0\\.5\\.0, (prebuilt|source)\\)`));
});

test('ready line, /health and /v1/models on a real model', async () => {
  const { target, draft } = await ensureTestModels();
  const e = await startEngine({ model: target, args: ['--draft-model', draft, '--ctx', '1024', '--parallel', '3'] });
  try {
    assert.ok(e.port > 0);
    assert.equal(e.ready.model.path, target);
    assert.equal(e.ready.model.arch, 'llama');
    assert.equal(e.ready.model.n_vocab, 32256);
    assert.equal(e.ready.draft_model?.path, draft);
    assert.deepEqual(e.ready.fim, { supported: true, repo_level: false, order: 'spm' });
    assert.equal(e.ready.n_ctx, 1024);
    assert.equal(e.ready.n_parallel, 3);
    assert.equal(e.ready.build.version, pkgVersion);
    assert.ok(e.ready.build.devices.length >= 1);
    const health = healthSchema.parse(await (await fetch(`${e.url}/health`)).json());
    assert.deepEqual(health, {
      status: 'ok',
      busy_sequences: 0,
      n_parallel: 3,
      // One model, no --chat-model: it serves both purposes.
      models: [{ id: 'pronto-test-target', purpose: ['completion', 'chat'] }],
      protocol: ENGINE_PROTOCOL_VERSION,
    });
    const models = (await (await fetch(`${e.url}/v1/models`)).json()) as { data: Array<{ id: string; meta: { path: string } }> };
    assert.deepEqual(
      models.data.map((m) => m.meta.path),
      [target, draft],
    );
    const notFound = await fetch(`${e.url}/nope`);
    assert.equal(notFound.status, 404);
    assert.equal(((await notFound.json()) as { error: { code: string } }).error.code, 'not_found');
  } finally {
    await e.stop();
  }
});

test('KV cache type: auto takes q8_0 for 64-wide heads (also through a chunk shift), else f16; an unusable q8_0 is refused', async () => {
  const { target, starcoder } = await ensureTestModels();
  const lines = Array.from({ length: 40 }, (_, i) => `value_${i} = compute(items[${i}], scale=${i * 7})\n`);
  const run = async (args: string[]): Promise<string | undefined> => {
    const e = await startEngine({ model: args[0]!, args: ['--ctx', '2048', '--parallel', '1', ...args.slice(1)] });
    try {
      // The second prompt drops the first lines: chunk reuse shifts the cached rest back (K-shift),
      // which llama.cpp must do on a quantized cache too.
      for (const prompt of [lines.join(''), lines.slice(3).join('')]) {
        const r = await fetch(`${e.url}/v1/completions`, {
          method: 'POST',
          body: JSON.stringify({ prompt, max_tokens: 8, temperature: 0, ignore_eos: true }),
        });
        assert.equal(r.status, 200);
        const body = (await r.json()) as { usage: { completion_tokens: number } };
        assert.equal(body.usage.completion_tokens, 8);
      }
      const metrics = await (await fetch(`${e.url}/metrics`)).text();
      const reused = Number(/^pronto_prompt_tokens_reused_total (\d+)/m.exec(metrics)?.[1]);
      assert.ok(reused > 100, `the shifted chunk was reused (${reused} tokens)`);
      return e.ready.kv_type;
    } finally {
      await e.stop();
    }
  };
  assert.equal(await run([starcoder]), 'q8_0'); // head size 64
  assert.equal(await run([starcoder, '--kv-type', 'f16']), 'f16');
  assert.equal(await run([target]), 'f16'); // head size 16
  // A draft whose heads q8_0 cannot take keeps an f16 cache of its own (a q8_0 context for it cannot
  // even be created), so the engine still starts and serves.
  assert.equal(await run([starcoder, '--draft-model', await ensureModel('starcoderDraft')]), 'q8_0');
  const impossible = await runEngine(['--model', target, '--kv-type', 'q8_0', '--ctx', '256']); // head size 16
  assert.notEqual(impossible.code, 0);
  assert.match(
    impossible.stderr,
    /--kv-type q8_0 needs a head size divisible by 64 \(this model's is 16\) and LLAMA_ATTN_ROT_DISABLE unset.*use --kv-type f16 or auto/,
  );
});

test('a model with FIM file separators reports repo-level FIM', async () => {
  const { starcoder } = await ensureTestModels();
  const e = await startEngine({ model: starcoder, args: ['--ctx', '512', '--parallel', '1'] });
  try {
    assert.deepEqual(e.ready.fim, { supported: true, repo_level: true, order: 'spm' });
    assert.equal(e.ready.model.arch, 'starcoder2');
  } finally {
    await e.stop();
  }
});

test('CPU fallback: no CUDA runtime here, so the engine says so and reports the CPU backend', async () => {
  const { target } = await ensureTestModels();
  const e = await startEngine({ model: target, args: ['--ctx', '256', '--parallel', '1'] });
  try {
    // This machine has libggml-cuda.so in the prebuilt package but no libcudart/libcuda/GPU.
    const cudaLib = /backends from (\S+)/.exec(e.stderr())?.[1];
    assert.ok(cudaLib, e.stderr());
    if (existsSync(path.join(cudaLib, 'libggml-cuda.so'))) {
      // One short line, once per start (the editor's log repeats it on every restart otherwise).
      const lines = e
        .stderr()
        .split('\n')
        .filter((l) => /CUDA/.test(l));
      assert.deepEqual(lines, ['pronto-engine: no CUDA runtime or NVIDIA driver found; running on the CPU.']);
    }
    assert.equal(e.ready.build.backend, 'CPU');
    assert.ok(e.ready.build.devices.every((d) => d.type === 'cpu'));
  } finally {
    await e.stop();
  }
});

test('missing, corrupt and truncated models fail fast with a message and a non-zero exit', async () => {
  const { target } = await ensureTestModels();
  const dir = mkdtempSync(path.join(tmpdir(), 'pronto-engine-'));
  const garbage = path.join(dir, 'garbage.gguf');
  writeFileSync(garbage, 'this is not a model');
  const truncated = path.join(dir, 'truncated.gguf');
  writeFileSync(truncated, readFileSync(target).subarray(0, 4096));

  const missing = await runEngine(['--model', path.join(dir, 'missing.gguf')]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /model file not found or not readable: .*missing\.gguf/);
  assert.equal(missing.stdout, '');

  const bad = await runEngine(['--model', garbage]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /not a GGUF model \(bad magic\): .*garbage\.gguf/);

  const trunc = await runEngine(['--model', truncated]);
  assert.notEqual(trunc.code, 0);
  assert.match(trunc.stderr, /failed to load model \(corrupt or unsupported GGUF\): .*truncated\.gguf/);
  assert.equal(trunc.stdout, '');

  const badDraft = await runEngine(['--model', target, '--draft-model', garbage]);
  assert.notEqual(badDraft.code, 0);
  assert.match(badDraft.stderr, /draft model file is not a GGUF model/);
});

test('bad command lines are refused with a message', async () => {
  const noModel = await runEngine([]);
  assert.equal(noModel.code, 2);
  assert.match(noModel.stderr, /--model is required/);
  const open = await runEngine(['--model', 'x.gguf', '--host', '0.0.0.0']);
  assert.equal(open.code, 2);
  assert.match(open.stderr, /--api-key is required when --host is not a loopback address/);
  const badPort = await runEngine(['--model', 'x.gguf', '--port', '99999']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--port must be an integer between 0 and 65535/);
  const unknown = await runEngine(['--model', 'x.gguf', '--frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown option "--frobnicate"/);
  const badKv = await runEngine(['--model', 'x.gguf', '--kv-type', 'q4']);
  assert.equal(badKv.code, 2);
  assert.match(badKv.stderr, /--kv-type must be auto, q8_0 or f16, got "q4"/);
  const badGate = await runEngine(['--model', 'x.gguf', '--speculation-gate', 'maybe']);
  assert.equal(badGate.code, 2);
  assert.match(badGate.stderr, /--speculation-gate must be on or off, got "maybe"/);
  assert.ok(engineBinary.endsWith('pronto-engine'));
});

test('--exit-with-stdin: the engine shuts down cleanly when its parent closes stdin', async () => {
  const { target } = await ensureTestModels();
  const { spawn } = await import('node:child_process');
  const child = spawn(
    engineBinary,
    ['--model', target, '--port', '0', '--threads', '1', '--ctx', '256', '--parallel', '1', '--exit-with-stdin'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  try {
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdin.end();
    assert.equal(await exited, 0);
    assert.match(stderr, /stdin closed, shutting down/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('SIGTERM ends the engine within seconds even while a WebSocket client stays connected', async () => {
  const { target } = await ensureTestModels();
  const engine = await startEngine({ model: target, args: ['--threads', '1', '--ctx', '256', '--parallel', '1'] });
  const socket = await EngineSocket.open(engine.url);
  try {
    const exited = engine.exited;
    const t0 = Date.now();
    engine.kill('SIGTERM');
    const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
    const outcome = await Promise.race([exited.then(() => 'exited' as const), deadline]);
    assert.equal(outcome, 'exited', `engine still running 10 s after SIGTERM with a client connected:\n${engine.stderr()}`);
    assert.ok(Date.now() - t0 < 10_000);
    assert.match(engine.stderr(), /signal 15, shutting down/);
  } finally {
    socket.ws.terminate();
    await engine.stop();
  }
});
