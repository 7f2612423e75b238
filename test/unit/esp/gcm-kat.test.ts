/**
 * Full ESP packets with AES-GCM-16 from draft-mcgrew-gcm-test-01 ("Test Cases for the use of GCM
 * and GMAC in IPsec ESP", McGrew, 2009), opened by openEsp and re-sealed byte for byte by sealEsp.
 *
 * Sources (both transcribe the draft; they agree with each other):
 * - OpenBSD regress/sys/crypto/gmac/gmac_test.c ("Test vectors from draft-mcgrew-gcm-test-01.txt",
 *   one entry per draft page: key + salt, IV, AAD, ciphertext, tag);
 * - a public AES-GCM bench table of the same cases ("Test cases from https://tools.ietf.org/id/
 *   draft-mcgrew-gcm-test-01.html#aes-gcm": key, spi, seq, nonce, plaintext, aad, packet), whose
 *   plaintexts also appear in Go's and ell's AES-GCM tests (page 8 case).
 * The draft's GMAC cases (pages 18–20, RFC 4543) are not ESP-GCM and are left out.
 * Every case has a 16-octet ICV; keys are 128 bits (9 cases), 192 (1) and 256 (4); 5 cases use
 * 32-bit sequence numbers and 9 use ESN (the AAD carries all 64 bits, RFC 4106 §5).
 * The draft's plaintexts include the ESP trailer; `pad` is its Pad Length (read off the text).
 */
import { describe, expect, it } from 'vitest';
import { gcm } from '@noble/ciphers/aes.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';
import { concat, hex, toHex } from '../crypto/hex.js';

interface DraftCase {
  page: string;
  keyBits: 128 | 192 | 256;
  /** Cipher key ‖ 4-octet salt (RFC 4106 §8.1). */
  key: string;
  spi: string;
  /** 8 hex digits (32-bit) or 16 (ESN). */
  seq: string;
  iv: string;
  plaintext: string;
  pad: number;
  packet: string;
}

