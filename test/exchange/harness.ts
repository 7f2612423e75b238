/**
 * Two (or more) sans-IO engines on an in-memory network with a fake clock, in the spirit of
 * strongSwan's exchange_test_helper: every datagram is visible, and a test can drop, duplicate,
 * delay, rewrite (NAT) or replace it.
 */
import { expect } from 'vitest';
import { IkeEngine } from '../../src/ike/engine.js';
import type { Action, ChildSaInfo, ChildSaKeys, Endpoint, EngineEvent, KeyExport } from '../../src/ike/actions.js';
import { parseConfig } from '../../src/config/load.js';
import type { LimitsConfig, TunnelConfig } from '../../src/config/types.js';
import { decodeMessage } from '../../src/ike/codec/message.js';
import type { IkeMessage } from '../../src/ike/codec/types.js';

export interface Packet {
  from: Endpoint;
  to: Endpoint;
  natT: boolean;
  bytes: Uint8Array;
}

export type Verdict = 'deliver' | 'drop' | 'duplicate' | Packet;

export interface Node {
  address: string;
  engine: IkeEngine;
  logs: { level: string; msg: string; tunnel?: string }[];
  events: EngineEvent[];
  /** The datapath as the actions built it: Child SAs by inbound SPI, and which one sends. */
  installed: Map<number, { info: ChildSaInfo; keys: ChildSaKeys; active: boolean }>;
  /** Every action, with the fake-clock time it was returned at. */
  actions: { at: number; action: Action }[];
  /** The records of every export-keys action (EngineOptions.exportKeys), in order. */
  exported: KeyExport[];
}

/** A reproducible random source (xorshift32) for SPIs, nonces and jitter. */
export function seeded(seed: number): (n: number) => Uint8Array {
  let x = seed >>> 0 || 1;
  return (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      out[i] = x & 0xff;
    }
    return out;
  };
}

export function decodeOrFail(bytes: Uint8Array): IkeMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw new Error(`test harness: undecodable packet: ${r.error.message}`);
  return r.value;
}

export class Net {
  now = 1_700_000_000_000;
  readonly nodes = new Map<string, Node>();
  readonly queue: Packet[] = [];
  /** Every packet that was put on the wire, in order. */
  readonly wire: Packet[] = [];
  /** Decide the fate of each packet (loss, duplication, NAT rewriting). */
  filter: (p: Packet) => Verdict = () => 'deliver';

  add(address: string, tunnels: TunnelConfig[], opts: { udpEncapsulationOnly?: boolean; random?: (n: number) => Uint8Array; exportKeys?: boolean; limits?: LimitsConfig } = {}): Node {
    const node: Node = { address, engine: new IkeEngine({ tunnels, ...opts }), logs: [], events: [], installed: new Map(), actions: [], exported: [] };
    this.nodes.set(address, node);
    return node;
  }

  perform(node: Node, actions: Action[]): void {
    for (const a of actions) {
      node.actions.push({ at: this.now, action: a });
      switch (a.kind) {
        case 'send':
          expect(a.from.address).toBe(node.address);
          this.wire.push({ from: a.from, to: a.to, natT: a.natT, bytes: a.bytes });
          this.queue.push({ from: a.from, to: a.to, natT: a.natT, bytes: a.bytes });
          break;
        case 'install-child': {
          expect(node.installed.has(a.child.spiIn), 'install-child of an SPI already installed').toBe(false);
          const active = a.activate !== false;
          if (active) for (const c of node.installed.values()) if (c.info.tunnel === a.child.tunnel) c.active = false;
          node.installed.set(a.child.spiIn, { info: a.child, keys: a.keys, active });
          break;
        }
        case 'activate-child': {
          const c = node.installed.get(a.spiIn);
          expect(c, 'activate-child of an SPI not installed').toBeDefined();
          for (const o of node.installed.values()) if (o.info.tunnel === a.tunnel) o.active = false;
          c!.active = true;
          break;
        }
        case 'remove-child':
          expect(node.installed.has(a.spiIn), 'remove-child of an SPI not installed').toBe(true);
          node.installed.delete(a.spiIn);
          break;
        case 'event':
          node.events.push(a.event);
          break;
        case 'export-keys':
          node.exported.push(a.keys);
          break;
        case 'log':
          node.logs.push({ level: a.level, msg: a.msg, ...(a.tunnel ? { tunnel: a.tunnel } : {}) });
          break;
      }
    }
  }

