/**
 * Helpers for the SA-lifecycle exchange tests: a seeded pair of engines, operator
 * actions, packet selectors, and the "both sides agree on what is installed" check every test
 * ends with.
 */
import { expect } from 'vitest';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, responderTunnel, seeded, type Node, type Packet } from './harness.js';
import { ExchangeType, PayloadType } from '../../src/ike/constants.js';
import type { IkeSa } from '../../src/ike/sa.js';
import type { EngineEvent } from '../../src/ike/actions.js';

export const IKE = ['aes128gcm16-prfsha256-ecp256'];
export const ESP = ['aes128gcm16'];

export interface PairOptions {
  i?: Record<string, unknown>;
  r?: Record<string, unknown>;
  seedI?: number;
  seedR?: number;
  udpEncapsulationOnly?: boolean;
}

export function pair(o: PairOptions = {}): { net: Net; i: Node; r: Node } {
  const net = new Net();
  const enc = o.udpEncapsulationOnly ? { udpEncapsulationOnly: true } : {};
  const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, ...o.i })], { random: seeded(o.seedI ?? 11), ...enc });
  const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP, ...o.r })], { random: seeded(o.seedR ?? 22), ...enc });
  net.start(I);
  expectEstablishedPair(net);
  return { net, i, r };
}

export function name(n: Node): string {
  return n.engine.tunnelNames()[0]!;
}

/** The node's current IKE SA (engine internals: tests may look, never the daemon). */
export function ikeSa(n: Node): IkeSa {
  const sa = n.engine.tunnels.get(name(n))!.sa;
  if (!sa) throw new Error('no IKE SA');
  return sa;
}

export function rekey(net: Net, n: Node, what: 'child' | 'ike' = 'child'): void {
  net.perform(n, n.engine.rekey(name(n), what, net.now));
}

export function exchangeOf(p: Packet): { exchange: number; response: boolean; from: string; messageId: number; skf: boolean } {
  const m = decodeOrFail(p.bytes);
  return { exchange: m.header.exchangeType, response: m.header.response, from: p.from.address, messageId: m.header.messageId, skf: m.payloads[0]?.type === PayloadType.SKF };
}

export const isCreateChild = (p: Packet, from: string, response: boolean): boolean => {
  const e = exchangeOf(p);
  return e.exchange === ExchangeType.CREATE_CHILD_SA && e.from === from && e.response === response;
};
export const isInformational = (p: Packet, from: string, response: boolean): boolean => {
  const e = exchangeOf(p);
  return e.exchange === ExchangeType.INFORMATIONAL && e.from === from && e.response === response;
};

/** Drop the first `count` packets matching `match`; deliver everything else. */
export function dropFirst(net: Net, match: (p: Packet) => boolean, count = 1): () => number {
  let dropped = 0;
  net.filter = (p) => {
    if (dropped < count && match(p)) {
      dropped++;
      return 'drop';
    }
    return 'deliver';
  };
  return () => dropped;
}

/**
 * The final check of every lifecycle test: both sides hold exactly `count` Child SAs, each
 * mirrored by the peer's (SPIs swapped, keys equal), and the active (sending) ones pair up.
 */
export function expectAgree(net: Net, count = 1): number[] {
  const i = net.nodes.get(I)!;
  const r = net.nodes.get(R)!;
  expect(i.installed.size, 'Child SAs installed on the initiator').toBe(count);
  expect(r.installed.size, 'Child SAs installed on the responder').toBe(count);
  for (const a of i.installed.values()) {
    const b = r.installed.get(a.info.spiOut);
    expect(b, `responder has the pair of ${a.info.spiIn.toString(16)}`).toBeDefined();
    expect(b!.info.spiOut).toBe(a.info.spiIn);
    expect(Buffer.from(a.keys.encrOut).equals(Buffer.from(b!.keys.encrIn))).toBe(true);
    expect(Buffer.from(a.keys.encrIn).equals(Buffer.from(b!.keys.encrOut))).toBe(true);
    expect(a.active).toBe(b!.active);
  }
  if (count > 0) {
    expect([...i.installed.values()].filter((c) => c.active).length).toBe(1);
    const si = i.engine.status(net.now)[0]!;
    const sr = r.engine.status(net.now)[0]!;
    expect(si.state).toBe('established');
    expect(sr.state).toBe('established');
    expect(si.ike!.spiI).toBe(sr.ike!.spiI);
    expect(si.ike!.spiR).toBe(sr.ike!.spiR);
  }
  return [...i.installed.keys()];
}

export function events<T extends EngineEvent['type']>(n: Node, type: T): Extract<EngineEvent, { type: T }>[] {
  return n.events.filter((e): e is Extract<EngineEvent, { type: T }> => e.type === type);
}

export function count(n: Node, kind: string): number {
  return n.actions.filter((a) => a.action.kind === kind).length;
}

export { I, R };

/** Hold packets matching `match` (first `count` of them) until release() puts them back on the wire. */
export function hold(net: import('./harness.js').Net, match: (p: Packet) => boolean, count = 1): { release: () => void; held: Packet[] } {
  const held: Packet[] = [];
  const prev = net.filter;
  net.filter = (p) => {
    if (held.length < count && match(p)) {
      held.push(p);
      return 'drop';
    }
    return prev(p);
  };
  return {
    held,
    release: () => {
      net.filter = prev;
      net.queue.push(...held.splice(0));
    },
  };
}
