/**
 * The responder cookie of RFC 7296 §2.6, <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>),
 * recomputed independently with @noble/hashes SHA-256 from the secret the jar drew from its
 * random source; and verify(): bound to each input, constant-length, never throwing.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sha256 } from '@noble/hashes/sha2.js';
import { COOKIE_LENGTH, CookieJar, addressOctets } from '../../../src/ike/cookie.js';
import { concat, toHex } from './hex.js';

/** A random source that records what it handed out (the jar's version seed and secret). */
function recording(): { random: (n: number) => Uint8Array; drawn: Uint8Array[] } {
  let x = 7;
  const drawn: Uint8Array[] = [];
  return {
    drawn,
    random: (n) => {
      const b = Uint8Array.from({ length: n }, () => (x = (x * 1103515245 + 12345) >>> 0) >>> 24);
      drawn.push(new Uint8Array(b));
      return b;
    },
  };
}

const input = { ni: Uint8Array.from({ length: 32 }, (_, k) => k), address: '198.51.100.7', spiI: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) };

describe('responder cookie (RFC 7296 §2.6)', () => {
  it('is version ‖ SHA-256(Ni | IPi | SPIi | secret), IPi being the 4 address octets', () => {
    const r = recording();
    const jar = new CookieJar(r.random);
    const cookie = jar.issue(input, 1000);
    const [version, secret] = r.drawn;
    expect(cookie).toHaveLength(COOKIE_LENGTH);
    expect(toHex(cookie.subarray(0, 4))).toBe(toHex(version!));
    const expected = sha256(concat(input.ni, Uint8Array.from([198, 51, 100, 7]), input.spiI, secret!));
    expect(toHex(cookie.subarray(4))).toBe(toHex(expected));
  });

  it('verifies for its own inputs only, and refuses any other length', () => {
    const jar = new CookieJar(recording().random);
    const cookie = jar.issue(input, 1000);
    expect(jar.verify(cookie, input, 1001)).toBe(true);
    expect(jar.verify(cookie, { ...input, address: '198.51.100.8' }, 1001)).toBe(false);
    expect(jar.verify(cookie, { ...input, spiI: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 9]) }, 1001)).toBe(false);
    expect(jar.verify(cookie, { ...input, ni: input.ni.subarray(1) }, 1001)).toBe(false);
    expect(jar.verify(cookie.subarray(0, 35), input, 1001)).toBe(false);
    expect(jar.verify(concat(cookie, Uint8Array.of(0)), input, 1001)).toBe(false);
  });

  it('property: verify() of arbitrary octets never throws and never accepts', () => {
    const jar = new CookieJar(recording().random);
    jar.issue(input, 0);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => jar.verify(b, input, 1) === false), { numRuns: 2000 });
  });

  it('IPi: dotted quads become 4 octets; anything else is taken as text', () => {
    expect(toHex(addressOctets('192.0.2.1'))).toBe('c0000201');
    expect(toHex(addressOctets('255.255.255.255'))).toBe('ffffffff');
    for (const a of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '1..2.3', '2001:db8::1']) {
      expect(toHex(addressOctets(a))).toBe(toHex(new Uint8Array(Buffer.from(a))));
    }
  });
});
