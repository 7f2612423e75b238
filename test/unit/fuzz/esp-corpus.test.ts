/**
 * Real ESP-in-UDP (test/fixtures/captured: AES-GCM-16-256 and AES-CBC-256 + HMAC-SHA2-256-128,
 * sealed by strongSwan's kernel-libipsec and by branchgate's native path) through both ESP open
 * paths: the TypeScript reference (src/esp/open.ts) and the native one (native/src/esp.c), with
 * the keys strongSwan logged. Genuine packets open to the pinged IPv4 packets; mutated ones never
 * throw, get the same verdict on both paths and are counted exactly once, under a reason, also
 * when they enter through the native dataplane (NativeDataplane.receiveEsp → dpInject).
 *
 * Needs the built addon: without it the native tests FAIL with the reason (never skip).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InboundEspSa, type EspCounters } from '../../../src/esp/esp-sa.js';
import { openEsp, peekSpi, type OpenFailReason } from '../../../src/esp/open.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';
import { NativeEspSa } from '../../../src/native/esp-native.js';
import { addon, drain, side, ts, type Side } from '../native/dp-helpers.js';
import { espDatagrams, espKeysFor, type CapturedDatagram } from './corpus.js';
import { espMutation, mutateEsp, type EspMutation } from './mutate.js';

const ESP = espDatagrams();
const CAP = 2048;
/** native/src/esp.h open results, as the TypeScript reasons. */
const REASON: Record<number, OpenFailReason> = { [-1]: 'short', [-2]: 'spi', [-3]: 'seq-zero', [-4]: 'replay', [-5]: 'auth', [-6]: 'padding', [-7]: 'dummy', [-8]: 'too-big' };

function params(spi: number): EspSaParams {
  const k = espKeysFor(spi);
  if (!k) throw new Error(`no logged key for ESP SPI ${spi.toString(16)}`);
  return { spi, encrId: k.encrId, encrKeyBits: k.keyBits, integId: k.integId, encrKey: k.encrKey, integKey: k.integKey, esn: false };
}

const spiOf = (d: CapturedDatagram): number => new DataView(d.udp.buffer, d.udp.byteOffset).getUint32(0);
const total = (c: EspCounters): number => c.packets + c.replayDrops + c.authFailures + c.malformed + c.dummy;

/** One inbound SA on both paths. */
class Both {
  readonly ts: InboundEspSa;
  readonly nat: NativeEspSa;
  constructor(p: EspSaParams) {
    this.ts = new InboundEspSa(p);
    this.nat = new NativeEspSa(addon(), p, false);
  }

  /** Opens on both; the verdicts (and plaintexts) must agree. Returns the TS result as ok | reason. */
  open(pkt: Uint8Array): { verdict: 'ok' | OpenFailReason; plain?: Uint8Array } {
    const out = new Uint8Array(CAP);
    const r = openEsp(this.ts, pkt, 0, pkt.length, out);
    const src = new Uint8Array(Math.max(pkt.length, 1));
    src.set(pkt);
    const dst = new Uint8Array(CAP);
    const res = new Int32Array(1);
    const nh = new Uint8Array(1);
    this.nat.open(src, Uint32Array.of(0), Uint32Array.of(pkt.length), dst, Uint32Array.of(0), CAP, 1, res, nh);
    if (r.ok) {
      const plain = out.slice(r.offset, r.offset + r.length);
      expect(res[0], 'native verdict for a packet TS opened').toBe(r.length);
      expect(Buffer.from(dst.subarray(0, r.length)).equals(Buffer.from(plain)), 'native plaintext').toBe(true);
      return { verdict: 'ok', plain };
    }
    expect(REASON[res[0]!], `native verdict (${res[0]}) vs TypeScript '${r.reason}'`).toBe(r.reason);
    return { verdict: r.reason };
  }

  expectSameCounters(): void {
    const c = this.nat.state().counters;
    expect({ packets: c.packets, replayDrops: c.replayDrops, authFailures: c.authFailures, malformed: c.malformed, dummy: c.dummy })
      .toEqual({ packets: this.ts.counters.packets, replayDrops: this.ts.counters.replayDrops, authFailures: this.ts.counters.authFailures, malformed: this.ts.counters.malformed, dummy: this.ts.counters.dummy });
  }
}

describe('captured ESP opens with the logged keys on both paths (known answer)', () => {
  it('every datagram decrypts to the pinged IPv4 packet, identically in TypeScript and C', () => {
    expect(ESP.length).toBeGreaterThanOrEqual(30);
    const sas = new Map<number, Both>();
    const seen = new Set<number>();
    for (const d of ESP) {
      const spi = spiOf(d);
      const sa = sas.get(spi) ?? new Both(params(spi));
      sas.set(spi, sa);
      seen.add(params(spi).encrId);
      const r = sa.open(d.udp);
      expect(r.verdict, `${d.file}:${d.line}`).toBe('ok');
      const ip = r.plain!;
      // RFC 791: version 4, total length = the whole inner packet, protocol 1 (ICMP) between the
      // two addresses the capture pinged
      expect(ip[0]! >> 4).toBe(4);
      expect((ip[2]! << 8) | ip[3]!).toBe(ip.length);
      expect(ip[9]).toBe(1);
      const addrs = [ip.subarray(12, 16).join('.'), ip.subarray(16, 20).join('.')].sort();
      expect(addrs).toEqual(['198.51.100.1', '203.0.113.1']);
    }
    for (const sa of sas.values()) sa.expectSameCounters();
    expect([...seen].sort()).toEqual([12, 20]); // AES-CBC and AES-GCM-16
  });
});

