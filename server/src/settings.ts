/**
 * Every `pronto.*` setting the sidecar reads: one table of zod schemas with defaults and descriptions.
 * The extension's package.json `contributes.configuration` must list the same keys with the same
 * defaults (a unit test can compare them against `settingsTable`).
 *
 * Settings arrive from two places in the same nested shape: `initializationOptions.pronto` (editors
 * without workspace/configuration, e.g. Neovim) and `workspace/configuration` section "pronto"
 * (VS Code), the latter winning. Each setting is validated on its own with safeParse: a bad value
 * yields a message naming the setting, and that setting falls back to its default; the rest are kept.
 */
import { z } from 'zod';
import { DEFAULT_LANGUAGE_SWITCHES } from '../../protocol/languages';

/** A whole number in [min, max], with messages a person reads in a notification. */
const int = (min: number, max: number) => {
  const range = `must be a whole number from ${min} to ${max}`;
  return z.number(range).int(range).min(min, range).max(max, range);
};
/** A number (fractions allowed: 0.5 %) in [min, max], with a message a person reads. */
const limit = (min: number, max: number) => {
  const range = `must be a number from ${min} to ${max}`;
  return z.number(range).min(min, range).max(max, range);
};
/** A token budget: a whole, non-negative number of tokens up to `max`. */
const tokens = (max: number) =>
  z
    .number('must be a number of tokens')
    .int('must be a whole number of tokens')
    .min(0, 'must not be negative')
    .max(max, `must be at most ${max} tokens`);

