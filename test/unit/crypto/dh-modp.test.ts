import { createHash, getDiffieHellman } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bigIntToBytes, bytesToBigInt, createKeyExchange } from '../../../src/ike/crypto/dh.js';
import { MODP_2048_256_P, MODP_2048_P } from '../../../src/ike/crypto/dh-groups.js';
import { DhPeerValueError } from '../../../src/ike/crypto/types.js';
import { concat, hex, toHex } from './hex.js';

describe('MODP group 24 (RFC 5114 §2.3)', () => {
  // Source: RFC 5114 Appendix A.3 "2048-bit MODP Group with 256-bit Prime Order Subgroup" test data
  // (read from the RFC text; strongSwan test_vectors/modpsub.c modp2048_256 carries the same bytes).
  const xA = hex('0881382C DB87660C 6DC13E61 4938D5B9 C8B2F248 581CC5E3 1B354543 97FCE50E');
  const yA = hex(`2E9380C8 323AF975 45BC4941 DEB0EC37
    42C62FE0 ECE824A6 ABDBE66C 59BEE024 2911BFB9 67235CEB A35AE13E 4EC752BE 630B92DC 4BDE2847
    A9C62CB8 15274542 1FB7EB60 A63C0FE9 159FCCE7 26CE7CD8 523D7450 667EF840 E4919121 EB5F01C8
    C9B0D3D6 48A93BFB 75689E82 44AC134A F544711C E79A02DC C3422668 4780DDDC B4985941 06C37F5B
    C7985648 7AF5AB02 2A2E5E42 F09897C1 A85A11EA 0212AF04 D9B4CEBC 937C3C1A 3E15A8A0 342E3376
    15C84E7F E3B8B9B8 7FB1E73A 15AF12A3 0D746E06 DFC34F29 0D797CE5 1AA13AA7 85BF6658 AFF5E4B0
    93003CBE AF665B3C 2E113A3A 4E905269 341DC071 1426685F 4EF37E86 8A8126FF 3F2279B5 7CA67E29`);
  const xB = hex('7D62A7E3 EF36DE61 7B13D1AF B82C780D 83A23BD4 EE670564 5121F371 F546A53D');
  const yB = hex(`575F0351 BD2B1B81 7448BDF8 7A6C362C
    1E289D39 03A30B98 32C5741F A250363E 7ACBC7F7 7F3DACBC 1F131ADD 8E03367E FF8FBBB3 E1C57844
    24809B25 AFE4D226 2A1A6FD2 FAB64105 CA30A674 E07F7809 85208863 2FC04923 3791AD4E DD083A97
    8B883EE6 18BC5E0D D047415F 2D95E683 CF14826B 5FBE10D3 CE41C6C1 20C78AB2 0008C698 BF7F0BCA
    B9D7F407 BED0F43A FB2970F5 7F8D1204 3963E66D DD320D59 9AD9936C 8F44137C 08B180EC 5E985CEB
    E186F3D5 49677E80 607331EE 17AF3380 A725B078 2317D7DD 43F59D7A F9568A9B B63A84D3 65F92244
    ED120988 219302F4 2924C7CA 90B89D24 F71B0AB6 97823D7D EB1AFF5B 0E8E4A45 D49F7F53 757E1913`);
  const Z = hex(`86C70BF8 D0BB81BB 01078A17 219CB7D2
    7203DB2A 19C877F1 D1F19FD7 D77EF225 46A68F00 5AD52DC8 4553B78F C60330BE 51EA7C06 72CAC151
    5E4B35C0 47B9A551 B88F39DC 26DA14A0 9EF74774 D47C762D D177F9ED 5BC2F11E 52C879BD 95098504
    CD9EECD8 A8F9B3EF BD1F008A C5853097 D9D1837F 2B18F77C D7BE01AF 80A7C7B5 EA3CA54C C02D0C11
    6FEE3F95 BB873993 85875D7E 86747E67 6E728938 ACBFF709 8E05BE4D CFB24052 B83AEFFB 14783F02
    9ADBDE7F 53FAE920 84224090 E007CEE9 4D4BF2BA CE9FFD4B 57D2AF7C 724D0CAA 19BF0501 F6F17B4A
    A10F425E 3EA76080 B4B9D6B3 CEFEA115 B2CEB878 9BB8A3B0 EA87FEBE 63B6C8F8 46EC6DB0 C26C5D7C`);

  it('RFC 5114 A.3: xA gives yA, xB gives yB, both sides get Z', () => {
    expect([yA.length, yB.length, Z.length]).toEqual([256, 256, 256]);
    const a = createKeyExchange(24, { privateKey: xA });
    const b = createKeyExchange(24, { privateKey: xB });
    expect(toHex(a.publicValue)).toBe(toHex(yA));
    expect(toHex(b.publicValue)).toBe(toHex(yB));
    expect(toHex(a.computeShared(yB))).toBe(toHex(Z));
    expect(toHex(b.computeShared(yA))).toBe(toHex(Z));
  });

  it('RFC 6989 §2.2 peer checks: range and subgroup membership', () => {
    const a = createKeyExchange(24, { privateKey: xA });
    const p = MODP_2048_256_P;
    const reject = (y: bigint): void => {
      expect(() => a.computeShared(bigIntToBytes(y, 256))).toThrow(DhPeerValueError);
    };
    reject(0n);
    reject(1n);
    reject(p - 1n); // order 2
    reject(p);
    reject(p + 1n);
    reject(p - 2n); // in range, but not in the order-q subgroup
    reject(2n); // likewise: 2 generates a much larger subgroup than q
    reject(bytesToBigInt(yB) + 1n);
    expect(() => a.computeShared(yB.subarray(1))).toThrow(DhPeerValueError);
    expect(() => a.computeShared(concat(new Uint8Array(1), yB))).toThrow(DhPeerValueError);
  });

  it('fresh keys agree with each other and stay 256 octets', () => {
    for (let n = 0; n < 5; n++) {
      const a = createKeyExchange(24);
      const b = createKeyExchange(24);
      expect(a.publicValue.length).toBe(256);
      expect(toHex(a.computeShared(b.publicValue))).toBe(toHex(b.computeShared(a.publicValue)));
    }
  });
});

