#!/usr/bin/env node
// Draws the extension's icon (extension/marketplace/icon.png, 256x256) with no image library: a
// rounded square, a line of typed code, the ghost text after it, and the cursor between them, which
// is what Pronto does. Run again after changing the drawing: node scripts/make-icon.mjs
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const N = 256;
const SS = 4; // supersampling per axis, for smooth edges

/** Signed distance to a rounded rectangle centred at (cx, cy) with half sizes (hw, hh) and radius r. */
function roundRect(x, y, cx, cy, hw, hh, r) {
  const qx = Math.abs(x - cx) - hw + r;
  const qy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
}

const shapes = [
  // [distance function, RGBA]
  [(x, y) => roundRect(x, y, 128, 128, 120, 120, 44), [24, 32, 56, 255]], // tile
  [(x, y) => roundRect(x, y, 84, 104, 52, 11, 11), [236, 240, 248, 255]], // typed code, line 1
  [(x, y) => roundRect(x, y, 186, 104, 38, 11, 11), [130, 146, 186, 150]], // ghost text, line 1
  [(x, y) => roundRect(x, y, 110, 152, 78, 11, 11), [130, 146, 186, 150]], // ghost text, line 2
  [(x, y) => roundRect(x, y, 140, 104, 4, 30, 3), [255, 196, 64, 255]], // the cursor
];

const pixels = Buffer.alloc(N * N * 4);
for (let py = 0; py < N; py++) {
  for (let px = 0; px < N; px++) {
    let [r, g, b, a] = [0, 0, 0, 0];
    for (let sy = 0; sy < SS; sy++) {
      for (let sx = 0; sx < SS; sx++) {
        const x = px + (sx + 0.5) / SS;
        const y = py + (sy + 0.5) / SS;
        let c = [0, 0, 0, 0];
        for (const [dist, color] of shapes) {
          if (dist(x, y) > 0) continue;
          const alpha = color[3] / 255;
          c = [c[0] * (1 - alpha) + color[0] * alpha, c[1] * (1 - alpha) + color[1] * alpha, c[2] * (1 - alpha) + color[2] * alpha, 255];
        }
        r += c[0];
        g += c[1];
        b += c[2];
        a += c[3];
      }
    }
    const n = SS * SS;
    pixels.set([Math.round(r / n), Math.round(g / n), Math.round(b / n), Math.round(a / n)], (py * N + px) * 4);
  }
}

// PNG: signature, IHDR, IDAT (filter byte 0 per row), IEND.
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(N, 0);
ihdr.writeUInt32BE(N, 4);
ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
const raw = Buffer.alloc(N * (N * 4 + 1));
for (let y = 0; y < N; y++) pixels.copy(raw, y * (N * 4 + 1) + 1, y * N * 4, (y + 1) * N * 4);
const png = Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
const out = join(root, 'extension', 'marketplace', 'icon.png');
writeFileSync(out, png);
console.log(`wrote ${out} (${png.length} bytes)`);
