/**
 * The Dataplane seam, differentially: TsDataplane (the reference) and NativeDataplane get the same
 * Child SA spec and the same traffic, and must put the same ESP bytes on the wire, write the same
 * packets to the TUN, and count the same way (SaCounters).
 *
 * Outbound: the same inner packets (MSS-clamped SYNs, packets outside the selectors, non-IPv4
 * junk) → identical ESP datagrams, compared byte for byte for the deterministic suites (GCM: the IV
 * is the sequence number; NULL: no IV). CBC IVs are random by design (RFC 3602 §3), so CBC is
 * compared on the inbound side only.
 * Inbound: one ESP stream sealed by the reference with the peer's keys, with reordering, replays,
 * forgeries, truncation, inner packets outside the selectors and a non-IPv4 payload → the same
 * packets reach the TUN and the counters agree.
 *
 * Lifecycle: deferred activation (addChildSa activate:false + activateChildSa, the rekey
 * responder's make-before-break), the delete fallback and re-activation, driven step by step on
 * both paths: every step's ESP must leave on the same SPI with the same bytes, and the counters of
 * every child must agree.
 *
 * Needs the built addon; without it the tests FAIL (never skip).
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { sealEsp } from '../../../src/esp/seal.js';
import { TsDataplane } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun, MemoryWire } from '../../../src/dataplane/memory.js';
import type { ChildSaSpec } from '../../../src/dataplane/types.js';
import { dataplanePair, drain, hex, inject, receive, specPair, SUITES, udp, until, type Side } from '../native/dp-helpers.js';

const MTU = 1400;
const MSS = 1360;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function syn(src: string, dst: string, mss: number): Uint8Array {
  const p = udp(src, dst, 44, 0, 6);
  p[32] = 0x60;
  p[33] = 0x02;
  p.set([2, 4, mss >> 8, mss & 0xff], 40);
  return p;
}

async function sinkSocket(): Promise<{ port: number; got: Buffer[] }> {
  const s = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  closers.push(() => void s.close());
  return { port: s.address().port, got };
}

async function both(spec: ChildSaSpec | null, port = spec?.local.port ?? 4500): Promise<{ ts: TsDataplane; tun: MemoryTun; wire: MemoryWire; nat: Side }> {
  const pair = await dataplanePair(spec, MTU, MSS, port);
  closers.push(() => pair.close());
  return pair;
}

const spiOf = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;

describe('TsDataplane and NativeDataplane agree', () => {
  for (const suite of SUITES) {
    it(`${suite.name}: outbound ESP bytes (deterministic suites) and counters`, async () => {
      const sink = await sinkSocket();
      const [spec] = specPair(suite, 0x3000_0001, 0x4000_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: sink.port });
      const { ts, tun, wire, nat } = await both(spec);
      const packets: Uint8Array[] = [
        ...Array.from({ length: 40 }, (_, i) => udp('100.64.10.2', '100.64.20.2', 28 + i * 33, i)),
        syn('100.64.10.2', '100.64.20.2', 1460), // clamped to 1360
        syn('100.64.10.2', '100.64.20.2', 1200), // left alone
        udp('100.64.99.2', '100.64.20.2', 100), // source outside our selectors
        udp('100.64.10.2', '198.51.100.7', 100), // destination outside theirs
        Uint8Array.of(0x60, 0, 0, 0, 0, 0, 0, 0), // IPv6: not carried
        udp('100.64.10.2', '100.64.20.2', MTU),
      ];
      tun.inject(packets);
      inject(nat.twin, packets);
      const expected = wire.queue.map((d) => d.bytes);
      expect(expected.length).toBe(43);
      await until('the native ESP datagrams', () => sink.got.length === expected.length);
      if (suite.encrId !== 12) expect(sink.got.map(hex)).toEqual(expected.map(hex));
      else expect(sink.got.map((b) => b.length)).toEqual(expected.map((b) => b.length));
      expect(nat.dp.counters(spec.inbound.spi)).toEqual(ts.counters(spec.inbound.spi));
      const d = ts.drops();
      const n = nat.dp.drops();
      expect([n['tx-no-sa'], n['tx-not-ipv4']]).toEqual([d['tx-no-sa'], d['tx-not-ipv4']]);
      expect(nat.dp.drops(), 'drops by reason').toEqual(ts.drops());
      expect(ts.drops()['tx-policy']).toBe(2);
    });

    it(`${suite.name}: inbound verdicts, TUN output and counters`, async () => {
      const [spec, peerSpec] = specPair(suite, 0x5000_0001, 0x6000_0002, { address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: 4501 });
      const { ts, tun, nat } = await both(spec);
      // The peer's sender: seals with the keys our inbound SA expects.
      const peer = new OutboundEspSa(peerSpec.outbound);
      const seal = (p: Uint8Array, nh = 4): Uint8Array => {
        const out = new Uint8Array(p.length + 128);
        return out.subarray(0, sealEsp(peer, p, p.length, nh, out, 0));
      };
      const good = Array.from({ length: 30 }, (_, i) => seal(udp('100.64.20.2', '100.64.10.2', 40 + i * 41, i)));
      const outside = seal(udp('100.64.77.2', '100.64.10.2', 80)); // inner source outside the peer's selectors
      const notIp = seal(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      const dummy = seal(udp('100.64.20.2', '100.64.10.2', 50), 59);
      const clampMe = seal(syn('100.64.20.2', '100.64.10.2', 1460));
      const forged = Uint8Array.from(good[3]!);
      forged[20]! ^= 0x10;
      const stream = [
        good[0]!, good[2]!, good[1]!, good[1]!, forged, good[3]!, good[3]!, outside, notIp, dummy, clampMe,
        good[5]!.subarray(0, 10), ...good.slice(6).reverse(), good[4]!, Uint8Array.of(0, 0, 0, 0, 1), Uint8Array.of(1, 2, 3),
      ];
      for (const d of stream) {
        ts.receiveEsp(d, spec.remote);
        nat.dp.receiveEsp(d, spec.remote);
      }
      await new Promise((r) => setImmediate(r)); // TsDataplane flushes its TUN writes once per turn
      const natWritten: Uint8Array[] = [];
      await until('the same number of packets on both TUNs', () => {
        natWritten.push(...drain(nat.twin));
        return natWritten.length === tun.written.length ? true : undefined;
      });
      expect(tun.written.length).toBe(30); // good[0..4] and good[6..29], plus the SYN; good[5] came only truncated
      expect(natWritten.map(hex)).toEqual(tun.written.map(hex));
      expect(nat.dp.counters(spec.inbound.spi)).toEqual(ts.counters(spec.inbound.spi));
      expect(nat.dp.unknownSpi).toBe(ts.unknownSpi);
      expect(nat.dp.drops(), 'drops by reason').toEqual(ts.drops());
    });
  }
});

describe('TsDataplane and NativeDataplane agree on the Child SA lifecycle', () => {
  for (const suite of SUITES.filter((x) => x.encrId !== 12)) { // deterministic ESP bytes (GCM IV = seq; NULL: no IV)
    for (const esn of [false, true]) {
      it(`${suite.name}${esn ? ' ESN' : ''}: deferred activation, activateChildSa, delete fallback — same SPI and bytes at every step`, async () => {
        const sink = await sinkSocket();
        const local = { address: '127.0.0.1', port: 4500 };
        const remote = { address: '127.0.0.1', port: sink.port };
        const [s1, p1] = specPair(suite, 0x7100_0001, 0x7200_0001, local, remote, esn);
        const [s2, p2] = specPair(suite, 0x7100_0002, 0x7200_0002, local, remote, esn);
        const [s3] = specPair(suite, 0x7100_0003, 0x7200_0003, local, remote, esn);
        // A tunnel without a sender takes even a deferred child at once (activate:false has nothing to keep).
        const { ts, tun, wire, nat } = await both(null);
        const dps = [ts, nat.dp];
        for (const dp of dps) dp.addChildSa(s1, { activate: false });
        let sent = 0;
        const step = async (what: string, wantSpi: number, n: number): Promise<void> => {
          const pkts = Array.from({ length: n }, (_, i) => udp('100.64.10.2', '100.64.20.2', 60 + 97 * i + sent, sent + i));
          tun.inject(pkts);
          inject(nat.twin, pkts);
          sent += n;
          await until(`${what}: the native ESP datagrams`, () => sink.got.length === wire.queue.length);
          const ref = wire.queue.slice(-n).map((d) => d.bytes);
          const got = sink.got.slice(-n);
          expect(ref.map(spiOf), `${what}: reference SPI`).toEqual(Array(n).fill(wantSpi));
          expect(got.map(hex), `${what}: native bytes`).toEqual(ref.map(hex));
        };
        await step('first child, deferred on an empty tunnel', s1.outbound.spi, 3);
        // The rekey responder installs the new child deferred: it accepts on it, still sends on the old one.
        for (const dp of dps) dp.addChildSa(s2, { activate: false });
        await step('new child deferred', s1.outbound.spi, 4);
        const peer2 = new OutboundEspSa(p2.outbound);
        const seal = (sa: OutboundEspSa, p: Uint8Array): Uint8Array => {
          const out = new Uint8Array(p.length + 128);
          return out.subarray(0, sealEsp(sa, p, p.length, 4, out, 0));
        };
        const peer1 = new OutboundEspSa(p1.outbound);
        const inbound = [seal(peer2, udp('100.64.20.2', '100.64.10.2', 120, 1)), seal(peer1, udp('100.64.20.2', '100.64.10.2', 130, 2)), seal(peer2, udp('100.64.20.2', '100.64.10.2', 140, 3))];
        for (const d of inbound) for (const dp of dps) dp.receiveEsp(d, remote);
        await new Promise((r) => setImmediate(r));
        const natWritten = await receive(nat.twin, 3);
        expect(natWritten.map(hex)).toEqual(tun.written.map(hex));
        // Unknown SPI: a no-op on both.
        for (const dp of dps) dp.activateChildSa(0x0bad_0bad);
        await step('activate of an unknown SPI', s1.outbound.spi, 2);
        for (const dp of dps) dp.activateChildSa(s2.inbound.spi);
        await step('after activateChildSa', s2.outbound.spi, 5);
        // Re-activating the old child (both stay installed) switches back; then a third, deferred.
        for (const dp of dps) dp.activateChildSa(s1.inbound.spi);
        await step('old child re-activated', s1.outbound.spi, 2);
        for (const dp of dps) dp.addChildSa(s3, { activate: false });
        await step('third child deferred', s1.outbound.spi, 2);
        // The initiator deletes the old SA before we activated: the newest remaining child sends.
        for (const dp of dps) dp.deleteChildSa(s1.inbound.spi);
        await step('sender deleted: fallback to the newest child', s3.outbound.spi, 3);
        // Deleting a non-sender leaves the sender alone; an immediate add switches at once.
        for (const dp of dps) dp.deleteChildSa(s2.inbound.spi);
        await step('non-sender deleted', s3.outbound.spi, 1);
        for (const dp of dps) dp.addChildSa(s2);
        await step('re-added with activate (default)', s2.outbound.spi, 2);
        for (const spec of [s1, s2, s3]) expect(nat.dp.counters(spec.inbound.spi), `counters of ${spec.inbound.spi.toString(16)}`).toEqual(ts.counters(spec.inbound.spi));
      });
    }
  }
});
