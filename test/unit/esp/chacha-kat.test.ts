/**
 * ChaCha20-Poly1305 known answers, typed from the RFC texts and checked on every path:
 * - RFC 7539 §2.8.2, the AEAD construction (the sunscreen text): the nonce is the 4-octet
 *   constant 07 00 00 00 ‖ the 8-octet IV, which is exactly RFC 7634's salt ‖ IV, so the SK
 *   payload's aeadSeal/aeadOpen take it as it is;
 * - RFC 7634 Appendix A, the ESP example: an ICMP echo request sealed with SPI 0x01020304,
 *   sequence number 5, IV 10 11 … 17 and KEYMAT 80 81 … 9f ‖ a0 a1 a2 a3 (key ‖ salt, §2), by the
 *   TypeScript reference and by the native path, both to the byte, and opened again by both.
 * Also an IKE SK payload round trip through createSkCipher (RFC 7634 §3) with a forged ICV refused.
 * The native half FAILS (never skips) without the built addon.
 */
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { aeadOpen, aeadSeal, createSkCipher } from '../../../src/ike/crypto/sk-cipher.js';
import { encrInfo } from '../../../src/ike/crypto/transforms.js';
import { parseEspProposal, parseIkeProposal, proposalToString } from '../../../src/config/proposals.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/esp/params.js';
import { loadNativeEsp, NativeEspSa } from '../../../src/native/esp-native.js';
import { hex, toHex } from '../crypto/hex.js';

const ALG = 'chacha20-poly1305';
const range = (from: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => from + i);

// RFC 7539 §2.8.2
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
const AEAD_KEY = range(0x80, 32);
const AEAD_AAD = hex('50515253c0c1c2c3c4c5c6c7');
const AEAD_CT = hex(
  'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6'
  + '3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36'
  + '92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc'
  + '3ff4def08e4b7a9de576d26586cec64b6116');
const AEAD_TAG = hex('1ae10b594f09e26a7e902ecbd0600691');

// RFC 7634 Appendix A (ESP example)
const ESP_PLAIN = hex(
  '45000054a6f2000040 01e778c6336405'.replace(' ', '')
  + 'c00002050800 5b7a3a080000553bec10'.replace(' ', '')
  + '00073627 08090a0b0c0d0e0f10111213'.replace(' ', '')
  + '1415161718191a1b1c1d1e1f20212223'
  + '2425262728292a2b2c2d2e2f30313233'
  + '3435363701020204');
const ESP_SEALED = hex(
  '24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6'
  + '14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3'
  + 'cbec163fac469b502773f6fb94e664da9165b82829f641e0'
  + '76aaa8266b7fb0f7b11b369907e1ad43');
const ESP_PARAMS: EspSaParams = {
  spi: 0x0102_0304, encrId: EncrId.CHACHA20_POLY1305, encrKeyBits: 0, integId: IntegId.NONE,
  encrKey: new Uint8Array([...range(0x80, 32), 0xa0, 0xa1, 0xa2, 0xa3]), integKey: new Uint8Array(0), esn: false,
};
const ESP_IV = range(0x10, 8);
const ESP_WIRE = new Uint8Array([...hex('0102030400000005'), ...ESP_IV, ...ESP_SEALED]);