  /** Deliver queued packets until the network is quiet (bounded, so a loop fails the test). */
  run(maxPackets = 100): void {
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > maxPackets) throw new Error('test harness: too many packets; exchange loop?');
      const p = this.queue.shift()!;
      const v = this.filter(p);
      if (v === 'drop') continue;
      const deliveries = v === 'duplicate' ? [p, p] : [v === 'deliver' ? p : v];
      for (const d of deliveries) {
        const node = this.nodes.get(d.to.address);
        if (!node) continue;
        this.perform(node, node.engine.onDatagram(d.bytes, { from: d.from, to: d.to, natT: d.natT }, this.now));
      }
    }
  }

  /** Move the clock forward, firing every wake-up that falls due, then let packets flow. */
  advance(ms: number): void {
    const end = this.now + ms;
    this.run();
    for (let guard = 0; ; guard++) {
      if (guard > 100_000) throw new Error('test harness: wake-ups do not advance; timer loop?');
      let next: number | null = null;
      for (const node of this.nodes.values()) {
        const w = node.engine.nextWakeup();
        if (w !== null && w <= end && (next === null || w < next)) next = w;
      }
      if (next === null) break;
      this.now = Math.max(this.now, next);
      for (const node of this.nodes.values()) this.perform(node, node.engine.onTick(this.now));
      this.run();
    }
    this.now = end;
  }

  /** Config reload on one node (IkeEngine.reconfigure), then let packets flow. */
  reconfigure(address: string, tunnels: TunnelConfig[]): Action[] {
    const node = this.nodes.get(address)!;
    const actions = node.engine.reconfigure(tunnels, this.now);
    this.perform(node, actions);
    this.run();
    return actions;
  }

  start(address: string): void {
    const node = this.nodes.get(address)!;
    this.perform(node, node.engine.start(this.now));
    this.run();
  }
}

let pskCounter = 0;
export const PSK = 'exchange-test-psk-0123456789';

/** A tunnel config through the real loader, so tests see exactly what the daemon would. */
export function tunnel(yamlTunnel: Record<string, unknown>): TunnelConfig {
  const t = { psk: PSK, ...yamlTunnel };
  const text = JSON.stringify({ tunnels: [t] });
  const r = parseConfig(text, `exchange-${++pskCounter}.yaml`, {});
  if (!r.ok) throw new Error(`test config invalid: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.config.tunnels[0]!;
}

export const I = '192.0.2.1';
export const R = '192.0.2.2';

export function initiatorTunnel(extra: Record<string, unknown> = {}): TunnelConfig {
  return tunnel({ name: 'gsa', localAddress: I, remoteAddress: R, ...extra });
}

export function responderTunnel(extra: Record<string, unknown> = {}): TunnelConfig {
  return tunnel({ name: 'branch', localAddress: R, remoteAddress: '%any', remoteId: '%any', initiate: false, ...extra });
}

/** Both sides established with one Child SA whose SPIs and keys mirror each other. */
export function expectEstablishedPair(net: Net, a = I, b = R): { ia: ChildSaInfo; ib: ChildSaInfo } {
  const na = net.nodes.get(a)!;
  const nb = net.nodes.get(b)!;
  const sa = na.engine.status(net.now)[0]!;
  const sb = nb.engine.status(net.now)[0]!;
  expect(sa.state).toBe('established');
  expect(sb.state).toBe('established');
  expect(sa.ike!.spiI).toBe(sb.ike!.spiI);
  expect(sa.ike!.spiR).toBe(sb.ike!.spiR);
  expect([sa.ike!.encr, sa.ike!.prf, sa.ike!.dh, sa.ike!.integ]).toEqual([sb.ike!.encr, sb.ike!.prf, sb.ike!.dh, sb.ike!.integ]);
  expect(na.installed.size).toBe(1);
  expect(nb.installed.size).toBe(1);
  expect([...na.installed.values()][0]!.active).toBe(true);
  expect([...nb.installed.values()][0]!.active).toBe(true);
  const [ca] = [...na.installed.values()];
  const [cb] = [...nb.installed.values()];
  expect(ca!.info.spiIn).toBe(cb!.info.spiOut);
  expect(ca!.info.spiOut).toBe(cb!.info.spiIn);
  expect(ca!.info.encr).toBe(cb!.info.encr);
  expect(Buffer.from(ca!.keys.encrOut).equals(Buffer.from(cb!.keys.encrIn))).toBe(true);
  expect(Buffer.from(ca!.keys.encrIn).equals(Buffer.from(cb!.keys.encrOut))).toBe(true);
  expect(Buffer.from(ca!.keys.integOut).equals(Buffer.from(cb!.keys.integIn))).toBe(true);
  return { ia: ca!.info, ib: cb!.info };
}

export function logged(node: Node, re: RegExp): boolean {
  return node.logs.some((l) => re.test(l.msg));
}