describe('MODP group 14 (RFC 3526 §3)', () => {
  it('our prime is the one node (OpenSSL) ships as modp14', () => {
    expect(bytesToBigInt(getDiffieHellman('modp14').getPrime())).toBe(MODP_2048_P);
    expect(getDiffieHellman('modp14').getGenerator()[0]).toBe(2);
  });

  it('RFC 6989 §2.1 peer checks: 1 < y < p-1 and exactly 256 octets', () => {
    const a = createKeyExchange(14);
    for (const y of [0n, 1n, MODP_2048_P - 1n, MODP_2048_P, (1n << 2048n) - 1n]) {
      expect(() => a.computeShared(bigIntToBytes(y, 256))).toThrow(DhPeerValueError);
    }
    expect(() => a.computeShared(new Uint8Array(255).fill(7))).toThrow(DhPeerValueError);
    expect(() => a.computeShared(new Uint8Array(257).fill(7))).toThrow(DhPeerValueError);
  });

  it('differential against node getDiffieHellman("modp14")', () => {
    for (let n = 0; n < 10; n++) {
      const ours = createKeyExchange(14);
      const node = getDiffieHellman('modp14');
      node.generateKeys();
      const nodePub = bigIntToBytes(bytesToBigInt(node.getPublicKey()), 256);
      const s = ours.computeShared(nodePub);
      expect(s.length).toBe(256);
      expect(bytesToBigInt(s)).toBe(bytesToBigInt(node.computeSecret(ours.publicValue)));
    }
  });

  it('left-pads the public value and the shared secret to 256 octets when they start with 0x00', () => {
    // Deterministic private keys sha256("a" + k); about 1 in 256 public values and secrets has a
    // leading zero octet, which an unpadded encoding would drop (RFC 7296 §3.4, §2.14).
    const priv = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());
    const b = createKeyExchange(14, { privateKey: priv('b') });
    let pubZero: Uint8Array | undefined;
    let sharedZero: Uint8Array | undefined;
    for (let k = 0; k < 5000 && (!pubZero || !sharedZero); k++) {
      const a = createKeyExchange(14, { privateKey: priv(`a${k}`) });
      expect(a.publicValue.length).toBe(256);
      if (a.publicValue[0] === 0) pubZero = a.publicValue;
      const s = a.computeShared(b.publicValue);
      expect(s.length).toBe(256);
      if (s[0] === 0 && !sharedZero) {
        sharedZero = s;
        expect(toHex(b.computeShared(a.publicValue))).toBe(toHex(s));
      }
    }
    expect(pubZero?.length).toBe(256);
    expect(sharedZero?.length).toBe(256);
  });
});
