/**
 * IKE identities (RFC 7296 §3.5) as written in the config, and back to text for logs.
 *
 * Spellings (contract.md): a bare IPv4 address → ID_IPV4_ADDR; fqdn:NAME → ID_FQDN;
 * email:ADDR → ID_RFC822_ADDR; keyid:HEX → ID_KEY_ID; "%any" (remoteId only) → null.
 * A bare string that is not an address follows strongSwan's identification_create_from_string,
 * so ids copied from a swanctl.conf mean the same thing here: "user@host" → ID_RFC822_ADDR,
 * "@name" → ID_FQDN "name", "@#hex" → ID_KEY_ID, anything else → ID_FQDN.
 */
import { IdType } from '../ike/constants.js';
import type { Identity } from './types.js';
import { bytesToIPv4, ipv4ToBytes, isIPv4 } from './cidr.js';
import { quoteInput, type ParseResult } from './duration.js';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const FORMS = 'use an IPv4 address, fqdn:NAME, email:ADDR or keyid:HEX';

function fromHex(hex: string, display: string): ParseResult<Identity> {
  const h = hex.replace(/^0x/i, '').replace(/:/g, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-f]+$/i.test(h)) {
    return { ok: false, error: `${quoteInput(display)}: keyid needs an even number of hex digits, e.g. keyid:0a1b2c` };
  }
  return { ok: true, value: { idType: IdType.ID_KEY_ID, data: new Uint8Array(Buffer.from(h, 'hex')), display } };
}

function text(idType: number, value: string, display: string, what: string): ParseResult<Identity> {
  if (value.length === 0 || /\s/.test(value)) {
    return { ok: false, error: `${quoteInput(display)}: ${what} must be non-empty and contain no spaces` };
  }
  return { ok: true, value: { idType, data: utf8(value), display } };
}

/**
 * Parse a localId/remoteId. allowAny: accept "%any" (→ null); only remoteId may, since we must
 * send some concrete identity ourselves.
 */
export function parseIdentity(s: string, allowAny: boolean): ParseResult<Identity | null> {
  if (s === '%any') {
    return allowAny ? { ok: true, value: null } : { ok: false, error: `"%any" is only valid for remoteId; ${FORMS}` };
  }
  const ip = ipv4ToBytes(s);
  if (ip) return { ok: true, value: { idType: IdType.ID_IPV4_ADDR, data: ip, display: s } };
  const typed = /^([a-z0-9]+):(.*)$/is.exec(s);
  if (typed) {
    const [, kind = '', rest = ''] = typed;
    switch (kind.toLowerCase()) {
      case 'fqdn':
        return text(IdType.ID_FQDN, rest, s, 'an FQDN');
      case 'email':
        return text(IdType.ID_RFC822_ADDR, rest, s, 'an email identity');
      case 'keyid':
        return fromHex(rest.replace(/^#/, ''), s);
      default:
        return { ok: false, error: `${quoteInput(s)}: unknown identity type "${kind}:"; ${FORMS}` };
    }
  }
  if (s.includes(':')) return { ok: false, error: `${quoteInput(s)} is not an identity (IPv6 ids are not supported); ${FORMS}` };
  if (s.startsWith('@#')) return fromHex(s.slice(2), s);
  if (s.startsWith('@@')) return text(IdType.ID_RFC822_ADDR, s.slice(2), s, 'an email identity');
  if (s.startsWith('@')) return text(IdType.ID_FQDN, s.slice(1), s, 'an FQDN');
  if (s.includes('@')) return text(IdType.ID_RFC822_ADDR, s, s, 'an email identity');
  return text(IdType.ID_FQDN, s, s, 'an identity');
}

/** The identity for an IPv4 address (the localId/remoteId defaults). */
export function ipv4Identity(address: string): Identity {
  const data = ipv4ToBytes(address);
  if (!data) throw new Error(`ipv4Identity: not an IPv4 address: ${address}`);
  return { idType: IdType.ID_IPV4_ADDR, data, display: address };
}

/** Peer-controlled bytes go into logs: escape anything that is not printable ASCII. */
function printable(data: Uint8Array): string {
  let out = '';
  for (const b of data) out += b >= 0x21 && b <= 0x7e && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * Text for logs and status, in the config spelling: for printable ids,
 * parseIdentity(identityFromPayload(t, d)) gives back the same type and bytes.
 */
export function identityFromPayload(idType: number, data: Uint8Array): string {
  const hex = Buffer.from(data).toString('hex');
  switch (idType) {
    case IdType.ID_IPV4_ADDR:
      return data.length === 4 ? bytesToIPv4(data) : `ipv4:(${data.length} octets)${hex}`;
    case IdType.ID_FQDN: {
      const name = printable(data);
      // A bare name would read back as another type if it looks like an address or an email.
      return isIPv4(name) || /[:@%]/.test(name) || name.length === 0 ? `fqdn:${name}` : name;
    }
    case IdType.ID_RFC822_ADDR:
      return `email:${printable(data)}`;
    case IdType.ID_KEY_ID:
      return `keyid:${hex}`;
    default:
      return `id${idType}:${hex}`;
  }
}

/**
 * Same identity. FQDN and email compare case-insensitively (DNS names and, in practice, mail
 * domains are; strongSwan's identification_t does the same). null ("%any") equals only null.
 */
export function identityEquals(a: Identity | null, b: Identity | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.idType !== b.idType || a.data.length !== b.data.length) return false;
  const fold = a.idType === IdType.ID_FQDN || a.idType === IdType.ID_RFC822_ADDR;
  for (let i = 0; i < a.data.length; i++) {
    let x = a.data[i]!;
    let y = b.data[i]!;
    if (fold) {
      if (x >= 0x41 && x <= 0x5a) x += 0x20;
      if (y >= 0x41 && y <= 0x5a) y += 0x20;
    }
    if (x !== y) return false;
  }
  return true;
}

/** Does the peer's identity satisfy the configured remoteId? null ("%any") accepts any. */
export function identityMatches(expected: Identity | null, received: Identity): boolean {
  return expected === null || identityEquals(expected, received);
}
