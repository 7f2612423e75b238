/**
 * IKE fragmentation (RFC 7383): negotiated with IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT,
 * protected messages larger than fragmentSize go out as SKF fragments that fit it, the receiver
 * reassembles them; a retransmit re-sends every fragment.
 */
import { describe, expect, it } from 'vitest';
import { I, R, decodeOrFail } from './harness.js';
import { dropFirst, events, exchangeOf, expectAgree, isCreateChild, pair, rekey } from './lifecycle.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';
import { REKEY_GRACE_MS } from '../../src/ike/child-sa.js';

// Many ESP proposals and a MODP-2048 KE make the CREATE_CHILD_SA request well over 576 octets.
const ESP_MANY = ['aes128gcm16', 'aes256gcm16', 'aes192gcm16', 'aes128-sha256', 'aes256-sha384', 'aes256-sha512', 'aes128-sha512'];
const BIG = { esp: ESP_MANY, pfs: 'modp2048', fragmentSize: 576 };
const IP_UDP = 28;

const offersFragmentation = (bytes: Uint8Array) =>
  decodeOrFail(bytes).payloads.some((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.IKEV2_FRAGMENTATION_SUPPORTED);

describe('IKE fragmentation', () => {
  it('is negotiated in IKE_SA_INIT when both sides allow it', () => {
    const { net } = pair();
    const inits = net.wire.filter((p) => decodeOrFail(p.bytes).header.exchangeType === ExchangeType.IKE_SA_INIT);
    expect(inits.map((p) => offersFragmentation(p.bytes))).toEqual([true, true]);
    const off = pair({ r: { fragmentation: 'off' } });
    const inits2 = off.net.wire.filter((p) => decodeOrFail(p.bytes).header.exchangeType === ExchangeType.IKE_SA_INIT);
    expect(inits2.map((p) => offersFragmentation(p.bytes))).toEqual([true, false]);
  });

  it('a CREATE_CHILD_SA larger than fragmentSize goes as SKF fragments, reassembled by the peer', () => {
    const { net, i } = pair({ i: BIG, r: BIG });
    rekey(net, i);
    net.advance(REKEY_GRACE_MS);
    const req = net.wire.filter((p) => isCreateChild(p, I, false));
    expect(req.length).toBeGreaterThan(1);
    for (const p of req) {
      expect(exchangeOf(p).skf).toBe(true);
      expect(p.bytes.length + IP_UDP).toBeLessThanOrEqual(576);
    }
    // The response (one proposal) fits and goes whole.
    const resp = net.wire.filter((p) => isCreateChild(p, R, true));
    expect(resp.length).toBe(1);
    expect(exchangeOf(resp[0]!).skf).toBe(false);
    expect(events(i, 'child-rekeyed').length).toBe(1);
    expectAgree(net, 1);
  });

  it('a lost fragment: the whole message is retransmitted and reassembled once', () => {
    const { net, i, r } = pair({ i: BIG, r: BIG });
    dropFirst(net, (p) => isCreateChild(p, I, false) && exchangeOf(p).skf);
    rekey(net, i);
    net.advance(5000);
    expect(events(r, 'child-rekeyed').length).toBe(1);
    expectAgree(net, 1);
  });

  it('without the peer\'s support the same message goes unfragmented', () => {
    const { net, i } = pair({ i: BIG, r: { ...BIG, fragmentation: 'off' } });
    rekey(net, i);
    net.advance(REKEY_GRACE_MS);
    const req = net.wire.filter((p) => isCreateChild(p, I, false));
    expect(req.length).toBe(1);
    expect(exchangeOf(req[0]!).skf).toBe(false);
    expect(req[0]!.bytes.length + IP_UDP).toBeGreaterThan(576);
    expectAgree(net, 1);
  });
});
