// The model's FIM token texts, read from the GGUF header the way llama.cpp reads them (metadata ids
// first, then the known texts), without decoding the vocabulary: a table of small files.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { readFimTokens } from '../../server/src/templates/fimTokens';
import { GgmlType, type GgufValue, GgufValueType, gv, writeGgufFile } from '../support/gguf';
import { ensureModel } from '../support/models';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'pronto-fim-tokens-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function gguf(name: string, vocab: string[], ids: Partial<Record<string, number>> = {}): string {
  const file = path.join(tmp, name);
  const kv: Array<[string, GgufValue]> = [
    ['general.architecture', gv.str('llama')],
    ['tokenizer.ggml.tokens', gv.arr(GgufValueType.STRING, vocab)],
    ...Object.entries(ids).map(([k, id]): [string, GgufValue] => [`tokenizer.ggml.${k}`, gv.u32(id!)]),
  ];
  writeGgufFile(file, kv, [{ name: 't', shape: [32], type: GgmlType.F32, data: () => new Uint8Array(128) }]);
  return file;
}

describe('readFimTokens', () => {
  const cases: Array<{ name: string; file: () => string; want: unknown }> = [
    {
      name: 'metadata ids naming texts llama.cpp does not know (read by id)',
      file: () =>
        gguf('ids-custom.gguf', ['<unk>', '[SUFFIX]', '[PREFIX]', '[MIDDLE]', 'x'], {
          fim_pre_token_id: 2,
          fim_suf_token_id: 1,
          fim_mid_token_id: 3,
        }),
      want: { pre: '[PREFIX]', suf: '[SUFFIX]', mid: '[MIDDLE]' },
    },
    {
      name: 'metadata ids win over known texts elsewhere in the vocabulary',
      file: () =>
        gguf('ids-win.gguf', ['<fim_prefix>', '<fim_suffix>', '<fim_middle>', '<P>', '<S>', '<M>'], {
          fim_pre_token_id: 3,
          fim_suf_token_id: 4,
          fim_mid_token_id: 5,
        }),
      want: { pre: '<P>', suf: '<S>', mid: '<M>' },
    },
    {
      name: 'the older prefix/suffix/middle keys',
      file: () => gguf('ids-old.gguf', ['a', '▁<PRE>', '▁<SUF>', '▁<MID>'], { prefix_token_id: 1, suffix_token_id: 2, middle_token_id: 3 }),
      want: { pre: '▁<PRE>', suf: '▁<SUF>', mid: '▁<MID>' },
    },
    {
      name: 'no ids: the texts llama.cpp recognises, with <|file_sep|>',
      file: () => gguf('texts.gguf', ['a', '<|fim_prefix|>', '<|fim_suffix|>', '<|fim_middle|>', '<|file_sep|>']),
      want: { pre: '<|fim_prefix|>', suf: '<|fim_suffix|>', mid: '<|fim_middle|>', sep: '<|file_sep|>' },
    },
    { name: 'no FIM tokens', file: () => gguf('none.gguf', ['a', 'b', 'c']), want: undefined },
    {
      name: 'an id past the vocabulary is not a token',
      file: () => gguf('past.gguf', ['a', 'b'], { fim_pre_token_id: 7, fim_suf_token_id: 0, fim_mid_token_id: 1 }),
      want: undefined,
    },
    {
      name: 'not a GGUF file',
      file: () => {
        const f = path.join(tmp, 'readme.gguf');
        writeFileSync(f, '# not a model\n');
        return f;
      },
      want: undefined,
    },
    { name: 'a missing file', file: () => path.join(tmp, 'missing.gguf'), want: undefined },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      assert.deepEqual(await readFimTokens(c.file()), c.want);
    });
  }

  test('the generated deepseek-coder and starcoder models (real tokenizers)', async () => {
    assert.deepEqual(await readFimTokens(await ensureModel('target')), {
      pre: '<｜fim▁begin｜>',
      suf: '<｜fim▁hole｜>',
      mid: '<｜fim▁end｜>',
    });
    assert.deepEqual(await readFimTokens(await ensureModel('starcoder')), {
      pre: '<fim_prefix>',
      suf: '<fim_suffix>',
      mid: '<fim_middle>',
      sep: '<file_sep>',
    });
  });
});
