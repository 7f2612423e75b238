/**
 * Every hostile packet class, on both datapaths: TsDataplane (the reference) and NativeDataplane
 * get the same datagrams and must drop each under the same named reason (src/dataplane/drops.ts,
 * native/src/dp.h DPD_*), with the count each class was built to produce: the expected numbers
 * come from how the input was made, not from either datapath's output.
 *
 * Receive: non-ESP (short, SPI 0), unknown SPI (foreign, and an SA deleted on both sides),
 * oversize (MTU + 129; MTU + 128 exactly is still delivered), truncated, sequence number 0, replay,
 * bad ICV, bad padding (built with node:crypto directly, RFC 4106 §4-5 / RFC 4303 §2.4), dummy
 * (Next Header 59), not IPv4, bad inner lengths, outside the selectors, and a TUN that refuses.
 * Transmit: no SA, not IPv4, outside the selectors, sequence space exhausted; and the classes only
 * one datapath can produce in a unit test (ring full and sender refusals: TypeScript; oversize
 * TUN reads and kernel send errors: native).
 *
 * Needs the built addon; without it the tests FAIL (never skip).
 */
import { createCipheriv, createHmac } from 'node:crypto';
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { sealEsp } from '../../../src/esp/seal.js';
import { ESP_DROP_REASONS, type EspDropCounts, type EspDropReason } from '../../../src/dataplane/drops.js';
import { TsDataplane, type EspSender } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun } from '../../../src/dataplane/memory.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { dataplanePair, drain, hex, inject, side, specPair, SUITES, udp, until, type SuiteSpec } from '../native/dp-helpers.js';

const MTU = 1400;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

/** All reasons zero except the given ones. */
function only(counts: Partial<EspDropCounts>): EspDropCounts {
  return Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, counts[r] ?? 0])) as EspDropCounts;
}

/**
 * An ESP packet for SA `p` carrying `plain` (payload, padding, Pad Length and Next Header as
 * given: nothing is checked), with node:crypto only: GCM per RFC 4106 §4 (nonce = salt ‖ IV) and
 * §5 (AAD = SPI ‖ Seq), ChaCha20-Poly1305 the same way (RFC 7634 §2), CBC per RFC 3602 with HMAC-SHA2-256-128 per RFC 4868, NULL per RFC 2410.
 */
function rawEsp(p: EspSaParams, s: SuiteSpec, seq: number, plain: Uint8Array): Uint8Array {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32BE(p.spi, 0);
  hdr.writeUInt32BE(seq, 4);
  if (s.integId === IntegId.NONE) {
    const keyLen = s.keyBytes - 4; // the AEAD key, then the 4-octet salt
    const iv = Buffer.alloc(8);
    iv.writeUInt32BE(seq, 4);
    const alg = s.encrId === EncrId.CHACHA20_POLY1305 ? 'chacha20-poly1305' : `aes-${s.keyBits}-gcm`; // RFC 7634: same nonce and AAD
    const c = createCipheriv(alg as 'aes-256-gcm', Buffer.from(p.encrKey.subarray(0, keyLen)),
      Buffer.concat([Buffer.from(p.encrKey.subarray(keyLen)), iv]), { authTagLength: 16 });
    c.setAAD(hdr);
    const ct = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([hdr, iv, ct, c.getAuthTag()]);
  }
  let iv = Buffer.alloc(0);
  let ct = Buffer.from(plain);
  if (s.keyBits > 0) {
    iv = Buffer.alloc(16, 7);
    const c = createCipheriv(`aes-${s.keyBits}-cbc` as 'aes-256-cbc', Buffer.from(p.encrKey), iv);
    c.setAutoPadding(false);
    ct = Buffer.concat([c.update(ct), c.final()]);
  }
  const icv = createHmac('sha256', Buffer.from(p.integKey)).update(Buffer.concat([hdr, iv, ct])).digest().subarray(0, 16);
  return Buffer.concat([hdr, iv, ct, icv]);
}

