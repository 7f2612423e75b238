import { describe, expect, it } from 'vitest';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { DhId } from '../../../src/ike/constants.js';
import { createKeyExchange, supportedDhGroups } from '../../../src/ike/crypto/dh.js';
import { dhInfo } from '../../../src/ike/crypto/transforms.js';
import { DhPeerValueError } from '../../../src/ike/crypto/types.js';
import { concat, hex, toHex } from './hex.js';

describe('X25519 (group 31)', () => {
  // Source: RFC 7748 §6.1 (Alice/Bob), as carried in strongSwan
  // src/libstrongswan/plugins/test_vectors/test_vectors/curve25519.c (curve25519_1).
  const alicePriv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const alicePub = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
  const bobPriv = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const bobPub = 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f';
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';

  it('RFC 7748 §6.1: private keys give the public keys and the shared secret', () => {
    const a = createKeyExchange(DhId.CURVE_25519, { privateKey: alicePriv });
    const b = createKeyExchange(DhId.CURVE_25519, { privateKey: bobPriv });
    expect(toHex(a.publicValue)).toBe(alicePub);
    expect(toHex(b.publicValue)).toBe(bobPub);
    expect(toHex(a.computeShared(hex(bobPub)))).toBe(shared);
    expect(toHex(b.computeShared(hex(alicePub)))).toBe(shared);
  });

  it('RFC 8031 Appendix A vector', () => {
    // Source: RFC 8031 Appendix A, as carried in strongSwan test_vectors/curve25519.c (curve25519_2):
    // seed = initiator private ‖ responder private.
    const i = createKeyExchange(31, { privateKey: hex('751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d94') });
    const r = createKeyExchange(31, { privateKey: hex('0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688') });
    expect(toHex(i.publicValue)).toBe('48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766');
    expect(toHex(r.publicValue)).toBe('0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25');
    const z = 'c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950';
    expect(toHex(i.computeShared(r.publicValue))).toBe(z);
    expect(toHex(r.computeShared(i.publicValue))).toBe(z);
  });

  it('rejects low-order points that give an all-zero secret (RFC 7748 §6.1, RFC 8031 §2)', () => {
    const a = createKeyExchange(31, { privateKey: alicePriv });
    // u = 0 and u = 1 are points of small order: X25519 with them yields 32 zero octets.
    expect(() => a.computeShared(new Uint8Array(32))).toThrow(DhPeerValueError);
    expect(() => a.computeShared(concat(Uint8Array.of(1), new Uint8Array(31)))).toThrow(DhPeerValueError);
  });

  it('rejects a peer value that is not exactly 32 octets (RFC 8031 §2)', () => {
    const a = createKeyExchange(31);
    expect(() => a.computeShared(hex(bobPub).subarray(0, 31))).toThrow(DhPeerValueError);
    expect(() => a.computeShared(concat(hex(bobPub), new Uint8Array(1)))).toThrow(DhPeerValueError);
  });

  it('differential: agrees with @noble/curves x25519 on random keys', () => {
    for (let n = 0; n < 20; n++) {
      const ourPriv = x25519.utils.randomSecretKey();
      const theirPriv = x25519.utils.randomSecretKey();
      const ours = createKeyExchange(31, { privateKey: ourPriv });
      expect(toHex(ours.publicValue)).toBe(toHex(x25519.getPublicKey(ourPriv)));
      const theirPub = x25519.getPublicKey(theirPriv);
      expect(toHex(ours.computeShared(theirPub))).toBe(toHex(x25519.getSharedSecret(theirPriv, ours.publicValue)));
      // RFC 7748 §5: the receiver masks the top bit of u, so setting it must not change the result.
      const masked = new Uint8Array(theirPub);
      masked[31]! |= 0x80;
      expect(toHex(ours.computeShared(masked))).toBe(toHex(ours.computeShared(theirPub)));
      // A freshly generated key pair works the same way.
      const fresh = createKeyExchange(31);
      expect(toHex(fresh.computeShared(theirPub))).toBe(toHex(x25519.getSharedSecret(theirPriv, fresh.publicValue)));
    }
  });
});

interface EcpVector {
  group: number; i: string; gix: string; giy: string; r: string; grx: string; gry: string; girx: string;
}

