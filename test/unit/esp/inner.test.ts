/**
 * Inner IPv4 parsing and the RFC 4301 §5.2 inbound selector check. The packets are the inner
 * packets of draft-mcgrew-gcm-test-01 (page 8 TCP SYN, page 7 UDP/DNS, page 9 ICMP echo, each cut
 * at its IP Total Length, i.e. without the ESP trailer); the expected fields are read off their
 * RFC 791 headers by hand.
 */
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import type { TrafficSelector } from '../../../src/ike/codec/types.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { ipv4Info, matchesSelectors, newIpv4Info, parseIpv4 } from '../../../src/esp/inner.js';
import { openEsp } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import { hex } from '../crypto/hex.js';

const TCP_SYN = hex('4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b401010402');
const UDP_DNS = hex(`4500003e698f000080114dccc0a80102 c0a801010a980035002a2343b2d00100 00010000000000000373697009637962
                     65726369747902646b0000010001`);
const ICMP_ECHO = hex(`4500003c99c500008001cb7a40679318 010101010800075c0200440061626364 65666768696a6b6c6d6e6f7071727374
                       757677616263646566676869`);

function ts(start: string, end: string, proto = 0, startPort = 0, endPort = 0xffff, tsType = 7): TrafficSelector {
  const a = (s: string): Uint8Array => new Uint8Array(s.split('.').map(Number));
  return { tsType, ipProtocol: proto, startPort, endPort, startAddr: a(start), endAddr: a(end) };
}

describe('ipv4Info', () => {
  it('TCP SYN: addresses, protocol, ports', () => {
    const i = ipv4Info(TCP_SYN, 0, TCP_SYN.length);
    expect(i).toMatchObject({
      version: 4, headerLength: 20, totalLength: 48, protocol: 6,
      src: 0xc0a80102, dst: 0x9389155e, srcPort: 0x0a9e, dstPort: 139, fragmentOffset: 0, moreFragments: false,
    });
  });

  it('UDP (DNS query) and ICMP (echo request: type 8, code 0 in the port fields)', () => {
    expect(UDP_DNS.length).toBe(62);
    expect(ipv4Info(UDP_DNS, 0, UDP_DNS.length)).toMatchObject({ protocol: 17, srcPort: 0x0a98, dstPort: 53, totalLength: 62 });
    expect(ICMP_ECHO.length).toBe(60);
    expect(ipv4Info(ICMP_ECHO, 0, ICMP_ECHO.length)).toMatchObject({
      protocol: 1, src: 0x40679318, dst: 0x01010101, srcPort: 0x0800, dstPort: 0x0800, totalLength: 60,
    });
  });

  it('drops what is not well-formed IPv4; IPv6 inner packets are out of scope', () => {
    const v6 = new Uint8Array(60);
    v6[0] = 0x60;
    expect(ipv4Info(v6, 0, v6.length)).toBeNull();
    for (let len = 0; len < TCP_SYN.length; len++) expect(ipv4Info(TCP_SYN, 0, len)).toBeNull(); // Total Length 48 > len
    const ihl4 = Uint8Array.from(TCP_SYN);
    ihl4[0] = 0x44;
    expect(ipv4Info(ihl4, 0, ihl4.length)).toBeNull();
    expect(ipv4Info(TCP_SYN, 1, TCP_SYN.length)).toBeNull(); // past the buffer
  });

  it('non-first fragments have no ports (RFC 4301 §4.4.1.3: OPAQUE)', () => {
    const frag = Uint8Array.from(TCP_SYN);
    frag[6] = 0x20; // MF
    frag[7] = 0x03; // offset 3 × 8 octets
    expect(ipv4Info(frag, 0, frag.length)).toMatchObject({ fragmentOffset: 24, moreFragments: true, srcPort: -1, dstPort: -1 });
  });

  it('parseIpv4 fills a caller-owned record (hot path form)', () => {
    const info = newIpv4Info();
    expect(parseIpv4(UDP_DNS, 0, UDP_DNS.length, info)).toBe(true);
    expect(parseIpv4(TCP_SYN, 0, TCP_SYN.length, info)).toBe(true);
    expect(info.protocol).toBe(6);
  });
});

describe('matchesSelectors (RFC 4301 §5.2, RFC 7296 §3.13.1)', () => {
  const syn = ipv4Info(TCP_SYN, 0, TCP_SYN.length)!;

  it('address ranges on both sides, any protocol and port', () => {
    expect(matchesSelectors(syn, [ts('192.168.1.0', '192.168.1.255')], [ts('147.137.0.0', '147.137.255.255')])).toBe(true);
    expect(matchesSelectors(syn, [ts('192.168.2.0', '192.168.2.255')], [ts('0.0.0.0', '255.255.255.255')])).toBe(false);
    expect(matchesSelectors(syn, [ts('0.0.0.0', '255.255.255.255')], [ts('147.137.21.95', '147.137.21.255')])).toBe(false);
    // one of several selectors is enough on each side
    expect(matchesSelectors(syn, [ts('10.0.0.0', '10.255.255.255'), ts('192.168.1.2', '192.168.1.2')], [ts('147.137.21.94', '147.137.21.94')])).toBe(true);
  });

  it('protocol and port ranges', () => {
    const any = ts('0.0.0.0', '255.255.255.255');
    expect(matchesSelectors(syn, [any], [ts('0.0.0.0', '255.255.255.255', 6, 139, 139)])).toBe(true);
    expect(matchesSelectors(syn, [any], [ts('0.0.0.0', '255.255.255.255', 6, 140, 445)])).toBe(false);
    expect(matchesSelectors(syn, [any], [ts('0.0.0.0', '255.255.255.255', 17)])).toBe(false);
    expect(matchesSelectors(syn, [ts('0.0.0.0', '255.255.255.255', 6, 0x0a9e, 0x0a9e)], [any])).toBe(true);
    expect(matchesSelectors(syn, [ts('0.0.0.0', '255.255.255.255', 0, 0xffff, 0)], [any])).toBe(false); // OPAQUE
  });

  it('IPv6 selectors (TS type 8) never match an IPv4 packet; empty lists match nothing', () => {
    const v6: TrafficSelector = {
      tsType: 8, ipProtocol: 0, startPort: 0, endPort: 0xffff, startAddr: new Uint8Array(16), endAddr: new Uint8Array(16).fill(0xff),
    };
    expect(matchesSelectors(syn, [v6], [v6])).toBe(false);
    expect(matchesSelectors(syn, [], [ts('0.0.0.0', '255.255.255.255')])).toBe(false);
  });

  it('inbound policy: a decrypted packet outside the SA selectors is counted as a policy drop', () => {
    const p = {
      spi: 0x0000_5555, encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: IntegId.NONE,
      encrKey: new Uint8Array(20).fill(1), integKey: new Uint8Array(0), esn: false,
    };
    const local = [ts('147.137.0.0', '147.137.255.255')];
    const remote = [ts('10.0.0.0', '10.255.255.255')]; // the SYN comes from 192.168.1.2: not allowed
    const tx = new OutboundEspSa(p);
    const rx = new InboundEspSa(p);
    const wire = new Uint8Array(128);
    const n = sealEsp(tx, TCP_SYN, TCP_SYN.length, 4, wire, 0);
    const out = new Uint8Array(128);
    const r = openEsp(rx, wire, 0, n, out);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const info = newIpv4Info();
    const allowed = parseIpv4(out, r.offset, r.length, info) && matchesSelectors(info, remote, local);
    if (!allowed) rx.counters.policyDrops += 1;
    expect(allowed).toBe(false);
    expect(rx.counters.policyDrops).toBe(1);
  });
});
