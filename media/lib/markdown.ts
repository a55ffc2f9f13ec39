/**
 * Markdown of chat answers to safe HTML, in the webview (and in unit tests under jsdom).
 *
 * Model output is untrusted text. Two layers keep it inert:
 * 1. marked renders Markdown, with raw HTML in the answer rendered as escaped text (the `html`
 *    renderer), so `<script>` or `<img onerror>` from the model show as text;
 * 2. DOMPurify sanitises the result with an allow-list (no scripts, no event handlers, no
 *    `javascript:`/`data:` URLs, no forms, no images, no styles), whatever marked produced.
 * Code blocks are highlighted by highlight.js (languages registered below, bundled; nothing is
 * loaded from the network) and carry their language for the block's actions.
 */
import type { DOMPurify } from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import csharp from 'highlight.js/lib/languages/csharp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import kotlin from 'highlight.js/lib/languages/kotlin';
import markdown from 'highlight.js/lib/languages/markdown';
import php from 'highlight.js/lib/languages/php';
import python from 'highlight.js/lib/languages/python';
import ruby from 'highlight.js/lib/languages/ruby';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import swift from 'highlight.js/lib/languages/swift';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import { Marked } from 'marked';

const languages = {
  bash,
  c,
  cpp,
  csharp,
  css,
  diff,
  go,
  java,
  javascript,
  json,
  kotlin,
  markdown,
  php,
  python,
  ruby,
  rust,
  sql,
  swift,
  typescript,
  xml,
  yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);
hljs.registerAliases(['sh', 'shell', 'shellscript', 'zsh'], { languageName: 'bash' });
hljs.registerAliases(['ts', 'tsx', 'typescriptreact'], { languageName: 'typescript' });
hljs.registerAliases(['js', 'jsx', 'javascriptreact', 'mjs'], { languageName: 'javascript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });
hljs.registerAliases(['rs'], { languageName: 'rust' });
hljs.registerAliases(['yml'], { languageName: 'yaml' });
hljs.registerAliases(['h', 'hpp', 'cc'], { languageName: 'cpp' });

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A language name as it may appear in a class attribute (anything else is dropped). */
function safeLanguage(lang: string | undefined): string {
  const name = (lang ?? '').trim().split(/\s+/)[0] ?? '';
  return /^[A-Za-z0-9_+#.-]{1,32}$/.test(name) ? name : '';
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  async: false,
  renderer: {
    // Raw HTML in the answer is shown, not interpreted.
    html({ text }) {
      return escapeHtml(text);
    },
    code({ text, lang }) {
      const language = safeLanguage(lang);
      const known = language && hljs.getLanguage(language) ? language : '';
      const body = known ? hljs.highlight(text, { language: known, ignoreIllegals: true }).value : escapeHtml(text);
      return `<pre class="code-block" data-language="${escapeHtml(language)}"><code class="hljs${known ? ` language-${known}` : ''}">${body}</code></pre>\n`;
    },
    image({ text }) {
      // No images from answers (they would be requests to anywhere): the alt text stands in.
      return escapeHtml(text);
    },
  },
});

const SANITIZE = {
  ALLOWED_TAGS: [
    'a',
    'b',
    'blockquote',
    'br',
    'code',
    'del',
    'em',
    'h1',
    'h2',
    'h3',
    'h4',
    'h5',
    'h6',
    'hr',
    'i',
    'input',
    'li',
    'ol',
    'p',
    'pre',
    's',
    'span',
    'strong',
    'sub',
    'sup',
    'table',
    'tbody',
    'td',
    'th',
    'thead',
    'tr',
    'ul',
  ],
  ALLOWED_ATTR: ['href', 'title', 'class', 'data-language', 'align', 'type', 'checked', 'disabled', 'start'],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  // data-* attributes carry no behaviour; code blocks use data-language.
  ALLOW_DATA_ATTR: true,
};

/** Renders an answer to sanitised HTML with the given DOMPurify instance (the page's, or jsdom's in tests). */
export function renderMarkdown(text: string, purify: DOMPurify): string {
  const html = marked.parse(text) as string;
  const clean = purify.sanitize(html, SANITIZE) as unknown as string;
  return clean;
}

/** Only checkboxes survive as inputs (GFM task lists), always disabled. */
export function hardenTaskInputs(root: ParentNode): void {
  for (const input of root.querySelectorAll('input')) {
    if (input.getAttribute('type') !== 'checkbox') input.remove();
    else input.setAttribute('disabled', '');
  }
  for (const a of root.querySelectorAll('a')) a.setAttribute('rel', 'noopener noreferrer');
}