// Source: RFC 5903 §8.1-§8.3 (the IKEv2 test vectors for groups 19, 20 and 21), transcribed from the
// RFC text as reproduced in several public test suites (the same values appear, byte for byte, in
// independent Perl, Rust and Go test files in the search index).
const ECP_VECTORS: EcpVector[] = [
  {
    group: 19,
    i: 'C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433',
    gix: 'DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180',
    giy: '5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3',
    r: 'C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53',
    grx: 'D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63',
    gry: '56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB',
    girx: 'D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE',
  },
  {
    group: 20,
    i: '099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655 E35B5380 41E649EE 3FAEF896 783AB194',
    gix: '667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6 DE3AC808 ACB4BDB4 C88732AE E95F41AA',
    giy: '9482ED1F C0EEB9CA FC498462 5CCFC23F 65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C',
    r: '41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942 E0308312 916B8ED2 960E4BD5 5A7448FC',
    grx: 'E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D 0D1AC43A 0336DEF9 6FDA41D0 774A3571',
    gry: 'DCFBEC7A ACF31964 72169E83 8430367F 66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C',
    girx: '11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4 D6031355 69B9E9D0 9CF5D4A2 70F59746',
  },
  {
    group: 21,
    i: `0037ADE9 319A89F4 DABDB3EF 411AACCC A5123C61 ACAB57B5 393DCE47 608172A0
        95AA85A3 0FE1C295 2C6771D9 37BA9777 F5957B26 39BAB072 462F68C2 7A57382D 4A52`,
    gix: `0015417E 84DBF28C 0AD3C278 713349DC 7DF153C8 97A1891B D98BAB43 57C9ECBE
          E1E3BF42 E00B8E38 0AEAE57C 2D107564 94188594 2AF5A7F4 601723C4 195D176C ED3E`,
    giy: `017CAE20 B6641D2E EB695786 D8C94614 6239D099 E18E1D5A 514C739D 7CB4A10A
          D8A78801 5AC405D7 799DC75E 7B7D5B6C F2261A6A 7F150743 8BF01BEB 6CA3926F 9582`,
    r: `0145BA99 A847AF43 793FDD0E 872E7CDF A16BE30F DC780F97 BCCC3F07 8380201E
        9C677D60 0B343757 A3BDBF2A 3163E4C2 F869CCA7 458AA4A4 EFFC311F 5CB15168 5EB9`,
    grx: `00D0B397 5AC4B799 F5BEA16D 5E13E9AF 971D5E9B 984C9F39 728B5E57 39735A21
          9B97C356 436ADC6E 95BB0352 F6BE64A6 C2912D4E F2D0433C ED2B6171 640012D9 460F`,
    gry: `015C6822 6383956E 3BD066E7 97B623C2 7CE0EAC2 F551A10C 2C724D98 52077B87
          220B6536 C5C408A1 D2AEBB8E 86D678AE 49CB5709 1F473229 6579AB44 FCD17F0F C56A`,
    girx: `01144C7D 79AE6956 BC8EDB8E 7C787C45 21CB086F A64407F9 7894E5E6 B2D79B04
           D1427E73 CA4BAA24 0A347868 59810C06 B3C715A3 A8CC3151 F2BEE417 996D19F3 DDEA`,
  },
];