const K_ABBC = 'abbccddef00112233445566778899aab';
const K_3DE0 = '3de09874b388e6491988d0c3607eae1f';
const CASES: DraftCase[] = [
  {
    page: '6', keyBits: 128, key: '4c80cdefbb5d10da906ac73c3613a634 2e443b68', spi: '00004321', seq: '8765432100000000',
    iv: '4956ed7e3b244cfe', pad: 2,
    plaintext: `45000048699a000080114db7c0a80102 c0a801010a9bf15638d3010000010000 00000000045f736970045f7564700373
                69700963796265726369747902646b00 0021000101020201`,
    packet: `00004321000000004956ed7e3b244cfe fecf537e729d5b07dc30df528dd22b76 8d1b98736696a6fd348509fa13ceac34
             cfa2436f14a3f3cf65925bf1f4a13c5d 15b21e1884f5ff6247aeabb786b93bce 61bc17d768fd9732459018148f6cbe72
             2fd04796562dfdb4`,
  },
  {
    page: '7', keyBits: 128, key: 'feffe9928665731c6d6a8f9467308308 cafebabe', spi: '0000a5f8', seq: '0000000a',
    iv: 'facedbaddecaf888', pad: 0,
    plaintext: `4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100 00010000000000000373697009637962
                65726369747902646b00000100010001`,
    packet: `0000a5f80000000afacedbaddecaf888 deb22cd9b07c72c16e3a65beeb8df304 a5a5897d33ae530f1ba76d5d114d2a5c
             3de81827c10e9a4f51330d0eec416642 cfbb85a5b47e48a4ec3b9ba95d918bd1 83b70d3aa8bc6ee4c309e9d85a41ad4a`,
  },
  {
    page: '8', keyBits: 256, key: `${K_ABBC} ${K_ABBC} 11223344`, spi: '4a2cbfe3', seq: '00000002',
    iv: '0102030405060708', pad: 2,
    plaintext: `4500003069a6400080062690c0a80102 9389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b401010402
                01020201`,
    packet: `4a2cbfe3000000020102030405060708 ff425c9b724599df7a3bcd510194e00d 6a78107f1b0b1cbf06efae9d65a5d763
             748a637985771d347f0545659f14e99d ef842d8eb335f4eecfdbf831824b4c49 15956c96`,
  },
  {
    page: '9', keyBits: 128, key: '00000000000000000000000000000000 00000000', spi: '00000000', seq: '00000001',
    iv: '0000000000000000', pad: 2,
    plaintext: `4500003c99c500008001cb7a40679318 010101010800075c0200440061626364 65666768696a6b6c6d6e6f7071727374
                75767761626364656667686901020201`,
    packet: `00000000000000010000000000000000 4688daf2f973a392732909c331d56d60 f694abaa414b5e7ff5fdcdfff5e9a284
             456476492719ffb64de7d9dca1e1d894 bc3bd57873ed4d181d19d4d5c8c18af3 f821d496eeb096e98ad2b69e4799c71d`,
  },
  {
    page: '10', keyBits: 128, key: `${K_3DE0} 57690e43`, spi: '42f67e3f', seq: '1010101010101010',
    iv: '4e280000a2fca1a3', pad: 2,
    plaintext: `4500003c99c300008001cb7c40679318 010101010800085c0200430061626364 65666768696a6b6c6d6e6f7071727374
                75767761626364656667686901020201`,
    packet: `42f67e3f101010104e280000a2fca1a3 fba2caa4853cf9f0f22cb10d86dd83b0 fec75691cf1a04b00d1138ec9c357917
             65acbd8701ad79845bf9fe3fba487bc9 1755e6662b4c8d0d1f5e22739530320a e0d731cc978ecafaeae88f00e80d6e48`,
  },
  {
    page: '11 (first)', keyBits: 128, key: `${K_3DE0} 57690e43`, spi: '42f67e3f', seq: '1010101010101010',
    iv: '4e280000a2fca1a3', pad: 2,
    plaintext: '4500001c42a200008001441f406793b6 e00000020a00f5ff01020201',
    packet: `42f67e3f101010104e280000a2fca1a3 fba2ca845e5df9f0f22c3e6e86dd831e 1fc65792cd1af9130e1379ed369f071f
             35e034be95f112e4e7d05d35`,
  },
  {
    page: '11 (second, AES-192)', keyBits: 192, key: 'feffe9928665731c6d6a8f9467308308 feffe9928665731c cafebabe',
    spi: '0000a5f8', seq: '0000000a', iv: 'facedbaddecaf888', pad: 0,
    plaintext: '45000028a4ad4000400678800a01038f 0a010612802306b8cb712602dd6bb03e 501016d075680001',
    packet: `0000a5f80000000afacedbaddecaf888 a5b1f8066029aea40e598b8122de0242 0938b3ab33f828e687b8858b5bfbdbd0
             315b27452144cc7795457b9652037f53 18027b5b4cd7a636`,
  },
  {
    page: '12', keyBits: 128, key: `${K_ABBC} decaf888`, spi: '00000100', seq: '0000000000000001',
    iv: 'cafedebaceface74', pad: 1,
    plaintext: `4500004933ba00007f119106c3fb1d10 c2b1d326c02831ce0035dd7b800302d5 00004e20001e8c18d75b81dc91baa047
                6b91b924b280389d92c963bac046ec95 9b6266c04722b14923010101`,
    packet: `0000010000000001cafedebaceface74 18a6fd42f72cbf4ab2a2ea901f73d814 e3e7f243d95412e1c349c1d2fbec168f
             9190feebaf2cb01984e65863965d7472 b79da345e0e780191f0d2f0e0f496c22 6f2127b27db35724e7845d68651f57e6
             5f354f75ff17015769623436`,
  },
  {
    page: '13', keyBits: 256, key: `${K_ABBC} ${K_ABBC} 73616c74`, spi: '17405e67', seq: '156f3126dd0db99b',
    iv: '616e640169766563', pad: 0,
    plaintext: '45080028732c00004006e9f90a010612 0a01038f06b88023dd6bafbecb712602 50101f646d540001',
    packet: `17405e67dd0db99b616e640169766563 f2d69ecdbd5a0d5b8d5ef38bad4da58d 1f278fde98ef67549d524a3018d9a57f
             f4d3a31ce673119e451626c2415771e3 b7eebca614c89b35`,
  },
  {
    page: '14', keyBits: 128, key: `${K_3DE0} 57690e43`, spi: '42f67e3f', seq: '1010101010101010',
    iv: '4e280000a2fca1a3', pad: 1,
    plaintext: `45000049333e00007f119182c3fb1d10 c2b1d326c02831ce0035cb458003025b 000001e0001e8c18d65759d52284a035
                2c71475c8880391c764d6e5ee0496b32 5ae270c03899493915010101`,
    packet: `42f67e3f101010104e280000a2fca1a3 fba2cad12fc1f9f00d3cebf305410db8 3d7784b607323d220f24b0a97d541828
             00cadb0f68d99ef0e0c0c89ae9bea888 4e52d65bc1afd0740f742444747b5b39 ab533163aad4550ee5160975cdb608c5
             769189609763b8e18caa81e2`,
  },
  {
    page: '15', keyBits: 256, key: `${K_ABBC} ${K_ABBC} 73616c74`, spi: '17405e67', seq: '156f3126dd0db99b',
    iv: '616e640169766563', pad: 2,
    plaintext: `636973636f0172756c65730174686501 6e6574776501646566696e6501746865 746563686e6f6c6f6769657301746861
                7477696c6c01646566696e65746f6d6f 72726f7701020201`,
    packet: `17405e67dd0db99b616e640169766563 d4b7ed86a1777f2ea13d6973d324c69e 7b43f826fb56831226508bebd2dceb18
             d0a6df10e5487df074113e14c641024e 3e6773d91a62ee429b043a10e3efe6b0 12a49363412364f8c0cac587f249e56b
             11e24f30e44ccc76`,
  },
  {
    page: '16 (first)', keyBits: 128, key: '7d773d00c144c525ac619d18c84a3f47 d9664267', spi: '335467ae', seq: 'ffffffff',
    iv: '43457e9182443bc6', pad: 2,
    plaintext: '01020201',
    packet: '335467aeffffffff43457e9182443bc6 437f866bcb3f699fe9b0822bac961c45 04bef270',
  },
  {
    page: '16 (second)', keyBits: 128, key: `${K_ABBC} decaf888`, spi: '00000100', seq: '0000000000000001',
    iv: 'cafedebaceface74', pad: 0,
    plaintext: '746f016265016f72016e6f7401746f01 62650001',
    packet: `0000010000000001cafedebaceface74 29c9fc69a197d038ccdd14e2ddfcaa05 43332164412503524303ed3c6c5f2838
             43af8c3e`,
  },
  {
    page: '17', keyBits: 256, key: '6c6567616c697a656d6172696a75616e 61616e64646f69746265666f72656961 7475726e',
    spi: '796b6963', seq: 'ffffffffffffffff', iv: '333021696765746d', pad: 2,
    plaintext: `45000030da3a00008001df3bc0a80005 c0a800010800c6cd0200070061626364 65666768696a6b6c6d6e6f7071727374
                01020201`,
    packet: `796b6963ffffffff333021696765746d f97ab2aa356d8edce17644ac8c78e25d d24dedbb29ebf1b64a274b39b49c3a86
             4cd3d78ca4ae68a32b42458fb57dbe82 1dcc63b9d0937ba2945f669368661a32 9fb4c053`,
  },
];

