/**
 * What the log says about refusals: a peer (or a scanner such as ike-scan) offering only
 * transforms we do not implement is named by IANA names (ENCR_3DES, not ENCR_3_0) and logged as
 * a warning on both sides, never an error; a TS_UNACCEPTABLE answer carries the hint that the
 * peer may have failed to install the SA.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, initiatorTunnel, responderTunnel } from './harness.js';
import { encodeMessage } from '../../src/ike/codec/message.js';
import { ExchangeType, PayloadType, TransformType } from '../../src/ike/constants.js';
import type { Payload } from '../../src/ike/codec/types.js';
import { encrName, integName, keName, prfName } from '../../src/ike/iana-names.js';

const IKE = ['aes256gcm16-prfsha384-ecp256'];
const ESP = ['aes256gcm16'];

describe('IANA names', () => {
  it('for transforms we do not implement, with the key length when there is one', () => {
    expect([encrName(3), encrName(23, 256), encrName(99), encrName(99, 128)]).toEqual(['ENCR_3DES', 'ENCR_CAMELLIA_CBC_256', 'ENCR_99', 'ENCR_99_128']);
    expect([prfName(2), integName(2), keName(2), keName(32), keName(999)]).toEqual(['PRF_HMAC_SHA1', 'AUTH_HMAC_SHA1_96', 'MODP_1024', 'CURVE_448', 'KE_999']);
  });
});

describe('refusals in the log', () => {
  it('a legacy offer (3DES, SHA-1, MODP-1024): named by IANA names, a warning on both sides', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    net.filter = (p) => {
      if (p.to.address !== R) return 'deliver';
      const m = decodeOrFail(p.bytes);
      if (m.header.exchangeType !== ExchangeType.IKE_SA_INIT) return 'deliver';
      const payloads: Payload[] = m.payloads.map((x) => {
        if (x.type === PayloadType.SA) {
          return { ...x, proposals: [{ num: 1, protocol: 1, spi: new Uint8Array(0), transforms: [
            { type: TransformType.ENCR, id: 3 }, { type: TransformType.PRF, id: 2 }, { type: TransformType.INTEG, id: 2 }, { type: TransformType.DH, id: 2 }] }] };
        }
        if (x.type === PayloadType.KE) return { ...x, group: 2, data: new Uint8Array(128).fill(7) };
        return x;
      });
      return { ...p, bytes: encodeMessage(m.header, payloads) };
    };
    net.start(I);
    const refused = r.logs.find((l) => /NO_PROPOSAL_CHOSEN: 192\.0\.2\.1 offered/.test(l.msg));
    expect(refused?.msg).toContain('offered ENCR_3DES/PRF_HMAC_SHA1/AUTH_HMAC_SHA1_96/MODP_1024;');
    expect(refused?.level).toBe('warn');
    const told = i.logs.find((l) => /NO_PROPOSAL_CHOSEN: .* accepted none of our IKE proposals/.test(l.msg));
    expect(told?.level).toBe('warn');
    expect([...i.logs, ...r.logs].filter((l) => l.level === 'error')).toEqual([]);
    expect(r.logs.map((l) => l.msg).join('\n')).not.toMatch(/ENCR_\d+_\d+/);
  });

  it('TS_UNACCEPTABLE says the peer may also have failed to install the SA', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, localTs: ['198.51.100.0/24'] })]);
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP, remoteTs: ['172.16.0.0/12'] })]);
    net.start(I);
    const line = i.logs.find((l) => /TS_UNACCEPTABLE: the peer refused our traffic selectors/.test(l.msg));
    expect(line?.msg).toMatch(/a peer that failed to install the SA, e\.g\. strongSwan whose kernel interface refused it, may also answer TS_UNACCEPTABLE: check its log/);
  });
});
