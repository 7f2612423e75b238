import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatDuration, parseDuration } from '../../../src/config/duration.js';
import {
  bytesToIPv4, cidrToSelector, cidrToString, ipv4ToBytes, isIPv4, parseCidr, selectorToString,
} from '../../../src/config/cidr.js';
import { TsType } from '../../../src/ike/constants.js';

describe('parseDuration', () => {
  it.each([
    [30, 30], [0, 0], ['45', 45], ['30s', 30], ['5m', 300], ['8h', 28800], ['1d', 86400], [' 2H ', 7200],
  ])('%j → %d seconds', (input, want) => {
    expect(parseDuration(input)).toEqual({ ok: true, value: want });
  });

  it.each([['10x'], ['1h30m'], ['-5'], [-5], [1.5], ['h'], [''], [true], [null], [[1]]])('rejects %j', (input) => {
    const r = parseDuration(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/30s, 5m, 8h, 1d/);
  });

  it('round-trips through formatDuration', () => {
    fc.assert(fc.property(fc.nat({ max: 10 * 365 * 86400 }), (n) => {
      expect(parseDuration(formatDuration(n))).toEqual({ ok: true, value: n });
    }));
    expect(formatDuration(28800)).toBe('8h');
    expect(formatDuration(90)).toBe('90s');
  });
});

describe('IPv4 and CIDR', () => {
  it('accepts dotted quads only, without leading zeros', () => {
    expect(isIPv4('192.0.2.10')).toBe(true);
    expect(isIPv4('0.0.0.0')).toBe(true);
    expect(isIPv4('255.255.255.255')).toBe(true);
    for (const bad of ['256.0.0.1', '010.0.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4/32', '::1', '']) {
      expect(isIPv4(bad), bad).toBe(false);
    }
    expect([...ipv4ToBytes('198.51.100.7')!]).toEqual([198, 51, 100, 7]);
  });

  it('parses prefixes and bare addresses', () => {
    const r = parseCidr('10.0.0.0/8');
    expect(r.ok && [...r.value.address]).toEqual([10, 0, 0, 0]);
    expect(r.ok && r.value.prefix).toBe(8);
    const host = parseCidr('203.0.113.5');
    expect(host.ok && host.value.prefix).toBe(32);
    expect(parseCidr('0.0.0.0/0').ok).toBe(true);
  });

  it('explains bad prefixes', () => {
    const hostBits = parseCidr('40.96.0.1/13');
    expect(hostBits).toEqual({ ok: false, error: expect.stringContaining('did you mean 40.96.0.0/13?') });
    expect(parseCidr('10.0.0.0/33')).toEqual({ ok: false, error: expect.stringContaining('0..32') });
    expect(parseCidr('10.0.0/8')).toEqual({ ok: false, error: expect.stringContaining('not an IPv4 prefix') });
  });

  it('turns a prefix into an any-protocol, all-ports selector', () => {
    const r = parseCidr('13.107.6.152/31');
    if (!r.ok) throw new Error(r.error);
    const ts = cidrToSelector(r.value);
    expect(ts.tsType).toBe(TsType.TS_IPV4_ADDR_RANGE);
    expect([ts.ipProtocol, ts.startPort, ts.endPort]).toEqual([0, 0, 65535]);
    expect(bytesToIPv4(ts.startAddr)).toBe('13.107.6.152');
    expect(bytesToIPv4(ts.endAddr)).toBe('13.107.6.153');
    const any = cidrToSelector({ address: new Uint8Array(4), prefix: 0 });
    expect(bytesToIPv4(any.endAddr)).toBe('255.255.255.255');
  });

  it('prints selectors as prefixes, ranges, and with protocol/ports only when restricted', () => {
    const ts = cidrToSelector({ address: Uint8Array.of(10, 0, 0, 0), prefix: 8 });
    expect(selectorToString(ts)).toBe('10.0.0.0/8');
    expect(selectorToString({ ...ts, endAddr: Uint8Array.of(10, 0, 0, 9) })).toBe('10.0.0.0-10.0.0.9');
    expect(selectorToString({ ...ts, ipProtocol: 6, startPort: 443, endPort: 443 })).toBe('10.0.0.0/8[6/443]');
    expect(selectorToString({ ...ts, ipProtocol: 17 })).toBe('10.0.0.0/8[17]');
    expect(selectorToString({ ...ts, startPort: 1024 })).toBe('10.0.0.0/8[0/1024-65535]');
    const v6 = { ...ts, tsType: TsType.TS_IPV6_ADDR_RANGE, startAddr: new Uint8Array(16), endAddr: new Uint8Array(16).fill(255) };
    expect(selectorToString(v6)).toBe('::/0');
  });

  it('property: every prefix round-trips through selector and string', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }), (b, prefix) => {
      const ts = cidrToSelector({ address: b, prefix });
      const text = selectorToString(ts);
      const back = parseCidr(text);
      expect(back.ok).toBe(true);
      if (back.ok) {
        expect(back.value.prefix).toBe(prefix);
        expect(cidrToString(back.value)).toBe(text);
      }
    }));
  });
});