function params(c: DraftCase): EspSaParams {
  return {
    spi: parseInt(c.spi, 16), encrId: EncrId.AES_GCM_16, encrKeyBits: c.keyBits, integId: IntegId.NONE,
    encrKey: hex(c.key), integKey: new Uint8Array(0), esn: c.seq.length === 16,
  };
}

/** The sequence number before the case's, as (high, low): where the window top / counter must sit. */
function previous(c: DraftCase): [number, number] {
  const prev = BigInt(`0x${c.seq}`) - 1n;
  return [Number(prev >> 32n), Number(prev & 0xffff_ffffn)];
}

function expectedInner(c: DraftCase): Uint8Array {
  const p = hex(c.plaintext);
  return p.subarray(0, p.length - 2 - c.pad);
}

describe('draft-mcgrew-gcm-test-01 full ESP packets', () => {
  it('covers 128/192/256-bit keys with 32-bit and 64-bit sequence numbers', () => {
    expect(new Set(CASES.map((c) => c.keyBits))).toEqual(new Set([128, 192, 256]));
    expect(CASES.filter((c) => c.seq.length === 8).length).toBe(5);
    expect(CASES.filter((c) => c.seq.length === 16).length).toBe(9);
  });

  for (const c of CASES) {
    it(`page ${c.page}: openEsp yields the plaintext`, () => {
      const sa = new InboundEspSa(params(c));
      const [hi, lo] = previous(c);
      sa.replay.setTopForTest(hi, lo); // ESN: the window must sit just below the case's number
      const pkt = hex(c.packet);
      const out = new Uint8Array(2048);
      const r = openEsp(sa, pkt, 0, pkt.length, out);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.nextHeader).toBe(1); // every draft case carries Next Header 1
      expect(toHex(out.subarray(r.offset, r.offset + r.length))).toBe(toHex(expectedInner(c)));
      expect(sa.counters.packets).toBe(1);
      // the window moved to the case's sequence number: a second copy is a replay
      expect(openEsp(sa, pkt, 0, pkt.length, out)).toEqual({ ok: false, reason: 'replay' });
    });

    it(`page ${c.page}: sealEsp with the same sequence number and IV produces the exact packet`, () => {
      const sa = new OutboundEspSa(params(c));
      const [hi, lo] = previous(c);
      sa.setSeqForTest(hi, lo);
      sa.setNextIvForTest(hex(c.iv));
      const inner = expectedInner(c);
      const out = new Uint8Array(2048).fill(0xee);
      const n = sealEsp(sa, inner, inner.length, 1, out, 5);
      expect(n).toBe(hex(c.packet).length);
      expect(toHex(out.subarray(5, 5 + n))).toBe(toHex(hex(c.packet)));
      expect(out[4]).toBe(0xee); // nothing written before outOffset
      expect(out[5 + n]).toBe(0xee); // nor after the packet
    });
  }

  it('opens in place (out === pkt): the inner packet replaces the ciphertext', () => {
    const c = CASES[2]!;
    const sa = new InboundEspSa(params(c));
    const pkt = concat(new Uint8Array(3), hex(c.packet));
    const r = openEsp(sa, pkt, 3, pkt.length - 3, pkt);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.offset).toBe(3 + 8 + 8);
    expect(toHex(pkt.subarray(r.offset, r.offset + r.length))).toBe(toHex(expectedInner(c)));
  });

  it('a wrong ESN guess fails authentication (RFC 4303 A2.2): the window stays put', () => {
    const c = CASES[4]!; // page 10: seq 0x10101010_10101010 seen by a fresh window → inferred high 0
    const sa = new InboundEspSa(params(c));
    const pkt = hex(c.packet);
    expect(openEsp(sa, pkt, 0, pkt.length, new Uint8Array(256))).toEqual({ ok: false, reason: 'auth' });
    expect(sa.replay.topHigh).toBe(0);
    expect(sa.replay.topLow).toBe(0);
  });
});