/** Plaintexts with a wrong trailer, whole AES blocks long: padding 9,2 instead of 1,2; Pad Length 40 > what precedes it. */
function badTrailers(): Uint8Array[] {
  const a = new Uint8Array(32).fill(0x45);
  a.set([9, 2, 2, 4], 28);
  const b = new Uint8Array(32).fill(0x45);
  b.set([40, 4], 30);
  return [a, b];
}

describe('drops by reason: TsDataplane and NativeDataplane count every hostile class alike', () => {
  for (const suite of SUITES) {
    it(`${suite.name}: every receive class under its own reason, the same on both, surviving SA deletion`, async () => {
      const [spec, peerSpec] = specPair(suite, 0x5100_0001, 0x6100_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: 4501 });
      const [spec2, peerSpec2] = specPair(suite, 0x5100_0003, 0x6100_0004, spec.local, spec.remote);
      const pair = await dataplanePair(spec, MTU, 0);
      closers.push(() => pair.close());
      const { ts, tun, nat } = pair;
      for (const dp of [ts, nat.dp]) dp.addChildSa(spec2, { activate: false });
      const peer = new OutboundEspSa(peerSpec.outbound);
      const seal = (inner: Uint8Array, nh = 4, sa = peer): Uint8Array => {
        const out = new Uint8Array(inner.length + 128);
        return out.subarray(0, sealEsp(sa, inner, inner.length, nh, out, 0));
      };
      const lan = (size: number, fill = 0): Uint8Array => udp('100.64.20.2', '100.64.10.2', size, fill);
      // The largest inner packet whose ESP datagram is exactly MTU + 128: still delivered.
      let edgeInner = MTU + 128;
      while (edgeInner + peer.overhead(edgeInner) > MTU + 128) edgeInner--;
      const good = Array.from({ length: 6 }, (_, i) => seal(lan(60 + 31 * i, i)));
      const edge = seal(lan(edgeInner, 9));
      expect(edge.length, 'a datagram of exactly MTU + 128 octets').toBe(MTU + 128);
      const flipped = seal(lan(90, 7));
      flipped[flipped.length - 20]! ^= 0x08;
      const seqZero = Uint8Array.from(seal(lan(70, 8)));
      seqZero.fill(0, 4, 8);
      const forDeleted = seal(lan(80), 4, new OutboundEspSa(peerSpec2.outbound));
      const notIpv4 = [seal(lan(64), 41), seal(Uint8Array.of(0x60, 0, 0, 0, 0, 8, 17, 64, ...new Array<number>(40).fill(1))), seal(new Uint8Array(0))];
      const tooLong = lan(60);
      tooLong[3] = 200; // Total Length 200 in a 60-octet packet
      const ihl = lan(40);
      ihl[0] = 0x4f; // IHL 60 octets in a 40-octet packet
      const badLength = [seal(tooLong), seal(ihl), seal(lan(60).subarray(0, 10))];
      const policy = [seal(udp('100.64.77.2', '100.64.10.2', 80)), seal(udp('100.64.20.2', '100.64.99.9', 80))];
      const dummy = seal(lan(50), 59);
      const padding = badTrailers().map((pl, i) => rawEsp(spec.inbound, suite, 1000 + i, pl));
      const huge = new Uint8Array(65_000).fill(0x51);
      huge.set(good[3]!.subarray(0, 8)); // our SPI and a fresh sequence number

      const classes: [EspDropReason | 'delivered', Uint8Array[]][] = [
        ['delivered', [good[0]!, good[2]!, good[1]!, edge]],
        ['non-esp', [new Uint8Array(0), Uint8Array.of(1, 2, 3), Uint8Array.of(0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9)]],
        ['unknown-spi', [Uint8Array.of(0x0b, 0xad, 0x0b, 0xad, ...good[3]!.subarray(4))]],
        ['oversize', [Uint8Array.from([...edge, 0]), Uint8Array.from([...good[3]!, ...new Array<number>(MTU + 128).fill(0)]), huge]],
        ['short', [good[3]!.subarray(0, 4), good[3]!.subarray(0, 8), good[3]!.subarray(0, 16), good[3]!.subarray(0, 20)]],
        ['seq-zero', [seqZero]],
        ['replay', [good[0]!, good[1]!]],
        ['auth', [flipped]],
        ['dummy', [dummy]],
        ['not-ipv4', notIpv4],
        ['bad-length', badLength],
        ['policy', policy],
        ['delivered', [good[3]!, good[5]!, good[4]!]],
        ['padding', padding],
      ];
      for (const [, list] of classes) {
        for (const d of list) {
          ts.receiveEsp(d, spec.remote);
          nat.dp.receiveEsp(d, spec.remote);
        }
      }
      // A packet for a Child SA that both sides deleted lands in unknown-spi.
      for (const dp of [ts, nat.dp]) dp.deleteChildSa(spec2.inbound.spi);
      ts.receiveEsp(forDeleted, spec.remote);
      nat.dp.receiveEsp(forDeleted, spec.remote);

      const want: Partial<EspDropCounts> = {};
      for (const [k, list] of classes) if (k !== 'delivered') want[k] = (want[k] ?? 0) + list.length;
      want['unknown-spi']! += 1;
      expect(ts.drops()).toEqual(only(want));
      expect(nat.dp.drops()).toEqual(only(want));
      await new Promise((r) => setImmediate(r)); // TsDataplane writes its TUN batch once per turn
      const delivered = classes.filter(([k]) => k === 'delivered').flatMap(([, l]) => l).length;
      const natWritten: Uint8Array[] = [];
      await until('the native TUN writes', () => (natWritten.push(...drain(nat.twin)), natWritten.length >= delivered));
      expect(tun.written.length).toBe(delivered);
      expect(natWritten.map(hex)).toEqual(tun.written.map(hex));
      // Cumulative: deleting the SA they were counted against changes nothing.
      for (const dp of [ts, nat.dp]) dp.deleteChildSa(spec.inbound.spi);
      expect(ts.drops()).toEqual(only(want));
      expect(nat.dp.drops()).toEqual(only(want));
    });
  }

  it('a TUN that refuses the write: tun-write on both', async () => {
    const [spec, peerSpec] = specPair(SUITES[0]!, 0x5200_0001, 0x6200_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: 4501 });
    const ts = new TsDataplane({ openTun: (name, m) => Object.assign(new MemoryTun(name, m), { writeBatch: () => 0 }), sender: { sendEsp: () => true } });
    await ts.attachTunnel('gw', { name: 'bg0', mtu: MTU, mssClamp: 0 });
    const nat = await side(MTU, 0, { refuseWrites: true });
    closers.push(() => nat.close(), () => ts.close());
    const peer = new OutboundEspSa(peerSpec.outbound);
    for (const dp of [ts, nat.dp]) dp.addChildSa(spec);
    for (let i = 0; i < 5; i++) {
      const inner = udp('100.64.20.2', '100.64.10.2', 100 + i);
      const out = new Uint8Array(300);
      const d = out.subarray(0, sealEsp(peer, inner, inner.length, 4, out, 0));
      ts.receiveEsp(d, spec.remote);
      nat.dp.receiveEsp(d, spec.remote);
    }
    await new Promise((r) => setImmediate(r));
    expect(ts.drops()).toEqual(only({ 'tun-write': 5 }));
    expect(nat.dp.drops()).toEqual(only({ 'tun-write': 5 }));
  });

  for (const suite of SUITES) {
    it(`${suite.name}: transmit classes (not IPv4, outside the selectors, sequence space exhausted, no SA) the same on both`, async () => {
      const sink = dgram.createSocket('udp4');
      await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
      closers.push(() => void sink.close());
      const [spec] = specPair(suite, 0x5300_0001, 0x6300_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: sink.address().port });
      const pair = await dataplanePair(spec, MTU, 0);
      closers.push(() => pair.close());
      const { ts, tun, nat } = pair;
      const both = (pkts: Uint8Array[]): void => {
        tun.inject(pkts);
        inject(nat.twin, pkts);
      };
      const out = (size: number): Uint8Array => udp('100.64.10.2', '100.64.20.2', size);
      both([Uint8Array.of(0x60, 0, 0, 0, 0, 0, 0, 0), out(80), udp('100.64.99.2', '100.64.20.2', 80), udp('100.64.10.2', '198.51.100.7', 80), out(90)]);
      let want = only({ 'tx-not-ipv4': 1, 'tx-policy': 2 });
      await until('native TX drops', () => JSON.stringify(nat.dp.drops()) === JSON.stringify(want));
      expect(ts.drops()).toEqual(want);
      // 2^32 - 1 is the last sequence number without ESN (RFC 4303 §3.3.3): one more packet goes, two do not.
      for (const dp of [ts, nat.dp]) expect(dp.setSeqForTest(spec.inbound.spi, 0, 0xffff_fffe)).toBe(true);
      both([out(100), out(101), out(102)]);
      want = only({ 'tx-not-ipv4': 1, 'tx-policy': 2, 'tx-seq-exhausted': 2 });
      await until('native exhaustion drops', () => JSON.stringify(nat.dp.drops()) === JSON.stringify(want));
      expect(ts.drops()).toEqual(want);
      for (const dp of [ts, nat.dp]) dp.deleteChildSa(spec.inbound.spi);
      both([out(60), out(61), out(62), out(63)]);
      want = only({ 'tx-not-ipv4': 1, 'tx-policy': 2, 'tx-seq-exhausted': 2, 'tx-no-sa': 4 });
      await until('native no-SA drops', () => JSON.stringify(nat.dp.drops()) === JSON.stringify(want));
      expect(ts.drops()).toEqual(want);
    });
  }

  it('TypeScript: a full send ring is tx-queue-full; a refused or failed send is tx-send-error', async () => {
    const [spec] = specPair(SUITES[0]!, 0x5400_0001, 0x6400_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: 4501 });
    const pending: ((err: Error | null) => void)[] = [];
    let refuse = false;
    const sender: EspSender = { sendEsp: (_f, _b, _o, _l, _t, done) => (refuse ? false : (pending.push(done), true)) };
    let tun!: MemoryTun;
    const ts = new TsDataplane({ openTun: (name, m) => (tun = new MemoryTun(name, m)), sender });
    closers.push(() => ts.close());
    await ts.attachTunnel('gw', { name: 'bg0', mtu: MTU, mssClamp: 0 });
    ts.addChildSa(spec);
    // Nothing completes: the ring's 256 slots fill, the rest is dropped, not queued.
    tun.inject(Array.from({ length: 300 }, (_, i) => udp('100.64.10.2', '100.64.20.2', 60 + i)));
    expect(pending.length).toBe(256);
    expect(ts.drops()).toEqual(only({ 'tx-queue-full': 44 }));
    pending.splice(0, 3).forEach((done) => done(new Error('EPERM')));
    refuse = true;
    tun.inject([udp('100.64.10.2', '100.64.20.2', 70), udp('100.64.10.2', '100.64.20.2', 71)]);
    expect(ts.drops()).toEqual(only({ 'tx-queue-full': 44, 'tx-send-error': 5 }));
  });

  it('native: a TUN read larger than the MTU is tx-oversize; a send the kernel refuses is tx-send-error', async () => {
    const nat = await side(MTU, 0);
    closers.push(() => nat.close());
    // 192.0.2.77 from a socket bound to 127.0.0.1: the kernel refuses (EINVAL) before anything leaves.
    const [spec] = specPair(SUITES[0]!, 0x5500_0001, 0x6500_0002, { address: '127.0.0.1', port: nat.port }, { address: '192.0.2.77', port: 4500 });
    nat.dp.addChildSa(spec);
    inject(nat.twin, [udp('100.64.10.2', '100.64.20.2', MTU + 1), udp('100.64.10.2', '100.64.20.2', 100), udp('100.64.10.2', '100.64.20.2', 101)]);
    const want = only({ 'tx-oversize': 1, 'tx-send-error': 2 });
    await until('native TX drops', () => JSON.stringify(nat.dp.drops()) === JSON.stringify(want));
    // One table: the oversize TUN read is tx-oversize (never the receive-side oversize).
    expect(nat.dp.drops()).toMatchObject({ 'tx-oversize': 1, oversize: 0, 'tx-send-error': 2 });
  });
});
