/**
 * A client for BIRD's control socket (what `birdc -s SOCK` speaks): connect, wait for the
 * "0001 BIRD x.y ready." greeting, then one command line at a time, each answered by one reply
 * (reply.ts). Commands are queued; BIRD answers them in order on one connection.
 *
 * A timeout or a malformed reply closes the connection: there is no way to find the start of
 * the next reply again, and a fresh connection costs nothing. Callers reconnect on demand.
 */
import { createConnection, type Socket } from 'node:net';
import { DEFAULT_LIMITS, ReplyReader, isError, replyText, type Reply, type ReplyLimits } from './reply.js';
import { parseProtocols, parseRouteNets, type BirdProtocol } from './show.js';

export class BirdError extends Error {
  constructor(message: string, readonly reply?: Reply) {
    super(message);
    this.name = 'BirdError';
  }
}

interface Pending {
  command: string;
  resolve(r: Reply): void;
  reject(e: Error): void;
  timeoutMs: number;
}

export class BirdClient {
  private readonly reader: ReplyReader;
  private readonly queue: Pending[] = [];
  private current: { p: Pending; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;
  /** The version from the greeting, e.g. "2.0.12". */
  version = '';

  private constructor(private readonly sock: Socket, limits: ReplyLimits) {
    this.reader = new ReplyReader(limits);
  }

  /** Connect and wait for the greeting. Rejects (never hangs) past timeoutMs. */
  static connect(path: string, timeoutMs = 5000, limits: ReplyLimits = DEFAULT_LIMITS): Promise<BirdClient> {
    return new Promise((resolve, reject) => {
      const sock = createConnection(path);
      const client = new BirdClient(sock, limits);
      const timer = setTimeout(() => fail(new BirdError(`no greeting from BIRD on ${path} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (e: Error) => {
        clearTimeout(timer);
        sock.destroy();
        reject(e);
      };
      sock.setEncoding('utf8');
      sock.once('error', (e) => fail(new BirdError(`cannot connect to BIRD's control socket ${path}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      const onGreeting = (chunk: string) => {
        let replies: Reply[];
        try {
          replies = client.reader.push(chunk);
        } catch (e) {
          return fail(e as Error);
        }
        const hello = replies[0];
        if (!hello) return;
        sock.off('data', onGreeting);
        sock.removeAllListeners('error');
        if (hello.code !== 1) return fail(new BirdError(`unexpected greeting from ${path}: ${replyText(hello)}`));
        clearTimeout(timer);
        client.version = /BIRD (\S+)/.exec(replyText(hello))?.[1] ?? '';
        client.attach();
        resolve(client);
      };
      sock.on('data', onGreeting);
    });
  }

  private attach(): void {
    this.sock.on('data', (chunk: string) => {
      let replies: Reply[];
      try {
        replies = this.reader.push(chunk);
      } catch (e) {
        return this.fail(e as Error);
      }
      for (const r of replies) this.finish(r);
    });
    this.sock.on('error', (e) => this.fail(new BirdError(`BIRD control socket: ${e.message}`)));
    this.sock.on('close', () => this.fail(new BirdError('BIRD closed the control connection')));
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Send one command; resolves with its reply (also for BIRD's 8xxx/9xxx errors: check .code). */
  command(command: string, timeoutMs = 10_000): Promise<Reply> {
    if (/[\r\n]/.test(command) || command.length > 1000) return Promise.reject(new BirdError('a BIRD command is one short line'));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ command, resolve, reject, timeoutMs });
      this.next();
    });
  }

  /** command(), but BIRD's errors (8xxx, 9xxx) reject with their text. */
  async ok(command: string, timeoutMs?: number): Promise<Reply> {
    const r = await this.command(command, timeoutMs);
    if (isError(r.code)) throw new BirdError(`BIRD refused "${command}" (${r.code}): ${replyText(r)}`, r);
    return r;
  }

  async protocols(name?: string): Promise<BirdProtocol[]> {
    return parseProtocols(await this.ok(`show protocols all${name ? ` "${name}"` : ''}`));
  }

  /** Networks of a protocol's routes. BIRD wants the protocol as a bare symbol here, not a "pattern". */
  async routeNets(protocol: string): Promise<string[]> {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(protocol)) throw new BirdError(`not a BIRD protocol name: ${JSON.stringify(protocol)}`);
    return parseRouteNets(await this.ok(`show route protocol ${protocol}`));
  }

  close(): void {
    this.fail(new BirdError('the BIRD client was closed'));
  }

  private next(): void {
    if (this.current || this.failure) return;
    const p = this.queue.shift();
    if (!p) return;
    const timer = setTimeout(() => this.fail(new BirdError(`BIRD did not answer "${p.command}" within ${p.timeoutMs} ms`)), p.timeoutMs);
    this.current = { p, timer };
    this.sock.write(`${p.command}\n`);
  }

  private finish(r: Reply): void {
    const cur = this.current;
    if (!cur) return; // nothing asked: ignore
    clearTimeout(cur.timer);
    this.current = undefined;
    cur.p.resolve(r);
    this.next();
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    if (this.current) {
      clearTimeout(this.current.timer);
      this.current.p.reject(e);
      this.current = undefined;
    }
    for (const p of this.queue.splice(0)) p.reject(e);
    this.sock.destroy();
  }
}