/** Dotted name (without the `pronto.` prefix) -> schema, default, description. */
export const settingsTable = {
  enable: { schema: z.boolean(), default: true, description: 'Show inline completions.' },
  'model.path': {
    schema: z.string(),
    default: '',
    description: 'Path of a GGUF code model. Empty: no completions until a model is chosen (or the demo model, see pronto.model.demo).',
  },
  'model.demo': {
    schema: z.boolean(),
    default: false,
    description:
      'When pronto.model.path is empty, run the bundled demo model: random weights, so its suggestions are meaningless. For trying Pronto without a model.',
  },
  'model.draftPath': {
    schema: z.string(),
    default: '',
    description: 'Path of a small GGUF draft model of the same family, for speculative decoding. Empty: none.',
  },
  'model.mirror': {
    schema: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
    default: '',
    description: 'Base URL that replaces https://huggingface.co for catalog downloads (a mirror). Empty: Hugging Face.',
  },
  'engine.path': {
    schema: z.string(),
    default: '',
    description: 'Path of the pronto-engine binary. Empty: $PRONTO_ENGINE_PATH, then the one built in native/.',
  },
  'engine.url': {
    schema: z.union([z.literal(''), z.url({ protocol: /^https?$/ })]),
    default: '',
    description:
      "URL of a running remote engine (http://host:port). When set, no local engine is started. Its API key: **Pronto: Set Remote Engine API Key…** (kept in VS Code's secret storage).",
  },
  'engine.gpuLayers': { schema: int(-1, 1000), default: -1, description: 'Layers to offload to the GPU (-1: all, 0: CPU only).' },
  'engine.contextSize': {
    schema: int(256, 262144),
    default: 8192,
    description:
      'Context size (tokens) of the engine: the TOTAL shared by all its parallel sequences (pronto.engine.parallel), not a per-sequence size.',
  },
  'engine.parallel': { schema: int(1, 16), default: 2, description: 'Sequences the engine decodes in parallel.' },
  'engine.threads': {
    schema: int(0, 256),
    default: 0,
    description: 'CPU threads for the engine (0: the engine decides: all cores but one).',
  },
  'completion.debounceMs': {
    schema: int(0, 2000),
    default: 75,
    description: 'Base delay before asking the engine; adapted to the typing speed.',
  },
  'completion.maxTokens': { schema: int(1, 2048), default: 128, description: 'Tokens generated at most per suggestion.' },
  'completion.timeBudgetMs': {
    schema: int(50, 60000),
    default: 3000,
    description: 'Stop decoding a suggestion after this many milliseconds.',
  },
  'completion.multiline': {
    schema: z.enum(['auto', 'always', 'never']),
    default: 'auto' as 'auto' | 'always' | 'never',
    description: 'Multi-line suggestions: decided from the cursor context (auto), always, or never.',
  },
  'completion.alternatives': {
    schema: int(1, 5),
    default: 1,
    description: 'Suggestions generated per request (the first greedy, the others sampled).',
  },
  'completion.prefetch': { schema: z.boolean(), default: true, description: 'Compute the next suggestion while one is shown.' },
  'completion.languages': {
    schema: z.record(z.string(), z.boolean('each language must be true or false')),
    default: DEFAULT_LANGUAGE_SWITCHES as Record<string, boolean>,
    description:
      'Where suggestions appear, by language id (true: on, false: off); "*" stands for every language not listed. Plain text, Markdown and commit messages are off by default.',
  },
  'context.prefixTokens': {
    schema: tokens(65536),
    default: 1024,
    description: 'Tokens of the file before the cursor the model sees at most (the engine cuts at a line start near this budget).',
  },
  'context.suffixTokens': {
    schema: tokens(65536),
    default: 256,
    description: 'Tokens of the file after the cursor the model sees at most.',
  },
  'context.extraTokens': {
    schema: tokens(65536),
    default: 1024,
    description:
      'Tokens of extra context (recently edited files, definitions) the model sees at most; the chunks nearest the cursor are kept first.',
  },
  'context.prefixChars': {
    schema: int(0, 1000000),
    default: 200000,
    description:
      "Upper bound on the characters before the cursor sent to the engine, on top of the token budget (converted with the model's characters per token, measured with its tokenizer).",
  },
  'context.suffixChars': {
    schema: int(0, 1000000),
    default: 50000,
    description: 'Upper bound on the characters after the cursor sent to the engine, on top of the token budget.',
  },
  'context.ringChunks': {
    schema: int(0, 64),
    default: 8,
    description: 'Chunks of recently edited, opened and saved files sent as extra context (0: off).',
  },
  'context.ringChunkLines': { schema: int(4, 512), default: 48, description: 'Lines per extra-context chunk.' },
  'monitor.intervalSeconds': {
    schema: int(1, 60),
    default: 2,
    description: "Seconds between two samples of the engines' metrics for the monitor (2 hours of samples are kept).",
  },
  'monitor.alerts.latencyP95Ms': {
    schema: limit(0, 600000),
    default: 200,
    description: 'Warn when the engine request latency p95 over the alert window is above this many milliseconds (0: off).',
  },
  'monitor.alerts.gpuUtilisationPercent': {
    schema: limit(0, 100),
    default: 90,
    description: 'Critical alert when GPU utilisation is above this percentage (0: off). Needs an NVIDIA GPU with NVML.',
  },
  'monitor.alerts.memoryPercent': {
    schema: limit(0, 100),
    default: 90,
    description: 'Warn when GPU memory (on a GPU) or RAM (otherwise) in use is above this percentage (0: off).',
  },
  'monitor.alerts.errorRatePercent': {
    schema: limit(0, 100),
    default: 1,
    description: "Warn when more than this percentage of the engine's answers over the alert window are errors (0: off).",
  },
  'monitor.alerts.windowSeconds': {
    schema: int(10, 3600),
    default: 60,
    description: 'The alert window: latency p95 and error rate are computed over this many seconds.',
  },
  'monitor.alerts.forSeconds': {
    schema: int(0, 3600),
    default: 30,
    description: 'An alert fires only after its value stayed above the threshold this long, and clears after it stayed below as long.',
  },
  'monitor.alerts.hysteresisPercent': {
    schema: limit(0, 90),
    default: 10,
    description: 'An alert clears only once its value is this many percent below the threshold (no flapping around it).',
  },
  'monitor.alerts.cooldownMinutes': {
    schema: int(0, 1440),
    default: 15,
    description: 'At most one notification per alert and engine within this many minutes.',
  },
  'monitor.alerts.notifications': {
    schema: z.boolean(),
    default: true,
    description: 'Show a notification when an alert fires (the status bar and the monitor show alerts either way).',
  },
  'chat.modelPath': {
    schema: z.string(),
    default: '',
    description:
      'Path of a GGUF instruct (chat) model the engine loads next to the code model, for the chat panel; completions are still served first. Empty: chat uses the code model.',
  },
  'chat.maxTokens': { schema: int(1, 4096), default: 512, description: 'Tokens a chat answer has at most.' },
  'chat.contextTokens': {
    schema: tokens(262144),
    default: 2048,
    description:
      'Tokens of attached context (selection, files) a chat message carries at most; the rest is cut, and the chat panel says what.',
  },
  'chat.temperature': {
    schema: z.number('must be a number').min(0, 'must not be negative').max(2, 'must be at most 2'),
    default: 0.2,
    description: 'Sampling temperature of chat answers (0: always the most likely token).',
  },
  'chat.template': {
    schema: z.string().max(65536),
    default: '',
    description:
      "Chat template for models whose own is missing or not supported: a llama.cpp built-in name (chatml, llama3, deepseek, mistral-v7, phi3, gemma, ...). Empty: the model's own.",
  },
} as const;

