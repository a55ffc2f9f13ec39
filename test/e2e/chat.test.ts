/**
 * Chat and prompt templates in real VS Code (code-server) in Chromium, against the real engine on
 * a generated model with a chat template. A user's path: open the chat, ask about a selection (the
 * chip shows its token count), see tokens stream, stop with Esc; slash-command completion; the
 * code-block actions (copy, insert, apply through the diff editor) on a conversation restored from
 * the stored history after a window reload (seeded the way a restart restores it: a random-weight
 * model writes no code blocks); the banners when the server is down and when the chat template is
 * not supported; the templates panel: edit a template, see the preview and its token count change,
 * make it invalid and see the error next to the field. Screenshots of both panels in light and
 * dark themes land in test-output/e2e/chat/screenshots/.
 */
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Page } from 'playwright-core';
import { baseSettings, realEngineAndModel, sampleFiles, type RealEngine } from './fixtures';
import { launchBrowser, outputRoot, repoRoot, screenshot, startCodeServer, type BrowserSession, type CodeServer } from './harness';
import { openFile, runCommand, waitForProntoLog as waitForLog, waitForStatus, webviewFrame } from './workbench';

const NAME = 'chat';
const shots = join(outputRoot, NAME, 'screenshots');
let server: CodeServer | undefined;
let session: BrowserSession | undefined;
let real: RealEngine | undefined;

async function chatModel(): Promise<string> {
  const mod = (await import(join(repoRoot, 'test', 'support', 'models.ts'))) as { ensureModel(name: string): Promise<string> };
  return mod.ensureModel('chat');
}

before(async () => {
  real = await realEngineAndModel();
  const settings = {
    ...baseSettings(real),
    'pronto.model.path': await chatModel(),
    'pronto.engine.contextSize': 8192,
    'pronto.engine.parallel': 2,
    'pronto.chat.maxTokens': 4096,
    'pronto.chat.temperature': 0,
    'workbench.colorTheme': 'Default Dark Modern',
  };
  server = await startCodeServer({ name: NAME, settings, files: sampleFiles, installExtension: 'copy' });
  session = await launchBrowser(shots);
  await session.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url.replace(/\/$/, '') });
  await session.page.goto(`${server.url}?folder=${encodeURIComponent(server.workspace)}`);
  await session.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
});

after(async () => {
  if (session) await screenshot(session.page, shots, 'last');
  await session?.close();
  await server?.stop();
});

const waitForProntoLog = (re: RegExp, timeoutMs: number) => waitForLog(server!.root, re, timeoutMs);

/** The status bar says the engine is ready (the server pushed it). */
const waitForEngineReady = (page: Page) => waitForStatus(page, /^Pronto: (ready|busy)\b/, 120_000);

async function pickTheme(page: Page, name: string): Promise<void> {
  await runCommand(page, 'Preferences: Color Theme');
  // The theme picker replaces the command palette: wait for its rows before typing.
  await page
    .locator('.quick-input-list .monaco-list-row', { hasText: /(Dark|Light) Modern/ })
    .first()
    .waitFor({ state: 'visible', timeout: 15_000 });
  const input = page.locator('.quick-input-widget input[type="text"]');
  await input.fill(name);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor({ state: 'visible', timeout: 15_000 });
  await page.keyboard.press('Enter');
}

async function editorText(page: Page): Promise<string> {
  return page.evaluate(() =>
    [...document.querySelectorAll('.editor-group-container .monaco-editor:not(.original-in-monaco-diff-editor) .view-line')]
      .map((l) => (l.textContent ?? '').replace(/\u00a0/g, ' '))
      .join('\n'),
  );
}

