/**
 * Known-answer decoding of real IKEv2 messages captured from a third-party implementation.
 *
 * Source: Wireshark's test capture `test/captures/ikev2-decrypt-aes128ccm12.pcap`, whose frames
 * are embedded as Ethernet frames in scapy's `test/contrib/ikev2.uts` ("packets taken from
 * https://github.com/wireshark/wireshark/blob/master/test/captures/ikev2-decrypt-aes128ccm12.pcap",
 * tests "Dissect Initiator Request", "Dissect Responder Response", "Dissect Encrypted Inititor
 * Request", "Dissect Encrypted Responder Response"). The hex below is the UDP payload (IKE message)
 * of each frame; the transcription was checked by recomputing the frames' IPv4 header and UDP
 * checksums, which all verify. The same SPIs appear in Wireshark's ikev2_decryption_table.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ExchangeType, NotifyType, PayloadType, ProtocolId, TransformType } from '../../../src/ike/constants.js';
import { decodeMessage, encodeMessage, findNotifies, findNotify, findPayload } from '../../../src/ike/codec/message.js';
import { verifyPayload } from '../../../src/ike/codec/payload-chain.js';
import { DecodeError, type IkeMessage } from '../../../src/ike/codec/types.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** IKE_SA_INIT request, 192.168.1.2 → 192.168.1.14, 248 octets. */
const WS_CCM12_INIT_REQUEST = hex(`
  ea684d21597afd36 0000000000000000 21202208 00000000 000000f8
  22000028 00000024 01010003 0300000c 0100000f 800e0080 03000008 02000005 00000008 04000013
  28000048 00130000
  32c6dffe5c43b0d5811f7eaaa84c9f78bf99b9069c2b072e0b82f46bf6f66dd4
  5f97ef89ee285fd5df527a44776b529fc9d8a909d842a6fb59b96a0953956172
  29000024 b655462d6f4b66f872ccd7f0f4b4857732921339cbaa5237edba244f262b6823
  2900001c 00004004 949c9db5739d75a974a49c184618369b34b7f942
  2900001c 00004005 3e721b46be07d53111425d7f80d2c6e220c6072e
  00000010 0000402f 0001000200030004`);

/** IKE_SA_INIT response, 240 octets. */
const WS_CCM12_INIT_RESPONSE = hex(`
  ea684d21597afd36 d9fe2ab22dac23ac 21202220 00000000 000000f0
  22000028 00000024 01010003 0300000c 0100000f 800e0080 03000008 02000005 00000008 04000013
  28000048 00130000
  2c66beadb6ce8535d6218cb401aa5a1eb4035b97caddaf36374a979c0446b880
  0506bf9d6f950952326bf3011913da93bb8e40f815376be1a06801c0a63e3b54
  29000024 9e5d267379e681e7d38d81c710d383401de7e3607b926d90a9958adcb52831aa
  2900001c 00004004 7a0785273d59203829a697550f31cbb94eb72b43
  2900001c 00004005 c3e58a8cc9933ce0b78f2a50e8de80134e12ce31
  00000008 00004014`);

/** INFORMATIONAL request (SK, inner first payload DELETE), message ID 2, 61 octets. */
const WS_CCM12_INFO_REQUEST = hex(`
  ea684d21597afd36 d9fe2ab22dac23ac 2e202508 00000002 0000003d
  2a000021 cca0b35de5abc51c9987cbf1f5ecff210eb767cdb85179383b964d78e2`);

/** INFORMATIONAL response (SK, empty inner chain), 53 octets. */
const WS_CCM12_INFO_RESPONSE = hex(`
  ea684d21597afd36 d9fe2ab22dac23ac 2e202520 00000002 00000035
  00000019 a80c957bac15c3f8afdf315a81cc4b7c40e8660d44`);

function decode(bytes: Uint8Array): IkeMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw r.error;
  return r.value;
}

/** Re-encoding the decoded message must give back the exact foreign octets. */
function reencode(m: IkeMessage): Uint8Array {
  const { length: _l, nextPayload: _n, ...fields } = m.header;
  return encodeMessage(fields, m.payloads);
}

