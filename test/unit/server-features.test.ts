/**
 * Feature modules: a feature registers its own handlers and gets the lifecycle hooks, in order,
 * through a real JSON-RPC connection to startServer (in-process, over streams).
 */
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { createConnection } from 'vscode-languageserver/node';
import type { Feature } from '../../server/src/features/feature';
import { startServer } from '../../server/src/server';

function connect(features: Feature[]) {
  const toServer = new PassThrough();
  const toClient = new PassThrough();
  const serverConnection = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(toClient));
  // No engine in this test: the engine feature is not registered, so nothing is started.
  startServer(serverConnection, { features });
  const client = createMessageConnection(new StreamMessageReader(toClient), new StreamMessageWriter(toServer));
  client.onRequest('client/registerCapability', () => null);
  client.onNotification('window/logMessage', () => undefined);
  client.listen();
  return {
    client,
    dispose: () => {
      client.dispose();
      serverConnection.dispose();
    },
  };
}

test('a feature registers its own handler and receives initialize, initialized, settings changes and shutdown, in order', async () => {
  const events: string[] = [];
  const echo: Feature = {
    name: 'echo',
    register(ctx) {
      let count = 0; // state owned by the feature
      ctx.connection.onRequest('test/echo', (p: { text: string }) => ({
        text: p.text,
        count: ++count,
        debounce: ctx.settings()['completion.debounceMs'],
      }));
      return {
        capabilities: () => {
          events.push('capabilities');
          return { experimental: { echo: true } };
        },
        initialized: () => void events.push(`initialized:${ctx.settings()['completion.debounceMs']}`),
        settingsChanged: (prev, next) => void events.push(`settings:${prev['completion.debounceMs']}->${next['completion.debounceMs']}`),
        shutdown: () => void events.push('shutdown'),
      };
    },
  };
  const second: Feature = { name: 'second', register: () => ({ initialized: () => void events.push('second initialized') }) };
  const { client, dispose } = connect([echo, second]);
  try {
    const init = (await client.sendRequest('initialize', {
      processId: null,
      rootUri: null,
      capabilities: {},
      initializationOptions: { pronto: { completion: { debounceMs: 10 } } },
    })) as { capabilities: { experimental?: unknown; textDocumentSync?: unknown } };
    assert.deepEqual(init.capabilities.experimental, { echo: true }, 'the feature’s capabilities are announced');
    assert.ok(init.capabilities.textDocumentSync, 'with the server’s own');
    await client.sendNotification('initialized', {});
    assert.deepEqual(await client.sendRequest('test/echo', { text: 'a' }), { text: 'a', count: 1, debounce: 10 });
    assert.deepEqual(await client.sendRequest('test/echo', { text: 'b' }), { text: 'b', count: 2, debounce: 10 });
    await client.sendNotification('workspace/didChangeConfiguration', { settings: { pronto: { completion: { debounceMs: 20 } } } });
    // Requests are handled in order: once this answers, the change has been applied.
    assert.equal(((await client.sendRequest('test/echo', { text: 'c' })) as { debounce: number }).debounce, 20);
    await client.sendRequest('shutdown');
    assert.deepEqual(events, ['capabilities', 'initialized:10', 'second initialized', 'settings:10->20', 'shutdown']);
  } finally {
    dispose();
  }
});
