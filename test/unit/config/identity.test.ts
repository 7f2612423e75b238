import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IdType } from '../../../src/ike/constants.js';
import {
  identityEquals, identityFromPayload, identityMatches, ipv4Identity, parseIdentity,
} from '../../../src/config/identity.js';

const ascii = (s: string) => [...Buffer.from(s, 'ascii')];

describe('parseIdentity', () => {
  it.each([
    ['192.0.2.10', IdType.ID_IPV4_ADDR, [192, 0, 2, 10]],
    ['fqdn:gw.example.net', IdType.ID_FQDN, ascii('gw.example.net')],
    ['email:ops@example.net', IdType.ID_RFC822_ADDR, ascii('ops@example.net')],
    ['keyid:0a1b2c', IdType.ID_KEY_ID, [0x0a, 0x1b, 0x2c]],
    ['branch1.example.net', IdType.ID_FQDN, ascii('branch1.example.net')],
    // strongSwan spellings, so ids copied from swanctl.conf keep their meaning
    ['@gw.example.net', IdType.ID_FQDN, ascii('gw.example.net')],
    ['user@example.net', IdType.ID_RFC822_ADDR, ascii('user@example.net')],
    ['@#ff00', IdType.ID_KEY_ID, [0xff, 0x00]],
  ])('%s', (text, idType, data) => {
    const r = parseIdentity(text, false);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.value!.idType).toBe(idType);
      expect([...r.value!.data]).toEqual(data);
      expect(r.value!.display).toBe(text);
    }
  });

  it('%any only where allowed', () => {
    expect(parseIdentity('%any', true)).toEqual({ ok: true, value: null });
    expect(parseIdentity('%any', false)).toEqual({ ok: false, error: expect.stringContaining('only valid for remoteId') });
  });

  it.each(['keyid:abc', 'keyid:zz', 'fqdn:', 'fqdn:a b', 'fdqn:gw.example', '2001:db8::1', 'email:'])('rejects %s', (text) => {
    expect(parseIdentity(text, true).ok).toBe(false);
  });
});

describe('identity helpers', () => {
  it('formats payload identities for logs in config spelling', () => {
    expect(identityFromPayload(IdType.ID_IPV4_ADDR, Uint8Array.of(20, 245, 111, 21))).toBe('20.245.111.21');
    expect(identityFromPayload(IdType.ID_FQDN, Uint8Array.from(ascii('gw.example')))).toBe('gw.example');
    expect(identityFromPayload(IdType.ID_FQDN, Uint8Array.from(ascii('1.2.3.4')))).toBe('fqdn:1.2.3.4');
    expect(identityFromPayload(IdType.ID_RFC822_ADDR, Uint8Array.from(ascii('a@b')))).toBe('email:a@b');
    expect(identityFromPayload(IdType.ID_KEY_ID, Uint8Array.of(1, 2))).toBe('keyid:0102');
    // peer-controlled bytes never reach a log line raw
    expect(identityFromPayload(IdType.ID_FQDN, Uint8Array.of(0x61, 0x0a, 0x1b))).toBe('a\\x0a\\x1b');
  });

  it('property: printable identities round-trip through identityFromPayload', () => {
    const printable = fc.stringMatching(/^[a-zA-Z0-9.@:%_-]{1,30}$/);
    const id = fc.oneof(
      printable.map((s) => ({ t: IdType.ID_FQDN, d: Uint8Array.from(ascii(s)) })),
      printable.map((s) => ({ t: IdType.ID_RFC822_ADDR, d: Uint8Array.from(ascii(s)) })),
      fc.uint8Array({ minLength: 1, maxLength: 20 }).map((d) => ({ t: IdType.ID_KEY_ID, d })),
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((d) => ({ t: IdType.ID_IPV4_ADDR, d })),
    );
    fc.assert(fc.property(id, ({ t, d }) => {
      const r = parseIdentity(identityFromPayload(t, d), false);
      expect(r.ok).toBe(true);
      if (r.ok) expect(identityEquals(r.value, { idType: t, data: d, display: '' })).toBe(true);
    }));
  });

  it('compares names case-insensitively, addresses and key ids byte-exactly', () => {
    const a = parseIdentity('fqdn:GW.Example.NET', false);
    const b = parseIdentity('gw.example.net', false);
    expect(a.ok && b.ok && identityEquals(a.value, b.value)).toBe(true);
    const k1 = parseIdentity('keyid:0A', false);
    const k2 = parseIdentity('keyid:0b', false);
    expect(k1.ok && k2.ok && identityEquals(k1.value, k2.value)).toBe(false);
    expect(identityEquals(ipv4Identity('192.0.2.1'), ipv4Identity('192.0.2.1'))).toBe(true);
    expect(identityEquals(ipv4Identity('192.0.2.1'), null)).toBe(false);
    expect(identityEquals(null, null)).toBe(true);
    expect(identityMatches(null, ipv4Identity('192.0.2.1'))).toBe(true);
    expect(identityMatches(ipv4Identity('192.0.2.2'), ipv4Identity('192.0.2.1'))).toBe(false);
  });
});
