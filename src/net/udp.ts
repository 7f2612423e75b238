/**
 * UDP 500 and 4500 for IKE, with the port-4500 demultiplexing of RFC 3948:
 *   - one octet 0xFF            NAT-keepalive (§2.3): count, drop (sendKeepalive sends them)
 *   - four zero octets first    non-ESP marker (§2.2): strip it, the rest is an IKE message
 *   - anything else             ESP (the first four octets are a non-zero SPI): handed to
 *                               onEsp (the datapath); without an onEsp, counted as espDropped
 * On port 500 there is no marker; a datagram that starts with four zero octets cannot be IKE
 * (the initiator SPI is never zero, RFC 7296 §3.1) and is dropped as malformed.
 *
 * Everything that arrives is hostile until proven otherwise: the handler is called inside
 * try/catch (and its promise, if any, gets a catch) so nothing a peer sends can take the
 * process down; failures are counted and logged.
 */
import dgram from 'node:dgram';
import type { Action, Arrival, Endpoint } from '../ike/actions.js';
import type { TunnelConfig } from '../config/types.js';
import { tunnelLogger, type Logger } from '../log.js';

export interface UdpPorts {
  ike: number;
  natT: number;
}

export const DEFAULT_PORTS: UdpPorts = { ike: 500, natT: 4500 };

export interface UdpCounters {
  /** IKE messages handed to the handler, by port. */
  ikeIn500: number;
  ikeIn4500: number;
  ikeOut: number;
  /** NAT-keepalives received (RFC 3948 §2.3); natKeepalivesOut: sent by sendKeepalive. */
  natKeepalives: number;
  natKeepalivesOut: number;
  espDropped: number;
  malformed: number;
  handlerErrors: number;
  sendErrors: number;
  /** IKE messages and keepalives dropped because MAX_PENDING_SENDS were already in flight. */
  sendQueueFull: number;
}

/**
 * IKE messages and NAT-keepalives handed to a socket whose completion has not come back yet. libuv
 * queues a send the kernel cannot take at once, without limit; past this many in flight a send is
 * dropped and counted (sendQueueFull) instead. Honest load is a few IKE messages per SA per
 * minute, and a responder under an IKE flood answers at most once per request it accepted, so
 * 1024 is far above either while bounding what a flood can queue (≈ 1024 × 1.3 KiB). ESP has its
 * own bound: the datapath's send ring (src/dataplane/ts-dataplane.ts SEND_SLOTS).
 */
export const MAX_PENDING_SENDS = 1024;

export type IkeHandler = (bytes: Uint8Array, arrival: Arrival) => void | Promise<void>;

export interface UdpTransportOptions {
  /** Local IPv4 addresses to bind; "0.0.0.0" means all (and then nothing else is bound). */
  addresses: string[];
  ports?: UdpPorts;
  onIke: IkeHandler;
  /** ESP-in-UDP (RFC 3948) from port 4500; without it ESP is counted in espDropped. */
  onEsp?: (datagram: Uint8Array, arrival: Arrival) => void;
  logger?: Logger;
}

/** A bind failure with the socket named and what to do about it. */
export class UdpBindError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'UdpBindError';
  }
}

const NON_ESP_MARKER = new Uint8Array(4);
/** RFC 3948 §2.3: a NAT-keepalive is one octet, 0xFF. */
const KEEPALIVE = Buffer.from([0xff]);

function hint(code: string | undefined, address: string, port: number): string {
  switch (code) {
    case 'EACCES':
      return 'permission denied — run as root or grant CAP_NET_BIND_SERVICE';
    case 'EADDRINUSE':
      return `address in use — another IKE daemon (charon, another branchgate) holds port ${port}; stop it first`;
    case 'EADDRNOTAVAIL':
      return `address not available — ${address} is not configured on any interface; fix localAddress`;
    default:
      return `${code ?? 'error'} — check localAddress and the ports`;
  }
}

interface Bound {
  address: string;
  ike: dgram.Socket;
  natT: dgram.Socket;
}

function bindOne(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    // reuseAddr stays false: with SO_REUSEADDR two daemons could share the port silently.
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: false });
    const onError = (err: NodeJS.ErrnoException): void => {
      sock.close();
      reject(new UdpBindError(`cannot bind UDP ${address}:${port}: ${hint(err.code, address, port)}`, err.code));
    };
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function zeroPrefix(b: Uint8Array): boolean {
  return b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0;
}

