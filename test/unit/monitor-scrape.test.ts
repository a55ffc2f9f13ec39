/**
 * The sampler's HTTP scrape (scrapeMetrics) against real local HTTP servers that misbehave: too
 * large, never answering, redirecting elsewhere, refusing the key, failing. Each ends as a state
 * with a reason a person can act on; nothing hangs or grows without bound.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { MAX_METRICS_BYTES } from '../../server/src/monitor/prometheusText';
import { scrapeMetrics } from '../../server/src/monitor/service';

const servers: http.Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a good answer, with the key sent as a bearer token', async () => {
  let auth = '';
  const url = await serve((req, res) => {
    auth = req.headers.authorization ?? '';
    res.end('pronto_busy_sequences 1\n');
  });
  const r = await scrapeMetrics(url, 'k3y', 2000);
  assert.deepEqual(r, { ok: true, text: 'pronto_busy_sequences 1\n' });
  assert.equal(auth, 'Bearer k3y');
});

test('an endless body is cut at the size limit', async () => {
  const url = await serve((_req, res) => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const write = () => {
      while (res.write(chunk)) {
        if (res.writableLength > MAX_METRICS_BYTES * 4) break;
      }
    };
    res.on('drain', write);
    write();
  });
  const r = await scrapeMetrics(url, undefined, 10_000);
  assert.equal(r.ok, false);
  assert.equal(r.ok ? '' : r.state, 'bad-response');
  assert.match(r.ok ? '' : r.message, /sent more than 2097152 bytes/);
});

test('a server that never answers ends at the deadline', async () => {
  const url = await serve(() => {
    /* never answers */
  });
  const r = await scrapeMetrics(url, undefined, 300);
  assert.equal(r.ok ? '' : r.state, 'unreachable');
  assert.match(r.ok ? '' : r.message, /no answer within 300 ms/);
});

test('redirects are not followed (the key must not travel to another host)', async () => {
  let followed = false;
  const elsewhere = await serve((_req, res) => {
    followed = true;
    res.end('pronto_busy_sequences 1\n');
  });
  const url = await serve((_req, res) => {
    res.writeHead(302, { location: `${elsewhere}/metrics` });
    res.end();
  });
  const r = await scrapeMetrics(url, 'secret', 2000);
  assert.equal(r.ok ? '' : r.state, 'unreachable');
  assert.equal(followed, false);
});

test('401 is a refused key; other errors name the status', async () => {
  const url = await serve((req, res) => {
    res.writeHead(req.headers.authorization ? 500 : 401);
    res.end('{"error":{}}');
  });
  const refused = await scrapeMetrics(url, undefined, 2000);
  assert.equal(refused.ok ? '' : refused.state, 'unauthorized');
  assert.match(refused.ok ? '' : refused.message, /refused the API key \(HTTP 401\)/);
  const failed = await scrapeMetrics(url, 'k', 2000);
  assert.equal(failed.ok ? '' : failed.state, 'bad-response');
  assert.match(failed.ok ? '' : failed.message, /answered HTTP 500/);
  const notUrl = await scrapeMetrics('not a url', undefined, 2000);
  assert.match(notUrl.ok ? '' : notUrl.message, /not a URL/);
});
