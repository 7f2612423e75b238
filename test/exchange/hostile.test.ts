/**
 * Hostile input at the engine: random and mutated datagrams, seeded from
 * a real handshake, never throw out of onDatagram, never install anything, and leave an
 * established SA working.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, responderTunnel } from './harness.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';

const IKE = ['aes128-sha256-modp2048s256', 'aes256gcm16-prfsha384-ecp256'];
const ESP = ['aes256gcm16', 'aes128-sha256'];

function captured(): { net: Net; messages: Uint8Array[] } {
  const net = new Net();
  net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
  net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
  net.start(I);
  expectEstablishedPair(net);
  return { net, messages: net.wire.map((p) => p.bytes) };
}

const mutation = (seeds: Uint8Array[]) =>
  fc.oneof(
    fc.uint8Array({ maxLength: 600 }),
    fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 })).map(([s, flips]) => {
      const b = new Uint8Array(s);
      for (const [pos, x] of flips) b[pos % b.length]! ^= x;
      return b;
    }),
    fc.tuple(fc.constantFrom(...seeds), fc.nat()).map(([s, n]) => s.slice(0, n % (s.length + 1))),
    fc.tuple(fc.constantFrom(...seeds), fc.uint8Array({ maxLength: 64 })).map(([s, extra]) => Uint8Array.from([...s, ...extra])),
  );

describe('hostile datagrams', () => {
  it('random and mutated datagrams never throw and never disturb the established SA', () => {
    const { net, messages } = captured();
    const before = [...net.nodes.values()].map((n) => [...n.installed.keys()]);
    fc.assert(
      fc.property(mutation(messages), fc.boolean(), fc.boolean(), (bytes, toResponder, natT) => {
        const node = net.nodes.get(toResponder ? R : I)!;
        const from = { address: toResponder ? I : R, port: natT ? 4500 : 500 };
        const to = { address: node.address, port: natT ? 4500 : 500 };
        const actions = node.engine.onDatagram(bytes, { from, to, natT }, net.now);
        for (const a of actions) expect(a.kind === 'install-child' || a.kind === 'remove-child').toBe(false);
      }),
      { numRuns: 3000 },
    );
    expect([...net.nodes.values()].map((n) => [...n.installed.keys()])).toEqual(before);
    expectEstablishedPair(net);
    const dropped = net.nodes.get(R)!.engine.drops;
    expect(dropped.malformed + dropped['no-sa'] + dropped.integrity + dropped.unexpected).toBeGreaterThan(0);
  });

  it('a forged IKE_AUTH (bytes flipped inside SK) fails the integrity check and installs nothing', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    net.filter = (p) => {
      if (p.to.address !== R || decodeOrFail(p.bytes).header.exchangeType !== ExchangeType.IKE_AUTH) return 'deliver';
      const b = new Uint8Array(p.bytes);
      b[b.length - 20]! ^= 0x01;
      return { ...p, bytes: b };
    };
    net.start(I);
    expect(r.installed.size).toBe(0);
    expect(r.engine.drops.integrity).toBeGreaterThan(0);
  });

  it('an IKE_SA_INIT with major version 3 is answered INVALID_MAJOR_VERSION', () => {
    const { net, messages } = captured();
    const v3 = new Uint8Array(messages[0]!);
    v3[17] = 0x30; // RFC 7296 §3.1: MjVer is the high nibble of octet 17
    const spiI = v3.slice(0, 8);
    spiI[0]! ^= 0xff;
    v3.set(spiI, 0);
    const r = net.nodes.get(R)!;
    const actions = r.engine.onDatagram(v3, { from: { address: '198.51.100.9', port: 500 }, to: { address: R, port: 500 }, natT: false }, net.now);
    const send = actions.find((a) => a.kind === 'send');
    expect(send && send.kind === 'send').toBe(true);
    if (send?.kind !== 'send') return;
    const m = decodeOrFail(send.bytes);
    expect(m.header.majorVersion).toBe(2);
    expect(m.payloads.some((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INVALID_MAJOR_VERSION)).toBe(true);
  });
});
