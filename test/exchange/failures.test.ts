/**
 * The ways a handshake goes wrong, each ending in the state and log line it should: INVALID_KE,
 * COOKIE, lost and duplicated messages, unknown critical payloads, wrong PSK, no common proposal,
 * traffic selectors.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, logged, responderTunnel } from './harness.js';
import { encodeMessage } from '../../src/ike/codec/message.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';
import type { Payload } from '../../src/ike/codec/types.js';

const IKE = ['aes256gcm16-prfsha384-ecp256'];
const ESP = ['aes256gcm16'];
const exchangeOf = (b: Uint8Array) => decodeOrFail(b).header.exchangeType;

describe('failures and recoveries', () => {
  it('INVALID_KE_PAYLOAD: the initiator retries with the group the responder asks for', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: ['aes256gcm16-prfsha384-ecp256-curve25519'], esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: ['aes256gcm16-prfsha384-curve25519'], esp: ESP })]);
    net.start(I);
    expectEstablishedPair(net);
    expect(net.nodes.get(I)!.engine.status(net.now)[0]!.ike!.dh).toBe('CURVE_25519');
    expect(logged(r, /asking for group 31 \(INVALID_KE_PAYLOAD\)/)).toBe(true);
    expect(logged(i, /responder wants DH group 31/)).toBe(true);
  });

  it('COOKIE: the initiator repeats IKE_SA_INIT with the cookie first and the same nonce', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    const cookie = Uint8Array.from({ length: 20 }, (_, k) => k + 1);
    let challenged = false;
    net.filter = (p) => {
      if (!challenged && p.to.address === R) {
        challenged = true;
        const req = decodeOrFail(p.bytes);
        const bytes = encodeMessage(
          { ...req.header, spiR: new Uint8Array(8), initiator: false, response: true },
          [{ type: PayloadType.NOTIFY, protocol: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: cookie }],
        );
        net.queue.push({ from: p.to, to: p.from, natT: false, bytes });
        return 'drop';
      }
      return 'deliver';
    };
    net.start(I);
    expectEstablishedPair(net);
    const inits = net.wire.filter((p) => p.from.address === I && exchangeOf(p.bytes) === ExchangeType.IKE_SA_INIT).map((p) => decodeOrFail(p.bytes));
    expect(inits.length).toBe(2);
    const second = inits[1]!.payloads;
    expect(second[0]!.type === PayloadType.NOTIFY && second[0]!.notifyType === NotifyType.COOKIE && Buffer.from(second[0]!.data).equals(Buffer.from(cookie))).toBe(true);
    const nonce = (ps: Payload[]) => ps.find((x) => x.type === PayloadType.NONCE);
    expect(nonce(second)).toEqual(nonce(inits[0]!.payloads));
    expect(inits[1]!.header.spiI).toEqual(inits[0]!.header.spiI);
    expect(logged(i, /COOKIE/)).toBe(true);
  });

  it('a lost IKE_SA_INIT request is retransmitted byte for byte after the timeout', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    let dropped = 0;
    net.filter = (p) => (p.to.address === R && dropped++ === 0 ? 'drop' : 'deliver');
    net.start(I);
    expect(net.nodes.get(I)!.engine.status(net.now)[0]!.state).toBe('connecting');
    // Initiations retransmit every 2 s (RECONNECT_RETRANSMIT), the first one included.
    net.advance(1999);
    expect(net.wire.length).toBe(1);
    net.advance(1);
    expectEstablishedPair(net);
    expect(Buffer.from(net.wire[1]!.bytes).equals(Buffer.from(net.wire[0]!.bytes))).toBe(true);
  });

  it('a lost IKE_AUTH response: the retransmitted request gets the cached response, one SA only', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    let authResponses = 0;
    net.filter = (p) => (p.from.address === R && exchangeOf(p.bytes) === ExchangeType.IKE_AUTH && authResponses++ === 0 ? 'drop' : 'deliver');
    net.start(I);
    expect(net.nodes.get(I)!.engine.status(net.now)[0]!.state).toBe('connecting');
    net.advance(4000);
    expectEstablishedPair(net);
    const responses = net.wire.filter((p) => p.from.address === R && exchangeOf(p.bytes) === ExchangeType.IKE_AUTH);
    expect(responses.length).toBe(2);
    expect(Buffer.from(responses[0]!.bytes).equals(Buffer.from(responses[1]!.bytes))).toBe(true);
    expect(r.events.filter((e) => e.type === 'child-up').length).toBe(1);
  });

  it('duplicated requests create no second SA and get identical answers', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    net.filter = (p) => (p.to.address === R ? 'duplicate' : 'deliver');
    net.start(I);
    expectEstablishedPair(net);
    expect(r.engine.sas.size).toBe(1);
    const fromR = net.wire.filter((p) => p.from.address === R);
    expect(fromR.length).toBe(4);
    expect(Buffer.from(fromR[0]!.bytes).equals(Buffer.from(fromR[1]!.bytes))).toBe(true);
    expect(Buffer.from(fromR[2]!.bytes).equals(Buffer.from(fromR[3]!.bytes))).toBe(true);
  });

  it('the initiator gives up after its retransmit budget when nobody answers, then reconnects', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    net.start(I);
    net.advance(7_999);
    // 1 original + 3 retransmits at 2, 4 and 6 s: the short schedule every initiation uses, so
    // a tunnel comes up within 10 s of the peer becoming reachable (not strongSwan's 165 s one).
    expect(net.wire.length).toBe(4);
    expect(i.engine.status(net.now)[0]!.state).toBe('connecting');
    net.advance(200); // the budget ends at 8 s; the first reconnect waits at least 250 ms
    expect(net.wire.length).toBe(4);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(logged(i, /did not answer IKE_SA_INIT/)).toBe(true);
    // An initiating tunnel never stays down; it is initiated again with backoff.
    expect(i.events.some((e) => e.type === 'reconnect' && e.attempt === 1)).toBe(true);
  });

  it('an unknown critical payload is answered with UNSUPPORTED_CRITICAL_PAYLOAD; a non-critical one is skipped', () => {
    for (const critical of [true, false]) {
      const net = new Net();
      net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
      const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
      let injected = false;
      net.filter = (p) => {
        if (injected || p.to.address !== R) return 'deliver';
        injected = true;
        const m = decodeOrFail(p.bytes);
        const payloads: Payload[] = [...m.payloads, { type: 'unknown', rawType: 200, critical, data: Uint8Array.of(1, 2, 3) }];
        return { ...p, bytes: encodeMessage(m.header, payloads) };
      };
      net.start(I);
      const answer = decodeOrFail(net.wire.find((p) => p.from.address === R)!.bytes);
      const refused = answer.payloads.find((x) => x.type === PayloadType.NOTIFY && x.notifyType === NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD);
      if (critical) {
        expect(refused && refused.type === PayloadType.NOTIFY && [...refused.data]).toEqual([200]);
        expect(r.engine.sas.size).toBe(0);
        expect(logged(r, /unsupported critical payload 200/)).toBe(true);
      } else {
        expect(refused).toBeUndefined();
        expect(answer.payloads.some((x) => x.type === PayloadType.SA)).toBe(true);
      }
    }
  });

  it('wrong PSK: AUTHENTICATION_FAILED on both sides, nothing installed', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, psk: 'the-initiators-guess-xyz' })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
    net.start(I);
    expect(i.installed.size + r.installed.size).toBe(0);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.sas.size).toBe(0);
    expect(logged(r, /AUTHENTICATION_FAILED: .*did not prove the pre-shared key/)).toBe(true);
    expect(logged(i, /AUTHENTICATION_FAILED: 192\.0\.2\.2 rejected our authentication/)).toBe(true);
    for (const n of [i, r]) for (const l of n.logs) expect(l.msg).not.toContain('the-initiators-guess');
  });

  it('no common IKE proposal: NO_PROPOSAL_CHOSEN, and the log says what we offered', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: ['aes128-sha256-modp2048'], esp: ESP })]);
    const r = net.add(R, [responderTunnel({ ike: ['aes256gcm16-prfsha384-ecp384'], esp: ESP })]);
    net.start(I);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(logged(i, /NO_PROPOSAL_CHOSEN: .*we offered: AES_CBC_128\/PRF_HMAC_SHA2_256\/HMAC_SHA2_256_128\/MODP_2048/)).toBe(true);
    expect(logged(r, /NO_PROPOSAL_CHOSEN: 192\.0\.2\.1 offered AES_CBC_128/)).toBe(true);
  });

  it('no common ESP proposal: the Child SA fails with NO_PROPOSAL_CHOSEN and nothing is installed', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ['aes128gcm16'] })]);
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ['aes256gcm16'] })]);
    net.start(I);
    expect(i.installed.size + r.installed.size).toBe(0);
    expect(logged(i, /NO_PROPOSAL_CHOSEN for the Child SA.*we offered: AES_GCM_16_128/)).toBe(true);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
  });

  it('traffic selectors are narrowed by the responder; disjoint ones end in TS_UNACCEPTABLE', () => {
    const net = new Net();
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP, localTs: ['100.64.0.0/16'], remoteTs: ['172.16.0.0/12'] })]);
    net.start(I);
    const { ia } = expectEstablishedPair(net);
    expect(ia.localTs).toEqual(['172.16.0.0/12']);
    expect(ia.remoteTs).toEqual(['100.64.0.0/16']);

    const net2 = new Net();
    const i2 = net2.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, localTs: ['198.51.100.0/24'] })]);
    const r2 = net2.add(R, [responderTunnel({ ike: IKE, esp: ESP, remoteTs: ['172.16.0.0/12'] })]);
    net2.start(I);
    expect(i2.installed.size + r2.installed.size).toBe(0);
    expect(logged(r2, /TS_UNACCEPTABLE/)).toBe(true);
    expect(logged(i2, /TS_UNACCEPTABLE: the peer refused our traffic selectors/)).toBe(true);
  });
});