export type SettingKey = keyof typeof settingsTable;

export type Settings = { -readonly [K in SettingKey]: z.infer<(typeof settingsTable)[K]['schema']> };

export const defaultSettings: Settings = Object.fromEntries(Object.entries(settingsTable).map(([k, v]) => [k, v.default])) as Settings;

export interface SettingsResult {
  settings: Settings;
  /** One message per bad value, naming the setting; empty when all is well. */
  problems: string[];
  /** The same, with the setting's full id apart (for a client that offers to open it). */
  issues: Array<{ setting: string; message: string }>;
}

/** Reads `a.b` from `{a: {b}}` or from a flat `{"a.b"}` key (both occur in the wild). */
function lookup(source: unknown, dotted: string): unknown {
  if (source === null || typeof source !== 'object') return undefined;
  const flat = (source as Record<string, unknown>)[dotted];
  if (flat !== undefined) return flat;
  let node: unknown = source;
  for (const part of dotted.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** A bad value as a person should see it in a one-line message: Infinity stays Infinity, long values are cut. */
function shownValue(raw: unknown): string {
  const text = typeof raw === 'number' && !Number.isFinite(raw) ? String(raw) : (JSON.stringify(raw) ?? String(raw));
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/**
 * Validates settings from any number of sources (later ones win per setting). `null`/`undefined`
 * values mean "not set". Never throws.
 */
export function parseSettings(...sources: unknown[]): SettingsResult {
  const settings = { ...defaultSettings } as Record<string, unknown>;
  const issues: Array<{ setting: string; message: string }> = [];
  for (const [key, entry] of Object.entries(settingsTable)) {
    let raw: unknown;
    for (const source of sources) {
      const value = lookup(source, key);
      if (value !== undefined && value !== null) raw = value;
    }
    if (raw === undefined) continue;
    const parsed = (entry.schema as z.ZodType).safeParse(raw);
    if (parsed.success) {
      settings[key] = parsed.data;
    } else {
      const why = parsed.error.issues.map((i) => i.message).join('; ');
      issues.push({
        setting: `pronto.${key}`,
        message: `Setting "pronto.${key}" has an invalid value ${shownValue(raw)}: ${why}. Using the default ${JSON.stringify(entry.default)}.`,
      });
    }
  }
  return { settings: settings as Settings, problems: issues.map((i) => i.message), issues };
}

/** Settings whose change needs the engine restarted. */
export const engineSettingKeys: SettingKey[] = [
  'model.path',
  'model.demo',
  'model.draftPath',
  'chat.modelPath',
  'engine.path',
  'engine.url',
  'engine.gpuLayers',
  'engine.contextSize',
  'engine.parallel',
  'engine.threads',
];

export function engineSettingsChanged(a: Settings, b: Settings): boolean {
  return engineSettingKeys.some((k) => a[k] !== b[k]);
}