export class UdpTransport {
  readonly counters: UdpCounters = {
    ikeIn500: 0, ikeIn4500: 0, ikeOut: 0, natKeepalives: 0, natKeepalivesOut: 0,
    espDropped: 0, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0,
  };
  #pending = 0;
  #bound: Bound[] = [];
  #opts: UdpTransportOptions;
  #closed = false;

  private constructor(opts: UdpTransportOptions) {
    this.#opts = opts;
  }

  /** Bind every address; on any failure, close what was bound and reject with UdpBindError. */
  static async open(opts: UdpTransportOptions): Promise<UdpTransport> {
    const t = new UdpTransport(opts);
    const ports = opts.ports ?? DEFAULT_PORTS;
    const unique = [...new Set(opts.addresses)];
    const addrs = unique.includes('0.0.0.0') ? ['0.0.0.0'] : unique;
    try {
      for (const address of addrs) {
        const ike = await bindOne(address, ports.ike);
        let natT: dgram.Socket;
        try {
          natT = await bindOne(address, ports.natT);
        } catch (e) {
          ike.close();
          throw e;
        }
        t.#attach(address, ike, false);
        t.#attach(address, natT, true);
        t.#bound.push({ address, ike, natT });
      }
    } catch (e) {
      await t.close();
      throw e;
    }
    return t;
  }

  /** Actual bound endpoints (ports resolved when 0 was asked for, as tests do). */
  endpoints(): { address: string; ike: number; natT: number }[] {
    return this.#bound.map((b) => ({ address: b.address, ike: b.ike.address().port, natT: b.natT.address().port }));
  }

  #attach(address: string, sock: dgram.Socket, natT: boolean): void {
    const port = sock.address().port;
    // After bind, socket errors (e.g. ICMP-triggered) must be logged, never thrown.
    sock.on('error', (err) => this.#opts.logger?.warn({ err, address, port }, 'UDP socket error'));
    sock.on('message', (msg, rinfo) => {
      try {
        this.#receive(msg, { from: { address: rinfo.address, port: rinfo.port }, to: { address, port }, natT });
      } catch (err) {
        // #receive itself does not throw; this is the last line of defence.
        this.counters.handlerErrors++;
        this.#opts.logger?.error({ err }, 'unexpected error handling a datagram');
      }
    });
  }

  #receive(msg: Buffer, arrival: Arrival): void {
    let ike: Uint8Array;
    if (arrival.natT) {
      if (msg.length === 1 && msg[0] === 0xff) {
        this.counters.natKeepalives++;
        return;
      }
      if (msg.length < 4) {
        this.counters.malformed++;
        return;
      }
      if (!zeroPrefix(msg)) {
        // RFC 3948 §2.2: a non-zero first word is an ESP SPI.
        if (this.#opts.onEsp) this.#opts.onEsp(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), arrival);
        else this.counters.espDropped++;
        return;
      }
      ike = msg.subarray(4);
      this.counters.ikeIn4500++;
    } else {
      if (msg.length < 4 || zeroPrefix(msg)) {
        this.counters.malformed++;
        return;
      }
      ike = msg;
      this.counters.ikeIn500++;
    }
    this.#deliver(new Uint8Array(ike.buffer, ike.byteOffset, ike.byteLength), arrival);
  }

