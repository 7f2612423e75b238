/**
 * Ephemeral key exchange for the KE payload (RFC 7296 §1.2, §3.4): MODP groups 14 and 24, NIST
 * ECP groups 19/20/21 (RFC 5903) and Curve25519 (RFC 8031). The exponentiations run in OpenSSL
 * through node:crypto; this module owns the IKE encodings and the peer-value checks of RFC 6989,
 * which OpenSSL does not (fully) do for us.
 */
import {
  createDiffieHellman,
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { DhId } from '../constants.js';
import { DhPeerValueError, type KeyExchange } from './types.js';
import { DH_GROUP_TABLE, ECP_CURVES, MODP_GROUPS, type EcpCurve, type ModpGroup } from './dh-groups.js';

/** Groups createKeyExchange accepts, in IANA order (Transform Type 4): the rows of DH_GROUP_TABLE. */
export const supportedDhGroups: readonly number[] = DH_GROUP_TABLE.map((g) => g.id);

export interface KeyExchangeOptions {
  /** Fixed private key (big-endian exponent/scalar, or the RFC 7748 32-octet scalar). Tests only. */
  privateKey?: Uint8Array;
}

export function createKeyExchange(group: number, opts: KeyExchangeOptions = {}): KeyExchange {
  const modp = MODP_GROUPS.get(group);
  if (modp) return modpExchange(group, modp, opts.privateKey);
  const curve = ECP_CURVES.get(group);
  if (curve) return ecpExchange(group, curve, opts.privateKey);
  if (group === DhId.CURVE_25519) return x25519Exchange(opts.privateKey);
  throw new RangeError(`unsupported DH group ${group}`);
}

// ---------------------------------------------------------------------------------------------
// helpers

export function bytesToBigInt(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

export function bigIntToBytes(v: bigint, length: number): Uint8Array {
  const h = v.toString(16);
  if (v < 0n || h.length > length * 2) throw new RangeError(`value does not fit in ${length} octets`);
  return new Uint8Array(Buffer.from(h.padStart(length * 2, '0'), 'hex'));
}

/**
 * Left-pads with zero octets. MODP public values and g^ir are "padded with zeros in the high-order
 * bits if necessary to make it the length of the modulus" (RFC 7296 §2.14, §3.4); dropping the
 * leading zeros breaks about one exchange in 256.
 */
export function leftPad(b: Uint8Array, length: number): Uint8Array {
  if (b.length > length) throw new RangeError(`${b.length} octets do not fit in ${length}`);
  if (b.length === length) return new Uint8Array(b);
  const out = new Uint8Array(length);
  out.set(b, length - b.length);
  return out;
}

/** Square-and-multiply on public values only (RFC 6989 checks); private operations stay in OpenSSL. */
export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// MODP (groups 14 and 24)

function modpPrivate(g: ModpGroup): Uint8Array {
  for (;;) {
    const x = randomBytes(g.privateBytes);
    const v = bytesToBigInt(x);
    const out = new Uint8Array(x);
    x.fill(0);
    // RFC 5114 §4: for group 24 the exponent lies in [1, q-1]; rejection sampling keeps it uniform.
    if (v > 1n && (g.q === undefined || v < g.q)) return out;
    out.fill(0);
  }
}

/** Thrown by computeShared after wipe(): a programming error, never the peer's fault. */
function wiped(group: number): Error {
  return new Error(`DH group ${group}: the key exchange was wiped`);
}

/** Copies node's result into our own array and clears node's Buffer (best effort, see KeyExchange.wipe). */
function takeSecret(secret: Buffer, length: number): Uint8Array {
  const out = leftPad(secret, length);
  secret.fill(0);
  return out;
}

function modpExchange(group: number, g: ModpGroup, fixed?: Uint8Array): KeyExchange {
  const priv = fixed ? new Uint8Array(fixed) : modpPrivate(g);
  const x = bytesToBigInt(priv);
  if (x < 1n || x >= g.p - 1n) throw new RangeError(`private key out of range for DH group ${group}`);
  const dh = createDiffieHellman(Buffer.from(bigIntToBytes(g.p, g.bytes)), Buffer.from(bigIntToBytes(g.g, g.bytes)));
  const privBuf = Buffer.from(priv);
  dh.setPrivateKey(privBuf);
  // OpenSSL holds its own copy now; ours are not needed.
  priv.fill(0);
  privBuf.fill(0);
  // With a private key set, generateKeys() only computes g^x (it keeps the key we gave it).
  dh.generateKeys();
  const publicValue = leftPad(dh.getPublicKey(), g.bytes);
  let live = true;
  return {
    group,
    publicValue,
    wipe() {
      if (!live) return;
      live = false;
      dh.setPrivateKey(Buffer.alloc(g.bytes));
    },
    computeShared(peer: Uint8Array): Uint8Array {
      if (!live) throw wiped(group);
      // RFC 7296 §3.4: the KE data of a MODP group is exactly the length of the prime.
      if (peer.length !== g.bytes) throw new DhPeerValueError(group, `length ${peer.length}, expected ${g.bytes}`);
      const y = bytesToBigInt(peer);
      // RFC 6989 §2.1/§2.2: 1 < y < p-1 rejects 0, 1 and p-1 (orders 1 and 2) and out-of-range values.
      if (y <= 1n || y >= g.p - 1n) throw new DhPeerValueError(group, 'not in the range 1 < y < p-1');
      // RFC 6989 §2.2: for groups with a small subgroup, also y^q = 1 mod p, i.e. y lies in the
      // order-q subgroup, so a small-subgroup element cannot leak bits of our exponent.
      if (g.q !== undefined && modPow(y, g.q, g.p) !== 1n) {
        throw new DhPeerValueError(group, 'not in the prime-order subgroup (y^q != 1 mod p)');
      }
      let secret: Buffer;
      try {
        secret = dh.computeSecret(Buffer.from(peer));
      } catch (e) {
        throw new DhPeerValueError(group, (e as Error).message);
      }
      return takeSecret(secret, g.bytes);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ECP (groups 19, 20, 21)

/** RFC 6989 §2.3: the peer's (x, y) must satisfy y^2 = x^3 - 3x + b (mod p), with x, y < p. */
function onCurve(c: EcpCurve, x: bigint, y: bigint): boolean {
  if (x >= c.p || y >= c.p) return false;
  const lhs = (y * y) % c.p;
  const rhs = (((x * x) % c.p) * x - 3n * x + c.b) % c.p;
  return lhs === (rhs + c.p) % c.p;
}

function ecpExchange(group: number, c: EcpCurve, fixed?: Uint8Array): KeyExchange {
  const ecdh = createECDH(c.openssl);
  if (fixed) ecdh.setPrivateKey(Buffer.from(fixed));
  else ecdh.generateKeys();
  // node returns the SEC 1 uncompressed point 0x04 ‖ x ‖ y with both coordinates full width;
  // RFC 5903 §7 sends x ‖ y without the 0x04 octet.
  const sec1 = ecdh.getPublicKey();
  const publicValue = new Uint8Array(sec1.subarray(1));
  let live = true;
  return {
    group,
    publicValue,
    wipe() {
      if (!live) return;
      live = false;
      // The scalar 1 is the only overwrite node's setPrivateKey accepts that is no secret.
      const one = Buffer.alloc(c.coordBytes);
      one[one.length - 1] = 1;
      ecdh.setPrivateKey(one);
    },
    computeShared(peer: Uint8Array): Uint8Array {
      if (!live) throw wiped(group);
      const n = c.coordBytes;
      if (peer.length !== 2 * n) throw new DhPeerValueError(group, `length ${peer.length}, expected ${2 * n}`);
      const x = bytesToBigInt(peer.subarray(0, n));
      const y = bytesToBigInt(peer.subarray(n));
      // The point at infinity has no x ‖ y encoding (RFC 6989 §2.3), and (0, 0) fails this check.
      if (!onCurve(c, x, y)) throw new DhPeerValueError(group, 'point is not on the curve');
      let secret: Buffer;
      try {
        secret = ecdh.computeSecret(Buffer.concat([Buffer.of(0x04), peer]));
      } catch (e) {
        throw new DhPeerValueError(group, (e as Error).message);
      }
      // RFC 5903 §7: g^ir is the x-coordinate of the shared point, full width.
      return takeSecret(secret, n);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Curve25519 (group 31)

/** PKCS #8 wrapper for a raw X25519 private key (RFC 8410 §7): node's JWK import also wants x. */
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function x25519Exchange(fixed?: Uint8Array): KeyExchange {
  const group = DhId.CURVE_25519;
  let privateKey: KeyObject | null;
  let publicKey: KeyObject;
  if (fixed) {
    if (fixed.length !== 32) throw new RangeError('X25519 private key must be 32 octets');
    privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, fixed]), format: 'der', type: 'pkcs8' });
    publicKey = createPublicKey(privateKey);
  } else {
    ({ privateKey, publicKey } = generateKeyPairSync('x25519'));
  }
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('X25519 public key export failed');
  // RFC 8031 §2: the KE data is the 32-octet little-endian u-coordinate, as RFC 7748 encodes it.
  const publicValue = new Uint8Array(Buffer.from(jwk.x, 'base64url'));
  return {
    group,
    publicValue,
    wipe() {
      privateKey = null;
    },
    computeShared(peer: Uint8Array): Uint8Array {
      if (!privateKey) throw wiped(group);
      // RFC 8031 §2: "Recipients MUST check that the length is exactly 32 octets".
      if (peer.length !== 32) throw new DhPeerValueError(group, `length ${peer.length}, expected 32`);
      let secret: Buffer;
      try {
        const peerKey = createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peer).toString('base64url') },
          format: 'jwk',
        });
        secret = diffieHellman({ privateKey, publicKey: peerKey });
      } catch (e) {
        // OpenSSL itself refuses an all-zero X25519 output and reports a derivation failure.
        throw new DhPeerValueError(group, (e as Error).message);
      }
      // RFC 8031 §2 / RFC 7748 §6.1: reject the all-zero value that low-order points produce.
      // OR-reduce rather than early-exit, so the check does not depend on where a non-zero octet is.
      let acc = 0;
      for (const b of secret) acc |= b;
      if (acc === 0 || secret.length !== 32) throw new DhPeerValueError(group, 'all-zero shared secret');
      return takeSecret(secret, 32);
    },
  };
}