describe('ChaCha20-Poly1305 (RFC 7539 §2.8.2, RFC 7634)', () => {
  it('transcription check: the ESP example plaintext is an 84-octet IPv4 packet plus 01 02 02 04', () => {
    expect(ESP_PLAIN.length).toBe(88);
    expect(toHex(ESP_PLAIN.subarray(84))).toBe('01020204');
    expect((ESP_PLAIN[2]! << 8) | ESP_PLAIN[3]!).toBe(84);
  });

  it('the table: no Key Length attribute, 32 + 4 key octets, 8-octet IV, 16-octet ICV (RFC 7634 §2)', () => {
    expect(encrInfo(EncrId.CHACHA20_POLY1305, 0)).toEqual({
      id: 28, keyBits: 0, name: 'CHACHA20_POLY1305', aead: true, keyBytes: 32, saltBytes: 4, ivBytes: 8, icvBytes: 16, blockSize: 4,
    });
    expect(encrInfo(EncrId.CHACHA20_POLY1305, 256)).toBeNull();
  });

  it('RFC 7539 §2.8.2: aeadSeal / aeadOpen', () => {
    const salt = hex('07000000');
    const iv = hex('4041424344454647');
    const sealed = aeadSeal(ALG, AEAD_KEY, salt, iv, AEAD_AAD, SUNSCREEN, 16);
    expect(toHex(sealed)).toBe(toHex(new Uint8Array([...AEAD_CT, ...AEAD_TAG])));
    expect(aeadOpen(ALG, AEAD_KEY, salt, iv, AEAD_AAD, sealed, 16)).toEqual(SUNSCREEN);
    const forged = Uint8Array.from(sealed);
    forged[0]! ^= 1;
    expect(aeadOpen(ALG, AEAD_KEY, salt, iv, AEAD_AAD, forged, 16)).toBeNull();
  });

  it('RFC 7634 Appendix A: the TypeScript ESP path seals the example to the byte and opens it', () => {
    const out = new OutboundEspSa(ESP_PARAMS);
    out.setSeqForTest(0, 4);
    out.setNextIvForTest(ESP_IV);
    const wire = new Uint8Array(200);
    const n = sealEsp(out, ESP_PLAIN.subarray(0, 84), 84, 4, wire, 0);
    expect(toHex(wire.subarray(0, n))).toBe(toHex(ESP_WIRE));
    const inb = new InboundEspSa(ESP_PARAMS);
    const r = openEsp(inb, ESP_WIRE, 0, ESP_WIRE.length, new Uint8Array(200));
    expect(r.ok && [r.length, r.nextHeader]).toEqual([84, 4]);
    const bad = Uint8Array.from(ESP_WIRE);
    bad[bad.length - 1]! ^= 0x80;
    expect(openEsp(new InboundEspSa(ESP_PARAMS), bad, 0, bad.length, new Uint8Array(200))).toEqual({ ok: false, reason: 'auth' });
  });

  it('RFC 7634 Appendix A: the native ESP path seals the same bytes and opens them', () => {
    const api = loadNativeEsp().api;
    if (api === null) throw new Error(`the native ChaCha20 KAT needs the built addon: ${loadNativeEsp().reason}`);
    const out = new NativeEspSa(api, ESP_PARAMS, true);
    out.setSeqForTest(0, 4);
    out.setNextIvForTest(ESP_IV);
    const src = new Uint8Array(ESP_PLAIN.subarray(0, 84));
    const dst = new Uint8Array(200);
    const res = new Int32Array(1);
    expect(out.seal(src, Uint32Array.of(0), Uint32Array.of(84), dst, Uint32Array.of(0), 200, 1, 4, res)).toBe(1);
    expect(toHex(dst.subarray(0, res[0]!))).toBe(toHex(ESP_WIRE));
    const inb = new NativeEspSa(api, ESP_PARAMS, false);
    const plain = new Uint8Array(200);
    const nh = new Uint8Array(1);
    expect(inb.open(Uint8Array.from(ESP_WIRE), Uint32Array.of(0), Uint32Array.of(ESP_WIRE.length), plain, Uint32Array.of(0), 200, 1, res, nh)).toBe(1);
    expect([res[0], nh[0], toHex(plain.subarray(0, 84))]).toEqual([84, 4, toHex(ESP_PLAIN.subarray(0, 84))]);
  });

  it('IKE SK payload (RFC 7634 §3, RFC 5282): round trip, forged ICV refused', () => {
    const encrKey = range(0x20, 36);
    const sk = createSkCipher({ encrId: EncrId.CHACHA20_POLY1305, encrKeyBits: 0, integId: 0, encrKey, integKey: new Uint8Array(0), randomIv: () => range(1, 8) });
    expect([sk.ivLength, sk.icvLength]).toEqual([8, 16]);
    const aad = hex('00112233445566778899aabbccddeeff2e202300000000010000004c2f000030');
    const body = sk.seal(aad, SUNSCREEN);
    expect(body.length).toBe(sk.sealedLength(SUNSCREEN.length));
    expect(sk.open(aad, body)).toEqual(SUNSCREEN);
    body[body.length - 1]! ^= 1;
    expect(sk.open(aad, body)).toBeNull();
  });

  it('the strongSwan keyword chacha20poly1305: AEAD, no Key Length, ESP and IKE', () => {
    const ike = parseIkeProposal('chacha20poly1305-prfsha256-curve25519');
    expect(ike.ok && ike.value.transforms[0]).toEqual({ type: 1, id: 28 });
    expect(ike.ok && proposalToString(ike.value)).toBe('chacha20poly1305-prfsha256-curve25519');
    const esp = parseEspProposal('chacha20poly1305');
    expect(esp.ok && esp.value.transforms.map((t) => t.id)).toEqual([28, 0]);
    const mixed = parseEspProposal('chacha20poly1305-sha256');
    expect(!mixed.ok && mixed.error).toMatch(/AEAD cipher chacha20poly1305 must not be combined with integrity algorithm sha256/);
  });
});