describe('ECP groups 19/20/21 (RFC 5903)', () => {
  for (const v of ECP_VECTORS) {
    it(`RFC 5903 §8 vector for group ${v.group}: KE data x ‖ y without 0x04, g^ir = x only`, () => {
      const i = createKeyExchange(v.group, { privateKey: hex(v.i) });
      const r = createKeyExchange(v.group, { privateKey: hex(v.r) });
      expect(toHex(i.publicValue)).toBe(toHex(concat(hex(v.gix), hex(v.giy))));
      expect(toHex(r.publicValue)).toBe(toHex(concat(hex(v.grx), hex(v.gry))));
      expect(i.publicValue.length).toBe(dhInfo(v.group)?.publicBytes);
      expect(toHex(i.computeShared(r.publicValue))).toBe(toHex(hex(v.girx)));
      expect(toHex(r.computeShared(i.publicValue))).toBe(toHex(hex(v.girx)));
    });

    it(`group ${v.group}: rejects an off-curve point, a wrong length, x >= p and (0, 0)`, () => {
      const i = createKeyExchange(v.group, { privateKey: hex(v.i) });
      const good = concat(hex(v.grx), hex(v.gry));
      const bad = new Uint8Array(good);
      bad[bad.length - 1]! ^= 0x01; // same x, y off by one bit: not on the curve
      expect(() => i.computeShared(bad)).toThrow(DhPeerValueError);
      expect(() => i.computeShared(good.subarray(1))).toThrow(DhPeerValueError);
      expect(() => i.computeShared(concat(Uint8Array.of(0x04), good))).toThrow(DhPeerValueError);
      expect(() => i.computeShared(new Uint8Array(good.length))).toThrow(DhPeerValueError);
      const n = good.length / 2;
      const ff = concat(new Uint8Array(n).fill(0xff), good.subarray(n)); // x = 2^k - 1 >= p
      expect(() => i.computeShared(ff)).toThrow(DhPeerValueError);
    });
  }

  it('RFC 5903 §8.1 KEi payload: its Key Exchange Data is exactly our publicValue', () => {
    // Source: RFC 5903 §8.1 "KEi" (generic header, DH group 0x0013, reserved, then g^i x ‖ y).
    const kei = hex(`00000048 00130000 DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF
      945D0C37 72581180 5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3`);
    expect(toHex(kei.subarray(8))).toBe(toHex(createKeyExchange(19, { privateKey: hex(ECP_VECTORS[0]!.i) }).publicValue));
  });

  const nobleCurves = [[19, p256, 32], [20, p384, 48], [21, p521, 66]] as const;
  for (const [group, curve, n] of nobleCurves) {
    it(`differential: group ${group} agrees with @noble/curves on random keys`, () => {
      for (let k = 0; k < 10; k++) {
        const ourPriv = curve.utils.randomSecretKey();
        const theirPriv = curve.utils.randomSecretKey();
        const ours = createKeyExchange(group, { privateKey: ourPriv });
        expect(toHex(ours.publicValue)).toBe(toHex(curve.getPublicKey(ourPriv, false).subarray(1)));
        const theirPub = curve.getPublicKey(theirPriv, false).subarray(1);
        const expected = curve.getSharedSecret(theirPriv, concat(Uint8Array.of(4), ours.publicValue), false).subarray(1, 1 + n);
        expect(toHex(ours.computeShared(theirPub))).toBe(toHex(expected));
        const fresh = createKeyExchange(group);
        expect(fresh.publicValue.length).toBe(2 * n);
        const expectedFresh = curve.getSharedSecret(theirPriv, concat(Uint8Array.of(4), fresh.publicValue), false);
        expect(toHex(fresh.computeShared(theirPub))).toBe(toHex(expectedFresh.subarray(1, 1 + n)));
      }
    });
  }
});

describe('createKeyExchange', () => {
  it('supports exactly the registry groups and refuses others', () => {
    expect([...supportedDhGroups].sort((a, b) => a - b)).toEqual([14, 19, 20, 21, 24, 31]);
    for (const g of supportedDhGroups) {
      const ke = createKeyExchange(g);
      expect(ke.group).toBe(g);
      expect(ke.publicValue.length).toBe(dhInfo(g)?.publicBytes);
    }
    expect(() => createKeyExchange(2)).toThrow(RangeError);
    expect(() => createKeyExchange(0)).toThrow(RangeError);
  });
});

describe('KeyExchange.wipe', () => {
  for (const group of supportedDhGroups) {
    it(`group ${group}: after wipe() the exchange refuses to compute; the public value stays`, () => {
      const a = createKeyExchange(group);
      const b = createKeyExchange(group);
      const pub = toHex(a.publicValue);
      expect(toHex(a.computeShared(b.publicValue))).toBe(toHex(b.computeShared(a.publicValue)));
      a.wipe();
      a.wipe(); // idempotent
      expect(() => a.computeShared(b.publicValue)).toThrow(/wiped/);
      expect(toHex(a.publicValue)).toBe(pub);
    });
  }

  it('a caller-supplied private key is copied, not consumed or cleared by the exchange', () => {
    const priv = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
    const before = toHex(priv);
    const x = createKeyExchange(DhId.MODP_2048, { privateKey: priv });
    x.wipe();
    expect(toHex(priv)).toBe(before);
  });
});