test('the chat view opens locked down, and asking about a selection attaches it with its token count', { timeout: 180_000 }, async () => {
  const page = session!.page;
  // The server is up with the chat model (the status bar says ready).
  await waitForEngineReady(page);
  await openFile(page, 'math.js', 'multiply');
  // Select the add function (lines 2-4) with the keyboard.
  await page.locator('.editor-group-container .monaco-editor .view-lines').click();
  await page.keyboard.press('Control+Home');
  await page.keyboard.press('ArrowDown');
  for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+ArrowDown');
  await runCommand(page, 'Pronto: Ask About Selection');
  const frame = await webviewFrame(page, '#input', 60_000);
  const csp = (await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
  assert.match(csp, /^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/]{20,}={0,2}'; style-src [^;]+$/);
  const chip = frame.locator('.chip[data-kind="selection"]', { hasText: / · \d+ tokens/ });
  await chip.waitFor({ state: 'visible', timeout: 30_000 });
  assert.match((await chip.textContent()) ?? '', /^Selection math\.js:2-4 · \d+ tokens/);
  await frame.locator('#tokens[data-tokens]:not([data-tokens=""])').waitFor({ state: 'attached', timeout: 30_000 });
  assert.match((await frame.locator('#tokens').textContent()) ?? '', /^\d+ tokens of context will be sent \(budget \d+\)/);
  // Removing the file chip (keyboard: its × button) leaves the selection.
  const fileChip = frame.locator('.chip[data-kind="file"][data-chip*="math.js"]');
  await fileChip.locator('.chip-remove').focus();
  await page.keyboard.press('Enter');
  await fileChip.waitFor({ state: 'detached', timeout: 10_000 });
  assert.ok(await chip.isVisible());
  await waitForProntoLog(/chat page ready/, 10_000);
});

test('a message streams token by token, and Esc stops it', { timeout: 180_000 }, async () => {
  const page = session!.page;
  const frame = await webviewFrame(page, '#input', 10_000);
  await frame.locator('#input').fill('Tell me a very long story about this code.');
  await frame.locator('#input').press('Enter');
  const answer = frame.locator('.turn.assistant').last();
  await answer.locator('.markdown').waitFor({ state: 'attached', timeout: 30_000 });
  // Tokens arrive while the answer is still being written (the page shows it streaming).
  const lengths: number[] = [];
  await frame.waitForFunction(
    () => {
      const a = [...document.querySelectorAll('.turn.assistant')].at(-1) as HTMLElement | undefined;
      return a?.dataset.status === 'streaming' && (a.querySelector('.markdown')?.textContent ?? '').length > 20;
    },
    undefined,
    { timeout: 60_000 },
  );
  lengths.push(((await answer.locator('.markdown').textContent()) ?? '').length);
  await frame.waitForFunction(
    (n) => {
      const a = [...document.querySelectorAll('.turn.assistant')].at(-1) as HTMLElement | undefined;
      return a?.dataset.status === 'streaming' && (a.querySelector('.markdown')?.textContent ?? '').length > n;
    },
    lengths[0]!,
    { timeout: 30_000 },
  );
  await screenshot(page, shots, 'chat-streaming-dark');
  assert.equal(await frame.locator('#stop').isVisible(), true);
  await frame.locator('#input').press('Escape');
  await frame.locator('.turn.assistant[data-status="stopped"]').waitFor({ state: 'attached', timeout: 30_000 });
  assert.match((await answer.locator('.meta').last().textContent()) ?? '', /stopped/);
  assert.ok(((await answer.locator('.markdown').textContent()) ?? '').length > lengths[0]!);
  assert.equal(await frame.locator('#stop').isVisible(), false);
  await waitForProntoLog(/chat: stop requested/, 10_000);
  await waitForProntoLog(/chat: cancelled/, 10_000);
  await screenshot(page, shots, 'chat-stopped-dark');
});

test('slash commands complete in the input', { timeout: 60_000 }, async () => {
  const frame = await webviewFrame(session!.page, '#input', 10_000);
  await frame.locator('#input').fill('');
  await frame.locator('#input').pressSequentially('/ex');
  await frame.locator('#slash li', { hasText: '/explain' }).waitFor({ state: 'visible', timeout: 10_000 });
  await frame.locator('#input').press('Tab');
  assert.equal(await frame.locator('#input').inputValue(), '/explain ');
  assert.ok(await frame.locator('#slash').isHidden());
  await frame.locator('#input').fill('');
});

test('the chat says when the server is down, and its button brings it back', { timeout: 120_000 }, async () => {
  const page = session!.page;
  const frame = await webviewFrame(page, '#input', 10_000);
  await runCommand(page, 'Pronto: Stop Language Server');
  await frame.locator('body[data-blocker="server-down"]').waitFor({ state: 'attached', timeout: 30_000 });
  assert.match((await frame.locator('#banner').textContent()) ?? '', /Pronto is not running/);
  await screenshot(page, shots, 'chat-server-down');
  await frame.locator('#banner button', { hasText: 'Restart server' }).click();
  await frame.locator('body[data-blocker=""]').waitFor({ state: 'attached', timeout: 90_000 });
});

/**
 * Sets pronto.chat.template the way a user does, in the Settings editor that `open` opens, and waits
 * until VS Code wrote it to the user's settings.json (the real signal), then closes the editor.
 */
async function setChatTemplateInUi(page: Page, open: () => Promise<void>, value: string): Promise<void> {
  await open();
  const field = page.locator('.settings-editor .setting-item-contents input.input').first();
  await field.waitFor({ state: 'visible', timeout: 30_000 });
  await field.fill(value);
  await field.press('Tab');
  const file = join(server!.root, 'user-data', 'User', 'settings.json');
  const deadline = Date.now() + 20_000;
  const written = () => {
    const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return value
      ? json['pronto.chat.template'] === value
      : json['pronto.chat.template'] === undefined || json['pronto.chat.template'] === '';
  };
  while (!written()) {
    assert.ok(Date.now() < deadline, `pronto.chat.template=${JSON.stringify(value)} written to settings.json`);
    await new Promise((r) => setTimeout(r, 100)); // re-read the file: its content is the signal
  }
  await page.keyboard.press('Escape');
  await page.locator('.settings-editor').first().waitFor({ state: 'hidden', timeout: 10_000 });
}

test('a chat template llama.cpp does not support gets a clear message in the panel', { timeout: 180_000 }, async () => {
  const page = session!.page;
  await setChatTemplateInUi(page, () => runCommand(page, 'Pronto: Set the Chat Template…'), 'no-such-template');
  await runCommand(page, 'Pronto: Open Chat');
  const frame = await webviewFrame(page, '#input', 10_000);
  // The setting reaches the server through workspace/configuration: send until the answer says so
  // (an answer that starts streaming was sent before that: stop it and send again).
  const deadline = Date.now() + 90_000;
  for (;;) {
    const answers = await frame.locator('.turn.assistant').count();
    await frame.locator('#input').fill('hello');
    await frame.locator('#input').press('Enter');
    await frame.waitForFunction((n) => document.querySelectorAll('.turn.assistant').length > n, answers, { timeout: 30_000 });
    const last = frame.locator('.turn.assistant').last();
    await frame.waitForFunction(
      () => {
        const a = [...document.querySelectorAll('.turn.assistant')].at(-1) as HTMLElement | undefined;
        return a?.dataset.status !== 'streaming' || (a.querySelector('.markdown')?.textContent ?? '').length > 0;
      },
      undefined,
      { timeout: 30_000 },
    );
    if ((await last.getAttribute('data-status')) === 'streaming') {
      await frame.locator('#input').press('Escape');
      await frame.locator('body[data-streaming="false"]').waitFor({ state: 'attached', timeout: 30_000 });
    }
    if (await frame.locator('body[data-blocker="no-chat-template"]').count()) break;
    assert.ok(Date.now() < deadline, 'the chat template setting took effect');
  }
  assert.match((await frame.locator('#banner').textContent()) ?? '', /no chat template.*not a template llama\.cpp supports/i);
  assert.match((await frame.locator('.turn.assistant').last().locator('.error').textContent()) ?? '', /pronto\.chat\.template/);
  await screenshot(page, shots, 'chat-no-template');
  // The banner's button opens the setting; clearing it clears the banner.
  await setChatTemplateInUi(page, () => frame.locator('#banner button', { hasText: 'Set a chat template' }).click(), '');
  await frame.locator('body[data-blocker=""]').waitFor({ state: 'attached', timeout: 30_000 });
});

test('code blocks of a restored conversation: copy, insert at the cursor, apply through the diff editor', {
  timeout: 240_000,
}, async () => {
  const page = session!.page;
  // Seed the stored history the way a restart restores it, then reload the window.
  const file = (await waitForProntoLog(/chat history: (\S+chat-history\.json)/, 10_000))[1]!;
  const code = 'function square(x) {\n  return x * x;\n}';
  writeFileSync(
    file,
    JSON.stringify({
      version: 1,
      currentId: 'seeded',
      conversations: [
        {
          id: 'seeded',
          title: 'How do I square a number?',
          createdAt: 1,
          updatedAt: 2,
          turns: [
            { role: 'user', text: 'How do I square a number?', sent: 'How do I square a number?', context: [] },
            {
              role: 'assistant',
              text: `Like this:\n\n\`\`\`javascript\n${code}\n\`\`\`\n\nIt multiplies **x** by itself.`,
              status: 'done',
              finishReason: 'stop',
            },
          ],
        },
      ],
    }),
  );
  const reloaded = page.waitForEvent('load', { timeout: 60_000 });
  await runCommand(page, 'Developer: Reload Window');
  await reloaded;
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  await waitForEngineReady(page);
  await openFile(page, 'math.js', 'multiply');
  await page.locator('.editor-group-container .monaco-editor .view-lines').click();
  await page.keyboard.press('Control+End');
  await runCommand(page, 'Pronto: Open Chat');
  const frame = await webviewFrame(page, '.code-actions', 60_000);
  assert.equal(await frame.locator('#conversations').inputValue(), 'seeded');
  assert.ok(await frame.locator('.markdown strong', { hasText: 'x' }).count());
  assert.ok(await frame.locator('pre.code-block .hljs-keyword').count(), 'highlighted');
  await screenshot(page, shots, 'chat-code-block-dark');

  // Copy.
  await frame.locator('.code-actions button[data-action="copy"]').click();
  await frame.locator('#notice', { hasText: 'Copied to the clipboard.' }).waitFor({ state: 'visible', timeout: 10_000 });
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), code);

  // Insert at the cursor (the end of math.js).
  await frame.locator('.code-actions button[data-action="insert"]').click();
  await frame.locator('#notice', { hasText: 'Inserted into' }).waitFor({ state: 'visible', timeout: 10_000 });
  await page.waitForFunction(() => document.querySelector('.editor-group-container')?.textContent?.includes('square'), undefined, {
    timeout: 10_000,
  });
  assert.match(await editorText(page), /function square\(x\) \{/);
  await page.keyboard.press('Control+z'); // back to the file as it was (the focus is in the editor after the insert)

  // Apply: a diff to review, then Accept.
  await page.locator('.editor-group-container .monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+End');
  await frame.locator('.code-actions button[data-action="apply"]').click();
  await page.locator('.monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 20_000 });
  const accept = page.locator('.notifications-toasts .monaco-button', { hasText: 'Accept' });
  await accept.waitFor({ state: 'visible', timeout: 20_000 });
  await screenshot(page, shots, 'chat-apply-diff');
  await accept.click();
  await frame.locator('#notice', { hasText: 'Applied the proposed change' }).waitFor({ state: 'visible', timeout: 20_000 });
  await page.locator('.monaco-diff-editor').first().waitFor({ state: 'hidden', timeout: 20_000 });
  assert.match(await editorText(page), /function square\(x\) \{/);
  await waitForProntoLog(/chat code block: apply: Applied/, 10_000);
});

test('the templates panel: edit, preview with token count, inline error; both panels in light and dark', { timeout: 180_000 }, async () => {
  const page = session!.page;
  await runCommand(page, 'Pronto: Open Prompt Templates');
  const frame = await webviewFrame(page, '#list', 60_000);
  const csp = (await frame.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')) ?? '';
  assert.match(csp, /^default-src 'none'; script-src 'nonce-[A-Za-z0-9+/]{20,}={0,2}'; style-src [^;]+$/);
  await frame.locator('button.entry[data-id="slash-explain"]').click();
  const tokensNow = async () => Number(await frame.locator('#token-count').getAttribute('data-tokens'));
  await frame.waitForFunction(() => Number(document.getElementById('token-count')?.dataset.tokens) > 0, undefined, { timeout: 30_000 });
  const before = await tokensNow();
  assert.match((await frame.locator('#rendered').textContent()) ?? '', /^Explain what this javascript code from math\.js does/);

  // Edit: more text, more tokens; the preview follows.
  const template = frame.locator('#f-template');
  await template.focus();
  await page.keyboard.press('Control+End');
  await page.keyboard.type(' Mention the complexity of each step in detail please.');
  // The preview of the whole edit (previews of partial typing come first), then its token count.
  await frame.waitForFunction(
    () => (document.getElementById('rendered')?.textContent ?? '').endsWith('Mention the complexity of each step in detail please.'),
    undefined,
    { timeout: 30_000 },
  );
  assert.ok((await tokensNow()) > before, `${await tokensNow()} tokens > ${before} before the edit`);
  // Variables complete while typing.
  await page.keyboard.type(' {sel');
  await frame.locator('#vars li', { hasText: '{selection}' }).waitFor({ state: 'visible', timeout: 10_000 });
  await page.keyboard.press('Tab');
  assert.match(await template.inputValue(), /\{selection\}$/);
  // An unknown variable: the error appears next to the field, and nothing renders.
  await page.keyboard.type(' {nope}');
  await frame.locator('#e-template', { hasText: 'unknown variable {nope}' }).waitFor({ state: 'visible', timeout: 30_000 });
  assert.equal(await template.getAttribute('aria-invalid'), 'true');
  assert.equal(await frame.locator('#rendered').textContent(), '');
  await screenshot(page, shots, 'templates-invalid-dark');
  // Fixed again, saved to the workspace file: the chat's command list has it at once.
  await template.fill('Explain {selection} in {language} briefly. {input}');
  await frame.locator('#e-template:empty').waitFor({ state: 'attached', timeout: 30_000 });
  await frame.locator('#save').click();
  await frame
    .locator('#notice', { hasText: 'Saved slash-explain to the workspace templates' })
    .waitFor({ state: 'visible', timeout: 30_000 });
  const saved = JSON.parse(readFileSync(join(server!.workspace, '.pronto', 'templates.json'), 'utf8'));
  assert.equal(saved.templates[0].template, 'Explain {selection} in {language} briefly. {input}');

  // Both panels, both themes: the chat in the sidebar, the templates in the editor.
  await runCommand(page, 'Pronto: Open Chat');
  await webviewFrame(page, '#input', 30_000);
  await screenshot(page, shots, 'panels-dark');
  await pickTheme(page, 'Light Modern');
  await page.locator('.monaco-workbench.vs').waitFor({ state: 'attached', timeout: 30_000 });
  await screenshot(page, shots, 'panels-light');
  await pickTheme(page, 'Dark High Contrast');
  await page.locator('.monaco-workbench.hc-black').waitFor({ state: 'attached', timeout: 30_000 });
  await screenshot(page, shots, 'panels-high-contrast');
  await pickTheme(page, 'Dark Modern');
  await page.locator('.monaco-workbench.vs-dark').waitFor({ state: 'attached', timeout: 30_000 });
});

test('VS Code reopens both panels after a reload, with their state; duplicate and delete a template, new and delete a conversation', {
  timeout: 180_000,
}, async () => {
  const page = session!.page;
  const frame = await webviewFrame(page, '#list', 10_000);
  await frame.locator('button.entry[data-id="slash-tests"]').click();
  await frame.locator('#f-template').focus();
  await page.keyboard.press('Control+End');
  await page.keyboard.type(' (draft kept)');
  await frame.waitForFunction(() => (document.getElementById('rendered')?.textContent ?? '').endsWith('(draft kept)'), undefined, {
    timeout: 30_000,
  });
  const reloaded = page.waitForEvent('load', { timeout: 60_000 });
  await runCommand(page, 'Developer: Reload Window');
  await reloaded;
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 60_000 });
  // The templates panel comes back (its serializer), with the unsaved draft; the chat view with its conversation.
  const restored = await webviewFrame(page, '#list', 120_000);
  await restored.locator('#f-template').waitFor({ state: 'visible', timeout: 30_000 });
  assert.match(await restored.locator('#f-template').inputValue(), /\(draft kept\)$/);
  assert.equal(await restored.locator('#f-id').inputValue(), 'slash-tests');
  const chat = await webviewFrame(page, '#conversations', 60_000);
  await chat.locator('.code-actions').first().waitFor({ state: 'attached', timeout: 30_000 });
  await screenshot(page, shots, 'panels-restored');

  // Templates: duplicate, save (a new slash command), delete it again.
  await restored.locator('#duplicate').click();
  assert.equal(await restored.locator('#f-id').inputValue(), 'slash-tests-copy');
  assert.equal(await restored.locator('#f-name').inputValue(), 'tests-copy');
  await restored.locator('#save').click();
  await restored.locator('button.entry[data-id="slash-tests-copy"]').waitFor({ state: 'visible', timeout: 30_000 });
  await restored.locator('#delete').click();
  await restored.locator('button.entry[data-id="slash-tests-copy"]').waitFor({ state: 'detached', timeout: 30_000 });

  // Chat: a new conversation, then delete it; the seeded one is current again.
  await chat.locator('#new').click();
  await chat.waitForFunction(() => document.querySelectorAll('#conversations option').length === 2, undefined, { timeout: 10_000 });
  assert.equal(await chat.locator('.turn').count(), 0);
  await chat.locator('#delete').click();
  await chat.waitForFunction(() => document.querySelectorAll('#conversations option').length === 1, undefined, { timeout: 10_000 });
  assert.equal(await chat.locator('#conversations').inputValue(), 'seeded');
});
