/**
 * Two engines, one process, fake clock: IKE_SA_INIT + IKE_AUTH for every row of GSA's default
 * table (docs/gsa-reference.md §2.2), and the NAT-T variants.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, logged, responderTunnel } from './harness.js';
import { GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2 } from '../../src/config/profiles.js';
import { NotifyType, PayloadType } from '../../src/ike/constants.js';

// Expected status names per GSA row, written out from gsa.md §2.2/§2.4 (not derived from the parser).
const P1_EXPECT: Record<string, { encr: string; prf: string; integ: string | null; dh: string }> = {
  'aes256gcm16-prfsha384-modp2048s256': { encr: 'AES_GCM_16_256', prf: 'PRF_HMAC_SHA2_384', integ: null, dh: 'MODP_2048_256' },
  'aes128gcm16-prfsha256-modp2048s256': { encr: 'AES_GCM_16_128', prf: 'PRF_HMAC_SHA2_256', integ: null, dh: 'MODP_2048_256' },
  'aes256-sha384-modp2048s256': { encr: 'AES_CBC_256', prf: 'PRF_HMAC_SHA2_384', integ: 'HMAC_SHA2_384_192', dh: 'MODP_2048_256' },
  'aes128-sha256-modp2048s256': { encr: 'AES_CBC_128', prf: 'PRF_HMAC_SHA2_256', integ: 'HMAC_SHA2_256_128', dh: 'MODP_2048_256' },
  'aes256gcm16-prfsha384-modp2048': { encr: 'AES_GCM_16_256', prf: 'PRF_HMAC_SHA2_384', integ: null, dh: 'MODP_2048' },
  'aes128gcm16-prfsha256-modp2048': { encr: 'AES_GCM_16_128', prf: 'PRF_HMAC_SHA2_256', integ: null, dh: 'MODP_2048' },
  'aes256-sha384-modp2048': { encr: 'AES_CBC_256', prf: 'PRF_HMAC_SHA2_384', integ: 'HMAC_SHA2_384_192', dh: 'MODP_2048' },
  'aes128-sha256-modp2048': { encr: 'AES_CBC_128', prf: 'PRF_HMAC_SHA2_256', integ: 'HMAC_SHA2_256_128', dh: 'MODP_2048' },
};
const P2_EXPECT: Record<string, string> = { aes256gcm16: 'AES_GCM_16_256', aes192gcm16: 'AES_GCM_16_192', aes128gcm16: 'AES_GCM_16_128' };

const phase1 = GSA_DEFAULT_PHASE1.map((r) => r.proposal);
const phase2 = GSA_DEFAULT_PHASE2.map((r) => r.proposal);

describe('gsa-default: every phase-1 × phase-2 combination', () => {
  it('the profile table has the 8 + 3 rows of GSA default policy', () => {
    expect(phase1.map((p) => p.replace(/-noesn$/, ''))).toEqual(Object.keys(P1_EXPECT));
    expect(phase2.map((p) => p.replace(/-noesn$/, ''))).toEqual(Object.keys(P2_EXPECT));
  });

  for (const p1 of Object.keys(P1_EXPECT)) {
    for (const p2 of Object.keys(P2_EXPECT)) {
      it(`CPE with profile gsa-default ↔ endpoint with only ${p1} / ${p2}`, () => {
        const net = new Net();
        net.add(I, [initiatorTunnel({ profile: 'gsa-default' })]);
        const r = net.add(R, [responderTunnel({ ike: [p1], esp: [p2] })]);
        net.start(I);
        const { ia } = expectEstablishedPair(net);
        const st = net.nodes.get(I)!.engine.status(net.now)[0]!;
        const want = P1_EXPECT[p1]!;
        expect({ encr: st.ike!.encr, prf: st.ike!.prf, integ: st.ike!.integ, dh: st.ike!.dh }).toEqual(want);
        expect(ia.encr).toBe(P2_EXPECT[p2]);
        expect(ia.integ).toBeNull();
        expect(ia.esn).toBe(false);
        // The profile's first KE is group 24; a group-14-only endpoint must have asked for 14.
        const inits = net.wire.filter((p) => p.from.address === I && decodeOrFail(p.bytes).header.exchangeType === 34);
        if (want.dh === 'MODP_2048') {
          expect(inits.length).toBe(2);
          expect(logged(r, /INVALID_KE_PAYLOAD/)).toBe(true);
          const ke = decodeOrFail(inits[1]!.bytes).payloads.find((x) => x.type === PayloadType.KE);
          expect(ke && ke.type === PayloadType.KE && ke.group).toBe(14);
        } else {
          expect(inits.length).toBe(1);
        }
      });
    }
  }
});

describe('NAT traversal', () => {
  it('natT: force floats to 4500 without a NAT and both sides encapsulate', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ natT: 'force', ike: ['aes256gcm16-prfsha384-ecp256'], esp: ['aes256gcm16'] })]);
    net.add(R, [responderTunnel({ ike: ['aes256gcm16-prfsha384-ecp256'], esp: ['aes256gcm16'] })]);
    net.start(I);
    const { ia, ib } = expectEstablishedPair(net);
    expect(ia.encap && ib.encap).toBe(true);
    const auth = net.wire.filter((p) => decodeOrFail(p.bytes).header.exchangeType === 35);
    expect(auth.length).toBe(2);
    for (const p of auth) expect([p.natT, p.from.port, p.to.port]).toEqual([true, 4500, 4500]);
    // The responder saw the forced (fake) source hash and reports a NAT, and it followed the
    // initiator's float: both ends of its SA are on 4500 now.
    const rs = net.nodes.get(R)!.engine.status(net.now)[0]!;
    expect(rs.natDetected).toBe(true);
    expect([rs.local, rs.remote]).toEqual([{ address: R, port: 4500 }, { address: I, port: 4500 }]);
  });

  it('a NAT rewriting the initiator address is detected on both sides', () => {
    const net = new Net();
    const PUBLIC = '203.0.113.7';
    net.add(I, [initiatorTunnel({ ike: ['aes128gcm16-prfsha256-curve25519'], esp: ['aes128gcm16'] })]);
    net.add(R, [responderTunnel({ ike: ['aes128gcm16-prfsha256-curve25519'], esp: ['aes128gcm16'] })]);
    // Emulate a NAPT: the initiator's source becomes PUBLIC:(port+10000), replies are mapped back.
    net.filter = (p) => {
      if (p.from.address === I) return { ...p, from: { address: PUBLIC, port: p.from.port + 10000 } };
      if (p.to.address === PUBLIC) return { ...p, to: { address: I, port: p.to.port - 10000 } };
      return 'deliver';
    };
    net.start(I);
    const { ia, ib } = expectEstablishedPair(net);
    expect(ia.encap && ib.encap).toBe(true);
    expect(net.nodes.get(I)!.engine.status(net.now)[0]!.natDetected).toBe(true);
    const rs = net.nodes.get(R)!.engine.status(net.now)[0]!;
    expect(rs.natDetected).toBe(true);
    expect(rs.remote).toEqual({ address: PUBLIC, port: 14500 });
  });

  it('a UDP-only datapath (udpEncapsulationOnly) makes a NAT-less peer encapsulate too', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: ['aes256gcm16-prfsha384-ecp256'], esp: ['aes256gcm16'] })], { udpEncapsulationOnly: true });
    net.add(R, [responderTunnel({ ike: ['aes256gcm16-prfsha384-ecp256'], esp: ['aes256gcm16'] })]);
    net.start(I);
    const { ia, ib } = expectEstablishedPair(net);
    expect(ia.encap && ib.encap).toBe(true);
    expect(net.nodes.get(R)!.engine.status(net.now)[0]!.remote).toEqual({ address: I, port: 4500 });
  });

  it('without a NAT the SA stays on port 500 and ESP is not encapsulated', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: ['aes256gcm16-prfsha384-ecp384'], esp: ['aes256gcm16'] })]);
    net.add(R, [responderTunnel({ ike: ['aes256gcm16-prfsha384-ecp384'], esp: ['aes256gcm16'] })]);
    net.start(I);
    const { ia } = expectEstablishedPair(net);
    expect(ia.encap).toBe(false);
    expect(net.wire.every((p) => !p.natT && p.from.port === 500)).toBe(true);
    const first = decodeOrFail(net.wire[0]!.bytes);
    const natd = first.payloads.filter((p) => p.type === PayloadType.NOTIFY && (p.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP || p.notifyType === NotifyType.NAT_DETECTION_DESTINATION_IP));
    expect(natd.length).toBe(2);
  });
});
