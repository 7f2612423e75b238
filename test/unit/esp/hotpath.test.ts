/**
 * Hot path shape (docs/architecture.md, rule 6): 10k packets per suite sealed and opened with the same
 * preallocated buffers. Everything lands in the caller's buffers at the caller's offsets, and the
 * success result is the SA's own object every time (no per-packet result allocation).
 *
 * What still allocates per packet is node:crypto: a Cipher/Decipher or Hmac object, the Buffers
 * returned by update()/final()/getAuthTag()/digest(), and subarray views handed to it (see
 * src/esp/seal.ts). The native path (one EVP_CIPHER_CTX per SA, output into preallocated slabs)
 * removes those in a later issue.
 */
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';

const SUITES: [string, EspSaParams][] = [
  ['AES-GCM-16-128', { spi: 0x100, encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: IntegId.NONE, encrKey: new Uint8Array(20).fill(1), integKey: new Uint8Array(0), esn: false }],
  ['AES-GCM-16-256 ESN', { spi: 0x101, encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE, encrKey: new Uint8Array(36).fill(2), integKey: new Uint8Array(0), esn: true }],
  ['AES-CBC-128 + HMAC-SHA2-256-128', { spi: 0x102, encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.HMAC_SHA2_256_128, encrKey: new Uint8Array(16).fill(3), integKey: new Uint8Array(32).fill(4), esn: false }],
  ['NULL + HMAC-SHA2-256-128', { spi: 0x103, encrId: EncrId.NULL, encrKeyBits: 0, integId: IntegId.HMAC_SHA2_256_128, encrKey: new Uint8Array(0), integKey: new Uint8Array(32).fill(5), esn: false }],
];

const N = 10_000;
const HEADROOM = 32;

describe('hot path: 10k packets through reused buffers', () => {
  for (const [name, p] of SUITES) {
    it(name, () => {
      const tx = new OutboundEspSa(p);
      const rx = new InboundEspSa(p);
      const inner = new Uint8Array(1500);
      const wire = new Uint8Array(2048);
      const plain = new Uint8Array(2048);
      let bytes = 0;
      for (let k = 0; k < N; k++) {
        const len = 20 + ((k * 97) % 1381); // 20..1400 octets
        inner[0] = 0x45;
        inner[1] = k & 0xff;
        inner[len - 1] = (k >>> 8) & 0xff;
        wire[HEADROOM - 1] = 0x5a; // sentinel just before the ESP packet
        const n = sealEsp(tx, inner, len, 4, wire, HEADROOM);
        expect(n).toBe(len + tx.overhead(len));
        expect(wire[HEADROOM - 1]).toBe(0x5a);
        expect(wire[HEADROOM + 3]).toBe(p.spi & 0xff); // SPI written at outOffset
        const r = openEsp(rx, wire, HEADROOM, n, plain);
        expect(r).toBe(rx.result);
        if (!r.ok) return;
        expect(r.offset).toBe(0);
        expect(r.length).toBe(len);
        expect(plain[1]).toBe(k & 0xff);
        expect(plain[len - 1]).toBe((k >>> 8) & 0xff);
        bytes += len;
      }
      expect(tx.counters.packets).toBe(N);
      expect(rx.counters.packets).toBe(N);
      expect(rx.counters.bytes).toBe(bytes);
      expect(rx.replay.topLow).toBe(N);
    });
  }

  it('in place: inner packet sealed from headroom in one buffer and opened back into the same buffer', () => {
    const p = SUITES[0]![1];
    const tx = new OutboundEspSa(p);
    const rx = new InboundEspSa(p);
    const buf = new Uint8Array(2048);
    for (let k = 0; k < 1000; k++) {
      const len = 100 + (k % 200);
      const src = buf.subarray(1024, 1024 + len);
      src.fill(k & 0xff);
      const n = sealEsp(tx, src, len, 4, buf, 0);
      const r = openEsp(rx, buf, 0, n, buf);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.offset).toBe(16); // right after SPI, Seq and the 8-octet IV
      expect(buf[r.offset]).toBe(k & 0xff);
      expect(buf[r.offset + r.length - 1]).toBe(k & 0xff);
    }
  });
});