describe('KAT: Wireshark ikev2-decrypt-aes128ccm12.pcap (via scapy test/contrib/ikev2.uts)', () => {
  it('IKE_SA_INIT request', () => {
    const m = decode(WS_CCM12_INIT_REQUEST);
    expect(toHex(m.header.spiI)).toBe('ea684d21597afd36');
    expect(toHex(m.header.spiR)).toBe('0000000000000000');
    expect(m.header).toMatchObject({
      exchangeType: ExchangeType.IKE_SA_INIT, initiator: true, response: false, messageId: 0, length: 248,
    });
    expect(m.payloads.map((p) => p.type)).toEqual([
      PayloadType.SA, PayloadType.KE, PayloadType.NONCE, PayloadType.NOTIFY, PayloadType.NOTIFY, PayloadType.NOTIFY,
    ]);

    const sa = findPayload(m.payloads, PayloadType.SA);
    expect(sa?.proposals).toEqual([
      {
        num: 1,
        protocol: ProtocolId.IKE,
        spi: new Uint8Array(0),
        transforms: [
          { type: TransformType.ENCR, id: 15 /* ENCR_AES_CCM_12 */, keyLength: 128 },
          { type: TransformType.PRF, id: 5 /* PRF_HMAC_SHA2_256 */ },
          { type: TransformType.DH, id: 19 /* ECP-256 */ },
        ],
      },
    ]);

    const ke = findPayload(m.payloads, PayloadType.KE);
    expect(ke?.group).toBe(19);
    expect(ke?.data.length).toBe(64); // ECP-256 x ‖ y (RFC 5903 §7)
    expect(findPayload(m.payloads, PayloadType.NONCE)?.data.length).toBe(32);

    expect(findNotifies(m.payloads).map((n) => n.notifyType)).toEqual([
      NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.SIGNATURE_HASH_ALGORITHMS,
    ]);
    const natSrc = findNotify(m.payloads, NotifyType.NAT_DETECTION_SOURCE_IP);
    expect(natSrc?.protocol).toBe(0);
    expect(natSrc?.spi.length).toBe(0);
    expect(toHex(natSrc?.data ?? new Uint8Array())).toBe('949c9db5739d75a974a49c184618369b34b7f942');
    expect(toHex(findNotify(m.payloads, NotifyType.SIGNATURE_HASH_ALGORITHMS)?.data ?? new Uint8Array())).toBe(
      '0001000200030004',
    );
    for (const p of m.payloads) expect(verifyPayload(p)).toBeNull();
    expect(m.payloads.every((p) => p.critical === false)).toBe(true);
    expect(reencode(m)).toEqual(WS_CCM12_INIT_REQUEST);
  });

  it('IKE_SA_INIT response', () => {
    const m = decode(WS_CCM12_INIT_RESPONSE);
    expect(toHex(m.header.spiI)).toBe('ea684d21597afd36');
    expect(toHex(m.header.spiR)).toBe('d9fe2ab22dac23ac');
    expect(m.header).toMatchObject({ exchangeType: 34, initiator: false, response: true, messageId: 0, length: 240 });
    const sa = findPayload(m.payloads, PayloadType.SA);
    expect(sa?.proposals.length).toBe(1);
    expect(sa?.proposals[0]?.transforms.map((t) => [t.type, t.id, t.keyLength])).toEqual([
      [1, 15, 128], [2, 5, undefined], [4, 19, undefined],
    ]);
    expect(findPayload(m.payloads, PayloadType.KE)?.group).toBe(19);
    expect(findPayload(m.payloads, PayloadType.NONCE)?.data.length).toBe(32);
    expect(findNotifies(m.payloads).map((n) => n.notifyType)).toEqual([
      NotifyType.NAT_DETECTION_SOURCE_IP, NotifyType.NAT_DETECTION_DESTINATION_IP, NotifyType.MULTIPLE_AUTH_SUPPORTED,
    ]);
    expect(findNotify(m.payloads, NotifyType.MULTIPLE_AUTH_SUPPORTED)?.data.length).toBe(0);
    expect(findNotify(m.payloads, NotifyType.COOKIE)).toBeUndefined();
    expect(reencode(m)).toEqual(WS_CCM12_INIT_RESPONSE);
  });

  it('protected INFORMATIONAL request/response: SK outer form', () => {
    const req = decode(WS_CCM12_INFO_REQUEST);
    expect(req.header).toMatchObject({ exchangeType: ExchangeType.INFORMATIONAL, initiator: true, messageId: 2, length: 61 });
    expect(req.payloads.length).toBe(1);
    const sk = findPayload(req.payloads, PayloadType.SK);
    expect(sk?.innerNext).toBe(PayloadType.DELETE);
    expect(sk?.body.length).toBe(29); // IV 8 ‖ ciphertext 9 ‖ ICV 12 (AES-CCM-12)
    expect(reencode(req)).toEqual(WS_CCM12_INFO_REQUEST);

    const resp = decode(WS_CCM12_INFO_RESPONSE);
    expect(resp.header).toMatchObject({ response: true, initiator: false, messageId: 2 });
    const sk2 = findPayload(resp.payloads, PayloadType.SK);
    expect(sk2?.innerNext).toBe(0);
    expect(sk2?.body.length).toBe(21); // IV 8 ‖ pad length 1 ‖ ICV 12: empty INFORMATIONAL
    expect(reencode(resp)).toEqual(WS_CCM12_INFO_RESPONSE);
  });

  it('mutations of the real messages decode to ok or a DecodeError, never throw', () => {
    const seeds = [WS_CCM12_INIT_REQUEST, WS_CCM12_INIT_RESPONSE, WS_CCM12_INFO_REQUEST, WS_CCM12_INFO_RESPONSE];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds), fc.nat(), fc.integer({ min: 0, max: 0xffff }), fc.nat(), fc.boolean(),
        (seed, at, value, cut, fixLength) => {
          const b = seed.slice(0, Math.max(28, seed.length - (cut % 8)));
          const i = at % (b.length - 1);
          b[i] = value >> 8;
          b[i + 1] = value & 0xff;
          if (fixLength) new DataView(b.buffer).setUint32(24, b.length);
          const r = decodeMessage(b);
          if (!r.ok) expect(r.error).toBeInstanceOf(DecodeError);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
