// A local HTTP server that answers the Kubernetes API requests Pronto's Kubernetes platform sends,
// the way the API server documents them, and records every request for the test to check:
//   - discovery (GET /api/v1, /apis/<group>/<version>: APIResourceList)
//   - GET an object (404 with a Status object when missing), POST a collection (409 AlreadyExists),
//     PUT with metadata.resourceVersion (409 Conflict when stale), PATCH with
//     application/apply-patch+yaml (server-side apply: fieldManager required) or
//     application/merge-patch+json (RFC 7386), GET a list with labelSelector
//   - a Deployment applied gets Ready pods at once (or pods stuck in ImagePullBackOff when the
//     image contains "broken"), with status.readyReplicas and observedGeneration
//   - pods/<name>/portforward over WebSocket (channel protocol v4: a channel byte before each
//     message, the port number first on each channel), relayed to a real engine on this machine
// It is not an API server: no admission, no defaulting beyond what the tests need, no watch.
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import { WebSocketServer } from 'ws';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

type Obj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

const RESOURCES: Record<string, Array<{ name: string; kind: string }>> = {
  '/api/v1': [
    { name: 'secrets', kind: 'Secret' },
    { name: 'services', kind: 'Service' },
    { name: 'pods', kind: 'Pod' },
  ],
  '/apis/apps/v1': [{ name: 'deployments', kind: 'Deployment' }],
  '/apis/coordination.k8s.io/v1': [{ name: 'leases', kind: 'Lease' }],
  '/apis/keda.sh/v1alpha1': [{ name: 'scaledobjects', kind: 'ScaledObject' }],
  '/apis/autoscaling/v2': [{ name: 'horizontalpodautoscalers', kind: 'HorizontalPodAutoscaler' }],
};

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly store = new Map<string, Obj>();
  private version = 1;
  private server!: http.Server;
  port = 0;
  /** colour → the port of a real engine the port-forward relays to. */
  readonly enginePorts: Record<string, number> = {};

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    const wss = new WebSocketServer({ noServer: true, handleProtocols: () => 'v4.channel.k8s.io' });
    this.server.on('upgrade', (req, socket, head) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.requests.push({
        method: 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        authorization: req.headers.authorization,
      });
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/portforward$/.exec(url.pathname);
      const pod = m ? this.store.get(`v1/Pod/${m[1]}/${m[2]}`) : undefined;
      const colour = pod?.metadata.labels?.['pronto.dev/colour'];
      const enginePort = colour ? this.enginePorts[colour] : undefined;
      if (!enginePort) {
        socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
        return;
      }
      const port = Number(url.searchParams.get('ports'));
      wss.handleUpgrade(req, socket, head, (ws) => {
        const portBytes = Buffer.from([port & 0xff, (port >> 8) & 0xff]);
        ws.send(Buffer.concat([Buffer.from([0]), portBytes]));
        ws.send(Buffer.concat([Buffer.from([1]), portBytes]));
        const tcp = net.connect(enginePort, '127.0.0.1');
        tcp.on('data', (d) => ws.send(Buffer.concat([Buffer.from([0]), d])));
        tcp.on('close', () => ws.close());
        tcp.on('error', () => ws.close());
        ws.on('message', (data: Buffer) => {
          if (data[0] === 0 && data.length > 1) tcp.write(data.subarray(1));
        });
        ws.on('close', () => tcp.destroy());
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig pointing at this server with a bearer token. */
  kubeconfig(context = 'fake'): string {
    return `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }
users:
- name: tester
  user: { token: test-token }
contexts:
- name: ${context}
  context: { cluster: fake, user: tester, namespace: default }
current-context: ${context}
`;
  }

  object(apiVersion: string, kind: string, namespace: string, name: string): Obj | undefined {
    return this.store.get(`${apiVersion}/${kind}/${namespace}/${name}`);
  }

  private put(o: Obj): Obj {
    o.metadata.resourceVersion = String(++this.version);
    this.store.set(`${o.apiVersion}/${o.kind}/${o.metadata.namespace}/${o.metadata.name}`, o);
    if (o.kind === 'Deployment') this.reconcileDeployment(o);
    return o;
  }

  /** What the Deployment controller and kubelet would do, at once: pods for spec.replicas. */
  private reconcileDeployment(d: Obj): void {
    const replicas = Number(d.spec?.replicas ?? 1);
    const ns = d.metadata.namespace!;
    const labels = ((d.spec?.template as Obj | undefined)?.metadata?.labels ?? {}) as Record<string, string>;
    const image = String(
      ((d.spec?.template as { spec?: { containers?: Array<{ image?: string }> } })?.spec?.containers ?? [])[0]?.image ?? '',
    );
    const broken = image.includes('broken');
    for (const [key, o] of this.store) if (o.kind === 'Pod' && o.metadata.name.startsWith(`${d.metadata.name}-`)) this.store.delete(key);
    for (let i = 0; i < replicas; i++) {
      const name = `${d.metadata.name}-7d9f-${i}`;
      this.store.set(`v1/Pod/${ns}/${name}`, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name, namespace: ns, labels, resourceVersion: String(++this.version) },
        status: broken
          ? {
              phase: 'Pending',
              conditions: [{ type: 'Ready', status: 'False' }],
              containerStatuses: [
                {
                  name: 'engine',
                  ready: false,
                  restartCount: 0,
                  image,
                  imageID: '',
                  state: { waiting: { reason: 'ImagePullBackOff', message: `Back-off pulling image "${image}"` } },
                },
              ],
            }
          : {
              phase: 'Running',
              conditions: [{ type: 'Ready', status: 'True' }],
              containerStatuses: [{ name: 'engine', ready: true, restartCount: 0, image, imageID: '', state: { running: {} } }],
            },
      });
    }
    d.status = {
      observedGeneration: d.metadata.generation,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: broken ? 0 : replicas,
      availableReplicas: broken ? 0 : replicas,
    };
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
      body,
    });
    const send = (code: number, payload: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== 'Bearer test-token') return send(401, status(401, 'Unauthorized', 'Unauthorized'));
    const discovery = RESOURCES[url.pathname];
    if (discovery && req.method === 'GET') {
      return send(200, {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: url.pathname.replace(/^\/apis?\//, ''),
        resources: discovery.map((r) => ({
          name: r.name,
          singularName: '',
          namespaced: true,
          kind: r.kind,
          verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
        })),
      });
    }
    const m = /^\/(?:api\/v1|apis\/([^/]+\/[^/]+))\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return send(404, status(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`));
    const apiVersion = m[1] ?? 'v1';
    const ns = m[2]!;
    const resource = m[3]!;
    const name = m[4];
    const prefix = apiVersion === 'v1' ? '/api/v1' : `/apis/${apiVersion}`;
    const kind = RESOURCES[prefix]?.find((r) => r.name === resource)?.kind;
    if (!kind) return send(404, status(404, 'NotFound', `the server could not find the requested resource (${resource})`));
    const key = `${apiVersion}/${kind}/${ns}/${name}`;
    const existing = name ? this.store.get(key) : undefined;
    const notFound = () => send(404, status(404, 'NotFound', `${resource} "${name}" not found`));

    if (req.method === 'GET' && !name) {
      const selector = url.searchParams.get('labelSelector');
      const wanted = selector ? Object.fromEntries(selector.split(',').map((p) => p.split('='))) : {};
      const items = [...this.store.values()].filter(
        (o) => o.kind === kind && o.metadata.namespace === ns && Object.entries(wanted).every(([k, v]) => o.metadata.labels?.[k] === v),
      );
      return send(200, { kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(this.version) }, items });
    }
    if (req.method === 'GET') return existing ? send(200, existing) : notFound();
    if (req.method === 'POST' && !name) {
      const o = body as Obj;
      const k = `${apiVersion}/${kind}/${ns}/${o.metadata.name}`;
      if (this.store.has(k)) return send(409, status(409, 'AlreadyExists', `${resource} "${o.metadata.name}" already exists`));
      const created: Obj = {
        ...o,
        metadata: { ...o.metadata, namespace: ns, uid: randomUUID(), generation: 1, creationTimestamp: new Date().toISOString() },
      };
      if (kind === 'Secret' && created.stringData) {
        created.data = Object.fromEntries(
          Object.entries(created.stringData as Record<string, string>).map(([k2, v]) => [k2, Buffer.from(v).toString('base64')]),
        );
        delete created.stringData;
      }
      return send(201, this.put(created));
    }
    if (req.method === 'PUT' && name) {
      if (!existing) return notFound();
      const o = body as Obj;
      if (o.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        return send(
          409,
          status(
            409,
            'Conflict',
            `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          ),
        );
      }
      return send(200, this.put({ ...o, metadata: { ...o.metadata, generation: (existing.metadata.generation ?? 1) + 1 } }));
    }
    if (req.method === 'PATCH' && name) {
      const type = req.headers['content-type'];
      if (type === 'application/apply-patch+yaml') {
        if (!url.searchParams.get('fieldManager'))
          return send(400, status(400, 'BadRequest', 'fieldManager is required for apply requests'));
        const o = body as Obj;
        const generation =
          existing && JSON.stringify(existing.spec) !== JSON.stringify(o.spec)
            ? (existing.metadata.generation ?? 1) + 1
            : (existing?.metadata.generation ?? 1);
        const applied: Obj = {
          ...(existing ?? {}),
          ...o,
          metadata: { ...(existing?.metadata ?? { uid: randomUUID() }), ...o.metadata, namespace: ns, generation },
          status: existing?.status,
        };
        return send(existing ? 200 : 201, this.put(applied));
      }
      if (type === 'application/merge-patch+json') {
        if (!existing) return notFound();
        return send(200, this.put(mergePatch(existing, body) as Obj));
      }
      return send(
        415,
        status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        ),
      );
    }
    return send(405, status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
  }
}
