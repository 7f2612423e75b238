/**
 * Stateless responder cookies, RFC 7296 §2.6. The responder keeps no state for an initiator it
 * challenges; the cookie it hands out lets it recognise, statelessly, that a later IKE_SA_INIT
 * comes from someone who receives datagrams at the source address it claims:
 *
 *   Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)          (§2.6)
 *
 * Here VersionIDofSecret is 4 octets (a counter that starts at a random value, so cookies of a
 * restarted daemon do not name a secret of the new one) and Hash is SHA-256: 36 octets, within
 * the 1..64 octets §3.10.1 allows. IPi is the 4-octet IPv4 source address; the port is left out,
 * as strongSwan does (receiver.c cookie_build).
 *
 * Secrets (§2.6: "change the value of <secret> frequently"): a new one every
 * COOKIE_SECRET_LIFETIME_MS; the previous one still verifies for COOKIE_SECRET_GRACE_MS after
 * the end of its own lifetime, so a cookie issued just before a rotation stays good while the
 * initiator retransmits with it. An accepted cookie is therefore at most LIFETIME + GRACE old.
 * Rotation happens lazily when a cookie is issued or checked (sans-IO: the clock is `now`).
 * Verification recomputes the hash and compares in constant time.
 */
import { createHash } from 'node:crypto';
import { constantTimeEqual } from './crypto/psk-auth.js';

export const COOKIE_SECRET_LIFETIME_MS = 120_000;
export const COOKIE_SECRET_GRACE_MS = 60_000;
const VERSION_LENGTH = 4;
const SECRET_LENGTH = 32;
/** Version ID ‖ SHA-256. */
export const COOKIE_LENGTH = VERSION_LENGTH + 32;

interface CookieSecret {
  version: number;
  secret: Uint8Array;
  createdAt: number;
}

/** What a cookie is bound to (RFC 7296 §2.6): the initiator's nonce, address and SPI. */
export interface CookieInput {
  ni: Uint8Array;
  address: string;
  spiI: Uint8Array;
}

/** IPi as octets: the 4 octets of an IPv4 address; anything else (IPv6 text) as its UTF-8. */
export function addressOctets(address: string): Uint8Array {
  // A hand-written dotted-quad parser: this runs for every challenged datagram of a flood.
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= address.length; i++) {
    const c = i < address.length ? address.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57 && digits < 3) {
      value = value * 10 + (c - 48);
      digits++;
    } else if (c === 46 && digits > 0 && value <= 255 && part < 4) {
      out[part++] = value;
      value = 0;
      digits = 0;
    } else {
      return new Uint8Array(Buffer.from(address, 'utf8'));
    }
  }
  return part === 4 ? out : new Uint8Array(Buffer.from(address, 'utf8'));
}

/** The hash part of a cookie: SHA-256(Ni | IPi | SPIi | secret). Exported for known-answer tests. */
export function cookieHash(input: CookieInput, secret: Uint8Array): Uint8Array {
  const h = createHash('sha256');
  h.update(input.ni);
  h.update(addressOctets(input.address));
  h.update(input.spiI);
  h.update(secret);
  return new Uint8Array(h.digest());
}

export class CookieJar {
  private current: CookieSecret | null = null;
  private previous: CookieSecret | null = null;

  constructor(private readonly random: (n: number) => Uint8Array) {}

  /** The cookie for this initiator under the current secret (rotating it first when due). */
  issue(input: CookieInput, now: number): Uint8Array {
    const s = this.secretAt(now);
    const out = new Uint8Array(COOKIE_LENGTH);
    out[0] = (s.version >>> 24) & 0xff;
    out[1] = (s.version >>> 16) & 0xff;
    out[2] = (s.version >>> 8) & 0xff;
    out[3] = s.version & 0xff;
    out.set(cookieHash(input, s.secret), VERSION_LENGTH);
    return out;
  }

  /**
   * Whether `cookie` is one we issued to this initiator and its secret still verifies. Wrong
   * length, unknown or expired version, other nonce/address/SPI: false (never throws).
   */
  verify(cookie: Uint8Array, input: CookieInput, now: number): boolean {
    if (cookie.length !== COOKIE_LENGTH) return false;
    this.secretAt(now);
    const version = ((cookie[0]! << 24) | (cookie[1]! << 16) | (cookie[2]! << 8) | cookie[3]!) >>> 0;
    let s: CookieSecret | null = null;
    if (this.current && this.current.version === version) s = this.current;
    else if (this.previous && this.previous.version === version && now < this.previous.createdAt + COOKIE_SECRET_LIFETIME_MS + COOKIE_SECRET_GRACE_MS) {
      s = this.previous;
    }
    if (!s) return false;
    return constantTimeEqual(cookieHash(input, s.secret), cookie.subarray(VERSION_LENGTH));
  }

  /** The secret cookies are issued under at `now`; a new one once the current one has lived its lifetime. */
  private secretAt(now: number): CookieSecret {
    const cur = this.current;
    if (cur && now < cur.createdAt + COOKIE_SECRET_LIFETIME_MS) return cur;
    if (this.previous) this.previous.secret.fill(0);
    // The old secret stays for its grace period only if it ended recently (see the module comment).
    this.previous = cur && now < cur.createdAt + COOKIE_SECRET_LIFETIME_MS + COOKIE_SECRET_GRACE_MS ? cur : null;
    if (cur && !this.previous) cur.secret.fill(0);
    const r = this.random(VERSION_LENGTH);
    const version = cur ? (cur.version + 1) >>> 0 : ((r[0]! << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!) >>> 0;
    this.current = { version, secret: this.random(SECRET_LENGTH), createdAt: now };
    return this.current;
  }

  /** Forget both secrets (zeroed). */
  wipe(): void {
    this.current?.secret.fill(0);
    this.previous?.secret.fill(0);
    this.current = null;
    this.previous = null;
  }
}
