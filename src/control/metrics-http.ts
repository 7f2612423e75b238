/**
 * The Prometheus endpoint: `GET /metrics` on its own TCP listener (config `control.metrics`,
 * loopback by default), served by node:http from BranchgateMetrics' private registry.
 *
 * Bounds, each counted in branchgate_metrics_requests_refused_total{reason}: at most
 * MAX_CONNECTIONS open connections (more are closed on accept: max-connections); request headers
 * of at most MAX_HEADER octets (431) and no request body (413), both request-too-large; and
 * timeouts for slow or idle clients.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { BranchgateMetrics } from './metrics.js';
import type { MetricsEvent, MetricsSnapshot } from './metrics-input.js';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse "host:port" (IPv6 as "[::1]:9477"); port 0 picks a free port (tests). */
export function parseListen(s: string): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RangeError(`metrics listen address ${JSON.stringify(s)} is not "host:port", e.g. 127.0.0.1:9477`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** The metrics listener could not be opened; the message names the address and what to do. */
export class MetricsBindError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'MetricsBindError';
  }
}

function bindHint(code: string | undefined, { host, port }: ListenAddress): string {
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is in use (another exporter or a second branchgate); choose another control.metrics port`;
    case 'EACCES':
      return `permission denied; ports below 1024 need CAP_NET_BIND_SERVICE, use e.g. ${host}:9477`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine; use 127.0.0.1 or an address configured on an interface`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${host}; use an IP address`;
    default:
      return `${code ?? 'error'}; check control.metrics`;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Open connections at once: a scraper needs one or two; 16 leaves room for a few Prometheus servers and a curl. */
export const MAX_CONNECTIONS = 16;
/** Request header octets: `GET /metrics` needs a few hundred (Node's default allows 16 KiB). */
export const MAX_HEADER = 8 * 1024;

export interface MetricsExporterOptions {
  /** "host:port" (config control.metrics) or a parsed address. */
  listen: string | ListenAddress;
  snapshot: () => MetricsSnapshot;
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now?: () => number;
  /** Also export prom-client's process_* and nodejs_* series (default true). */
  defaultMetrics?: boolean;
  /** Further exposition text appended to every scrape (e.g. metrics-internet.ts). */
  extra?: () => string;
}

export class MetricsExporter {
  readonly metrics: BranchgateMetrics;
  readonly #server: http.Server;
  readonly #opts: MetricsExporterOptions;

  private constructor(opts: MetricsExporterOptions, server: http.Server, metrics: BranchgateMetrics) {
    this.#opts = opts;
    this.#server = server;
    this.metrics = metrics;
  }

  /** Listen; rejects with MetricsBindError (and nothing left open) if the address cannot be bound. */
  static async start(opts: MetricsExporterOptions): Promise<MetricsExporter> {
    const addr = typeof opts.listen === 'string' ? parseListen(opts.listen) : opts.listen;
    const metrics = new BranchgateMetrics({ ...(opts.now ? { now: opts.now } : {}), defaultMetrics: opts.defaultMetrics ?? true });
    const server = http.createServer({ maxHeaderSize: MAX_HEADER });
    const exporter = new MetricsExporter(opts, server, metrics);
    server.on('request', (req, res) => exporter.#handle(req, res));
    server.maxConnections = MAX_CONNECTIONS;
    server.on('drop', () => metrics.drops.refused('max-connections')); // Node closed it on accept
    server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // Listening for this replaces Node's own answer, so give it here (and count oversized headers).
      const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
      if (tooLarge) metrics.drops.refused('request-too-large');
      if (socket.writable) socket.end(tooLarge ? 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n' : 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    // A scraper never needs long: bound slow or idle clients.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        reject(new MetricsBindError(`cannot listen for metrics on ${addr.host}:${addr.port}: ${bindHint(err.code, addr)}`, err.code));
      };
      server.once('error', onError);
      server.listen({ host: addr.host, port: addr.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => opts.logger?.error({ err }, 'metrics listener failed'));
        resolve();
      });
    });
    if (!LOOPBACK.test(addr.host)) {
      opts.logger?.warn({ metrics: `${addr.host}:${addr.port}` },
        'metrics endpoint is reachable from the network (tunnel names, peers, states); bind to 127.0.0.1 unless a remote scraper needs it');
    }
    return exporter;
  }

  address(): ListenAddress {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Forward every daemon/engine event here; only MetricsEvent types are counted. */
  onEvent(e: MetricsEvent | { readonly type: string }): void {
    this.metrics.onEvent(e);
  }

  /** The exposition text for the current snapshot (what GET /metrics returns). */
  render(): Promise<string> {
    const extra = this.#opts.extra;
    if (!extra) return this.metrics.render(this.#opts.snapshot());
    return this.metrics.render(this.#opts.snapshot()).then((text) => text + extra());
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found: branchgate serves only /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    const len = req.headers['content-length'];
    if ((len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined) {
      // A scrape has no body; never read (or buffer) one. Connection: close drops the rest unread.
      this.metrics.drops.refused('request-too-large');
      res.writeHead(413, { Connection: 'close', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('a scrape has no request body\n');
      return;
    }
    let body: Promise<string>;
    try {
      body = this.render();
    } catch (err) {
      body = Promise.reject(err);
    }
    body.then(
      (text) => {
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        this.#opts.logger?.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('metrics snapshot failed; see the branchgate log\n');
      },
    );
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