describe('sequence-number IV (RFC 4106 §3.1) cross-checked with @noble/ciphers', () => {
  const variants = [
    { bits: 128, esn: false }, { bits: 192, esn: false }, { bits: 256, esn: false },
    { bits: 128, esn: true }, { bits: 256, esn: true },
  ] as const;
  for (const v of variants) {
    it(`AES-${v.bits}-GCM-16 ${v.esn ? 'with' : 'without'} ESN: IV = seq, AAD per RFC 4106 §5`, () => {
      const key = new Uint8Array(v.bits / 8 + 4).map((_, i) => (i * 37 + 11) & 0xff);
      const p: EspSaParams = {
        spi: 0xc0ffee01, encrId: EncrId.AES_GCM_16, encrKeyBits: v.bits, integId: IntegId.NONE,
        encrKey: key, integKey: new Uint8Array(0), esn: v.esn,
      };
      const sa = new OutboundEspSa(p);
      // start just below 2^32 so the ESN variant crosses into the next high value
      if (v.esn) sa.setSeqForTest(0, 0xffff_fffe);
      else sa.setSeqForTest(0, 41);
      for (let n = 0; n < 3; n++) {
        const inner = new Uint8Array(37 + n * 13).map((_, i) => (i * 7 + n) & 0xff);
        const out = new Uint8Array(256);
        const len = sealEsp(sa, inner, inner.length, 4, out, 0);
        const hi = sa.seqHigh;
        const lo = sa.seqLow;
        const pkt = out.subarray(0, len);
        const iv = pkt.subarray(8, 16);
        const dv = new DataView(iv.buffer, iv.byteOffset, 8);
        expect([dv.getUint32(0), dv.getUint32(4)]).toEqual([hi, lo]);
        const aad = new Uint8Array(v.esn ? 12 : 8);
        const av = new DataView(aad.buffer);
        av.setUint32(0, p.spi);
        if (v.esn) { av.setUint32(4, hi); av.setUint32(8, lo); } else av.setUint32(4, lo);
        const salt = key.subarray(v.bits / 8);
        const plain = gcm(key.subarray(0, v.bits / 8), concat(salt, iv), aad).decrypt(pkt.subarray(16));
        // RFC 4303 §2.4 trailer built independently: payload ‖ 1..n ‖ n ‖ next header, 4-aligned
        const padLen = (4 - ((inner.length + 2) % 4)) % 4;
        const expected = concat(inner, Uint8Array.from({ length: padLen }, (_, i) => i + 1), new Uint8Array([padLen, 4]));
        expect(toHex(plain)).toBe(toHex(expected));
      }
      if (v.esn) expect(sa.seqHigh).toBe(1);
    });
  }
});