describe('mutated captured ESP (property)', () => {
  it('both open paths: same verdict, never a throw, every packet counted once under a reason', () => {
    fc.assert(
      fc.property(fc.nat(ESP.length - 1), fc.array(espMutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (i, muts, warm) => {
        const d = ESP[i]!;
        const spi = spiOf(d);
        const sa = new Both(params(spi));
        let fed = 0;
        let accepted = false;
        if (warm) {
          expect(sa.open(d.udp).verdict).toBe('ok');
          fed++;
          accepted = true;
        }
        for (const m of muts) {
          const pkt = mutateEsp(d.udp, m);
          // the dispatcher's step: a packet naming another SPI never reaches this SA
          if (peekSpi(pkt, 0) !== spi) continue;
          const r = sa.open(pkt);
          fed++;
          const genuine = Buffer.from(pkt).equals(Buffer.from(d.udp));
          // only the genuine octets ever open (no forgery), and only once (RFC 4303 §3.4.3)
          if (r.verdict === 'ok') expect(genuine && !accepted).toBe(true);
          if (genuine) expect(r.verdict).toBe(accepted ? 'replay' : 'ok');
          if (r.verdict === 'ok') accepted = true;
          expect(total(sa.ts.counters)).toBe(fed);
        }
        sa.expectSameCounters();
      }),
      { numRuns: 600 },
    );
  });
});

describe('mutated captured ESP through the native dataplane (receiveEsp → dpInject)', () => {
  let s: Side | undefined;
  const spis = [...new Set(ESP.map(spiOf))];

  beforeAll(async () => {
    s = await side();
    // every captured SA as the inbound half of a Child SA (any-to-any selectors)
    const any = ts('0.0.0.0', '255.255.255.255');
    spis.forEach((spi, n) => {
      s!.dp.addChildSa({
        tunnel: 'gw', inbound: params(spi), outbound: { ...params(spi), spi: 0x7000_0000 + n }, localTs: [any], remoteTs: [any],
        local: { address: '127.0.0.1', port: s!.port }, remote: { address: '127.0.0.1', port: 9 },
      });
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  /**
   * Everything the engine counted: packets it accepted (per-SA packetsIn) and its drops by
   * reason on the receive side (dataplane/drops.ts; the tx-* reasons are the send path's).
   */
  function counts(): Record<string, number> {
    const out: Record<string, number> = { accepted: spis.reduce((n, spi) => n + (s!.dp.counters(spi)?.packetsIn ?? 0), 0) };
    for (const [k, v] of Object.entries(s!.dp.drops())) if (!k.startsWith('tx-')) out[k] = v;
    return out;
  }

  /** RFC 4303 §3.4 / RFC 3948 §2.2: the reasons a mutation may end under (undefined: any). */
  function allowed(m: EspMutation, pkt: Uint8Array, known: boolean): string[] | undefined {
    if (pkt.length < 4 || peekSpi(pkt, 0) === 0) return ['non-esp'];
    if (!known) return ['unknown-spi'];
    if (m.kind === 'flip-icv') return ['auth', 'replay']; // replay is checked before the ICV (§3.4.3)
    if (m.kind === 'seq' && m.value === 0) return ['seq-zero'];
    if (m.kind === 'none') return ['accepted', 'replay'];
    return undefined;
  }

  it('every injected datagram moves exactly one counter, under a reason its damage allows', () => {
    if (!s) throw new Error('dataplane setup failed');
    let before = counts();
    const seen = new Set<string>();
    fc.assert(
      fc.property(fc.nat(ESP.length - 1), espMutation, (i, m) => {
        const pkt = mutateEsp(ESP[i]!.udp, m);
        // dpInject runs the RX path synchronously
        s!.dp.receiveEsp(pkt, { address: '127.0.0.1', port: 4500 });
        drain(s!.twin);
        const now = counts();
        const moved = Object.keys(now).filter((k) => now[k] !== (before[k] ?? 0));
        const what = `${m.kind} of ${ESP[i]!.file}:${ESP[i]!.line} (${pkt.length} octets)`;
        expect(moved, what).toHaveLength(1);
        expect(now[moved[0]!]! - (before[moved[0]!] ?? 0), what).toBe(1);
        const ok = allowed(m, pkt, spis.includes(peekSpi(pkt, 0)));
        if (ok) expect(ok, what).toContain(moved[0]);
        seen.add(moved[0]!);
        before = now;
      }),
      { numRuns: 600 },
    );
    // the mutations reach the cheap checks and the cryptographic ones
    for (const r of ['unknown-spi', 'non-esp', 'auth', 'replay']) expect(seen).toContain(r);
  });
});