  #deliver(bytes: Uint8Array, arrival: Arrival): void {
    const fail = (err: unknown): void => {
      this.counters.handlerErrors++;
      this.#opts.logger?.error(
        { err, from: `${arrival.from.address}:${arrival.from.port}` },
        'IKE handler failed on a datagram; dropped',
      );
    };
    try {
      const r = this.#opts.onIke(bytes, arrival);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }

  #socketFor(from: string, natT: boolean): dgram.Socket | undefined {
    const b = this.#bound.find((x) => x.address === from) ?? this.#bound.find((x) => x.address === '0.0.0.0') ?? this.#bound[0];
    return b === undefined ? undefined : natT ? b.natT : b.ike;
  }

  /** Sends in flight (MAX_PENDING_SENDS bounds it). */
  get pendingSends(): number {
    return this.#pending;
  }

  /** false (counted) when MAX_PENDING_SENDS sends are already waiting for the kernel. */
  #admit(): boolean {
    if (this.#pending < MAX_PENDING_SENDS) return true;
    this.counters.sendQueueFull++;
    return false;
  }

  /** Perform a `send` Action. Resolves when the kernel has the datagram; never rejects. */
  send(action: Extract<Action, { kind: 'send' }>): Promise<void> {
    const sock = this.#closed ? undefined : this.#socketFor(action.from.address, action.natT);
    if (sock === undefined) {
      this.counters.sendErrors++;
      this.#opts.logger?.warn({ to: `${action.to.address}:${action.to.port}` }, 'no UDP socket to send from; dropped');
      return Promise.resolve();
    }
    if (!this.#admit()) return Promise.resolve();
    // RFC 3948 §2.2: IKE on 4500 carries the non-ESP marker so the peer can tell it from ESP.
    const payload = action.natT ? Buffer.concat([NON_ESP_MARKER, action.bytes]) : Buffer.from(action.bytes);
    this.#pending++;
    return new Promise((resolve) => {
      sock.send(payload, action.to.port, action.to.address, (err) => {
        this.#pending--;
        if (err) {
          this.counters.sendErrors++;
          this.#opts.logger?.warn({ err, to: `${action.to.address}:${action.to.port}` }, 'UDP send failed');
        } else {
          this.counters.ikeOut++;
        }
        resolve();
      });
    });
  }

  /**
   * Perform a `keepalive` Action: the single octet 0xFF from our port-4500 socket at `from`
   * (RFC 3948 §2.3), which keeps the NAT mapping in front of us alive. Never rejects.
   */
  sendKeepalive(from: Endpoint, to: Endpoint): Promise<void> {
    const sock = this.#closed ? undefined : this.#socketFor(from.address, true);
    if (sock === undefined) {
      this.counters.sendErrors++;
      return Promise.resolve();
    }
    if (!this.#admit()) return Promise.resolve();
    this.#pending++;
    return new Promise((resolve) => {
      sock.send(KEEPALIVE, to.port, to.address, (err) => {
        this.#pending--;
        if (err) {
          this.counters.sendErrors++;
          this.#opts.logger?.debug({ err, to: `${to.address}:${to.port}` }, 'NAT-keepalive send failed');
        } else {
          this.counters.natKeepalivesOut++;
        }
        resolve();
      });
    });
  }

  /**
   * Send one ESP-in-UDP datagram from our port-4500 socket without copying: `buf` must stay
   * untouched until `done` runs (the datapath's send ring guarantees that). False if no socket.
   */
  sendEsp(from: string, buf: Uint8Array, offset: number, length: number, to: Endpoint, done: (err: Error | null) => void): boolean {
    const sock = this.#closed ? undefined : this.#socketFor(from, true);
    if (sock === undefined) return false;
    sock.send(buf, offset, length, to.port, to.address, done);
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const socks = this.#bound.flatMap((b) => [b.ike, b.natT]);
    this.#bound = [];
    await Promise.all(socks.map((s) => new Promise<void>((r) => {
      try {
        s.close(() => r());
      } catch {
        r(); // already closed
      }
    })));
  }
}

/**
 * Which local address the kernel would send from to reach `remote` (route lookup). Connecting a
 * UDP socket sends nothing; it only asks the routing table.
 */
export function routeLookup(remote: string, port = 500): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close();
      reject(new Error(`no route to ${remote}: ${err.code ?? err.message} — set localAddress or fix the routing table`));
    });
    s.connect(port, remote, () => {
      const addr = s.address().address;
      s.close();
      resolve(addr);
    });
  });
}

/** Fill in localAddress by route lookup; a %any responder without one listens on 0.0.0.0. */
export async function resolveLocal(tunnels: TunnelConfig[], log: Logger): Promise<{ tunnels: TunnelConfig[]; bind: string[] }> {
  const out = await Promise.all(tunnels.map(async (t): Promise<TunnelConfig> => {
    if (t.localAddress !== undefined) return t;
    if (t.remoteAddress === '%any') {
      tunnelLogger(log, t.name).warn('no localAddress and remoteAddress %any: listening on 0.0.0.0; set localAddress so NAT detection sees the real address');
      return t;
    }
    let addr: string;
    try {
      addr = await routeLookup(t.remoteAddress);
    } catch (err) {
      throw new Error(`tunnel ${t.name}: ${(err as Error).message}`);
    }
    tunnelLogger(log, t.name).info({ localAddress: addr }, 'localAddress chosen by route lookup');
    return { ...t, localAddress: addr };
  }));
  return { tunnels: out, bind: out.map((t) => t.localAddress ?? '0.0.0.0') };
}
