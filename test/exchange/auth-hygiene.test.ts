/**
 * Authentication hygiene, between engines: identities are enforced even with the
 * right PSK, RFC 6989 peer-value checks and the nonce sizes of RFC 7296 §2.10/§3.9 hold in every
 * exchange that carries them (CREATE_CHILD_SA with PFS and the IKE rekey, requests and
 * responses), and nothing is installed when they fail. Hostile protected messages are built
 * with the peer SA's own keys, as a peer that misbehaves would.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, initiatorTunnel, logged, responderTunnel, seeded, type Node } from './harness.js';
import { count, events, expectAgree, ikeSa, isCreateChild, pair, rekey } from './lifecycle.js';
import { encodeMessage, openMessage } from '../../src/ike/codec/message.js';
import type { Payload, Proposal, Transform } from '../../src/ike/codec/types.js';
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../../src/ike/constants.js';
import { rekeyTemplates } from '../../src/ike/child-sa.js';
import { notify } from '../../src/ike/tasks/notify.js';
import type { IkeSa } from '../../src/ike/sa.js';
import { spiBytes } from '../../src/ike/spi.js';
import { createKeyExchange } from '../../src/ike/crypto/dh.js';
import { arrivalFrom, initRequest } from './init-request.js';

const ESP = ['aes128gcm16'];

/** One transform of each type: what a responder puts in its chosen proposal. */
function chosen(transforms: Transform[]): Transform[] {
  return transforms.filter((t, k) => transforms.findIndex((u) => u.type === t.type) === k);
}

/** A protected message from `sa` (a request, or the response to `messageId`), as its peer gets it. */
function protectedFrom(sa: IkeSa, payloads: Payload[], response: boolean, messageId: number): Uint8Array {
  return encodeMessage(sa.header(ExchangeType.CREATE_CHILD_SA, response, messageId), payloads, sa.cipherOut!);
}

/** Hand `bytes` from `from` to `to`, and return the payloads of `to`'s answer, opened with `from`'s keys. */
function deliver(net: Net, from: Node, to: Node, bytes: Uint8Array): Payload[] | null {
  const sa = ikeSa(from);
  const actions = to.engine.onDatagram(bytes, { from: { ...sa.local }, to: { ...sa.remote }, natT: sa.natT }, net.now);
  net.perform(to, actions.filter((a) => a.kind !== 'send'));
  const answer = actions.find((a) => a.kind === 'send');
  if (!answer || answer.kind !== 'send') return null;
  const m = decodeOrFail(answer.bytes);
  const opened = openMessage(answer.bytes, m, sa.cipherIn!);
  if (!opened.ok) throw new Error('answer did not open');
  return opened.value;
}

const notifyTypes = (ps: Payload[] | null) => (ps ?? []).flatMap((p) => (p.type === PayloadType.NOTIFY ? [p.notifyType] : []));

/** Invalid public values per group (RFC 6989 §2.1/§2.3, RFC 7748 §6.1). */
const BAD_KE = [
  { ike: 'aes128gcm16-prfsha256-ecp256', group: 19, what: 'a point off the curve', value: new Uint8Array(64).fill(1) },
  { ike: 'aes128gcm16-prfsha256-modp2048', group: 14, what: 'y = 1', value: Uint8Array.from({ length: 256 }, (_, k) => (k === 255 ? 1 : 0)) },
  { ike: 'aes128gcm16-prfsha256-curve25519', group: 31, what: 'the all-zero (low order) u', value: new Uint8Array(32) },
];

function childRekeyRequest(sa: IkeSa, ke: { group: number; value: Uint8Array } | null, nonce: Uint8Array): Payload[] {
  const old = sa.children[0]!;
  const templates = rekeyTemplates(sa.tunnel, sa.suite!.dhId);
  const proposals: Proposal[] = templates.map((t, k) => ({ num: k + 1, protocol: ProtocolId.ESP, spi: spiBytes(0x1000 + k), transforms: t.transforms }));
  return [
    notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, spiBytes(old.info.spiIn)),
    { type: PayloadType.SA, proposals },
    { type: PayloadType.NONCE, data: nonce },
    ...(ke ? [{ type: PayloadType.KE, group: ke.group, data: ke.value } as Payload] : []),
    { type: PayloadType.TSi, selectors: old.localTs },
    { type: PayloadType.TSr, selectors: old.remoteTs },
  ];
}

function ikeRekeyRequest(sa: IkeSa, ke: { group: number; value: Uint8Array }, nonce: Uint8Array): Payload[] {
  return [
    { type: PayloadType.SA, proposals: sa.tunnel.ikeProposals.map((t, k) => ({ num: k + 1, protocol: ProtocolId.IKE, spi: seeded(77)(8), transforms: t.transforms })) },
    { type: PayloadType.NONCE, data: nonce },
    { type: PayloadType.KE, group: ke.group, data: ke.value },
  ];
}

describe('identities are enforced even with the right PSK', () => {
  const IKE = ['aes128gcm16-prfsha256-ecp256'];

  it('a responder tunnel with remoteId refuses an IKE_AUTH whose IDi differs: AUTHENTICATION_FAILED, nothing installed', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, localId: 'fqdn:branch.example.net' })], { random: seeded(1) });
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP, remoteId: 'fqdn:gsa.example.net' })], { random: seeded(2) });
    net.start(I);
    expect(count(i, 'install-child') + count(r, 'install-child')).toBe(0);
    expect(logged(r, /AUTHENTICATION_FAILED: no tunnel accepts peer identity fqdn:branch\.example\.net/)).toBe(true);
    expect(logged(i, /AUTHENTICATION_FAILED: .* rejected our authentication/)).toBe(true);
    expect(r.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.halfOpenCount).toBe(0);
    // The same pair with the identity the responder expects does come up (same PSK).
    const ok = new Net();
    ok.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, localId: 'fqdn:gsa.example.net' })], { random: seeded(1) });
    ok.add(R, [responderTunnel({ ike: IKE, esp: ESP, remoteId: 'fqdn:gsa.example.net' })], { random: seeded(2) });
    ok.start(I);
    expectAgree(ok, 1);
  });

  it('an initiator refuses a responder whose IDr is not its remoteId, though the PSK is right: nothing installed', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP, remoteId: 'fqdn:gw.example.net' })], { random: seeded(1) });
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP, localId: 'fqdn:impostor.example.net' })], { random: seeded(2) });
    net.start(I);
    expect(logged(i, /AUTHENTICATION_FAILED: responder identified as fqdn:impostor\.example\.net, expected fqdn:gw\.example\.net/)).toBe(true);
    expect(count(i, 'install-child')).toBe(0);
    expect(i.engine.status(net.now)[0]!.state).not.toBe('established');
  });
});

describe('RFC 6989 peer-value checks on every KE', () => {
  for (const b of BAD_KE) {
    it(`group ${b.group}, ${b.what}: a Child SA rekey request with PFS is refused (INVALID_SYNTAX), nothing installed`, () => {
      const { net, i, r } = pair({ i: { ike: [b.ike], pfs: 'same' }, r: { ike: [b.ike], pfs: 'same' } });
      const sa = ikeSa(i);
      const bytes = protectedFrom(sa, childRekeyRequest(sa, { group: b.group, value: b.value }, seeded(5)(32)), false, sa.nextRequestId++);
      expect(notifyTypes(deliver(net, i, r, bytes))).toEqual([NotifyType.INVALID_SYNTAX]);
      expect(count(r, 'install-child')).toBe(1);
      expect(logged(r, /rejecting CREATE_CHILD_SA: invalid peer public value/)).toBe(true);
    });

    it(`group ${b.group}, ${b.what}: an IKE SA rekey request is refused (INVALID_SYNTAX), no new IKE SA`, () => {
      const { net, i, r } = pair({ i: { ike: [b.ike] }, r: { ike: [b.ike] } });
      const sa = ikeSa(i);
      const before = r.engine.sas.size;
      const bytes = protectedFrom(sa, ikeRekeyRequest(sa, { group: b.group, value: b.value }, seeded(5)(32)), false, sa.nextRequestId++);
      expect(notifyTypes(deliver(net, i, r, bytes))).toEqual([NotifyType.INVALID_SYNTAX]);
      expect(r.engine.sas.size).toBe(before);
      expect(events(r, 'ike-rekeyed')).toHaveLength(0);
    });
  }

  it('the rekey initiator refuses a response whose PFS KE fails the checks: no new Child SA, the old one stays', () => {
    const b = BAD_KE[0]!;
    const { net, i, r } = pair({ i: { ike: [b.ike], pfs: 'same' }, r: { ike: [b.ike], pfs: 'same' } });
    net.filter = (p) => (isCreateChild(p, I, false) ? 'drop' : 'deliver');
    rekey(net, i);
    net.run();
    const isa = ikeSa(i);
    const mid = isa.outstanding!.messageId;
    const templates = rekeyTemplates(isa.tunnel, isa.suite!.dhId);
    const resp: Payload[] = [
      { type: PayloadType.SA, proposals: [{ num: 1, protocol: ProtocolId.ESP, spi: spiBytes(0x2222), transforms: chosen(templates[0]!.transforms) }] },
      { type: PayloadType.NONCE, data: seeded(6)(32) },
      { type: PayloadType.KE, group: b.group, data: b.value },
      { type: PayloadType.TSi, selectors: isa.children[0]!.localTs },
      { type: PayloadType.TSr, selectors: isa.children[0]!.remoteTs },
    ];
    deliver(net, r, i, protectedFrom(ikeSa(r), resp, true, mid));
    expect(logged(i, /the peer's KE value is invalid: invalid peer public value for DH group 19/)).toBe(true);
    expect(count(i, 'install-child')).toBe(1);
    expect(ikeSa(i).children.map((c) => c.state)).toEqual(['installed']);
  });

  it('the IKE rekey initiator refuses a response whose KE fails the checks: no new IKE SA', () => {
    const b = BAD_KE[0]!;
    const { net, i, r } = pair({ i: { ike: [b.ike] }, r: { ike: [b.ike] } });
    net.filter = (p) => (isCreateChild(p, I, false) ? 'drop' : 'deliver');
    rekey(net, i, 'ike');
    net.run();
    const isa = ikeSa(i);
    const resp: Payload[] = [
      { type: PayloadType.SA, proposals: [{ num: 1, protocol: ProtocolId.IKE, spi: seeded(8)(8), transforms: chosen(isa.tunnel.ikeProposals[0]!.transforms) }] },
      { type: PayloadType.NONCE, data: seeded(6)(32) },
      { type: PayloadType.KE, group: b.group, data: b.value },
    ];
    deliver(net, r, i, protectedFrom(ikeSa(r), resp, true, isa.outstanding!.messageId));
    expect(logged(i, /IKE SA rekey: the peer's KE value is invalid/)).toBe(true);
    expect(events(i, 'ike-rekeyed')).toHaveLength(0);
    expect(ikeSa(i)).toBe(isa);
  });
});

describe('nonce sizes (RFC 7296 §2.10, §3.9: 16..256 octets) in every exchange', () => {
  for (const n of [15, 257]) {
    it(`${n}-octet nonces: IKE_SA_INIT, Child SA and IKE SA rekey requests are refused, responses dropped; nothing installed`, () => {
      const { net, i, r } = pair();
      const sa = ikeSa(i);
      const nonce = seeded(n)(n);
      // IKE_SA_INIT: dropped as malformed before any state or answer.
      const init = initRequest({ spiI: seeded(3)(8), nonce, group: 19, ke: createKeyExchange(19).publicValue, proposals: sa.tunnel.ikeProposals });
      const dropsBefore = r.engine.drops.malformed;
      expect(r.engine.onDatagram(init, arrivalFrom('198.51.100.20', R), net.now).filter((a) => a.kind === 'send')).toEqual([]);
      expect(r.engine.drops.malformed).toBe(dropsBefore + 1);
      expect(r.engine.halfOpenCount).toBe(0);
      // CREATE_CHILD_SA requests: answered INVALID_SYNTAX (§2.21.2), no SA.
      const child = protectedFrom(sa, childRekeyRequest(sa, null, nonce), false, sa.nextRequestId++);
      expect(notifyTypes(deliver(net, i, r, child))).toEqual([NotifyType.INVALID_SYNTAX]);
      // (a valid KE: the nonce alone is what is wrong)
      const ike = protectedFrom(sa, ikeRekeyRequest(sa, { group: 19, value: createKeyExchange(19).publicValue }, nonce), false, sa.nextRequestId++);
      expect(notifyTypes(deliver(net, i, r, ike))).toEqual([NotifyType.INVALID_SYNTAX]);
      expect(count(r, 'install-child')).toBe(1);
      expect(events(r, 'ike-rekeyed')).toHaveLength(0);
      // A response with such a nonce is dropped as malformed; the rekey does not complete.
      net.filter = (p) => (isCreateChild(p, I, false) ? 'drop' : 'deliver');
      rekey(net, i);
      net.run();
      const isa = ikeSa(i);
      const templates = rekeyTemplates(isa.tunnel, isa.suite!.dhId);
      const malformed = i.engine.drops.malformed;
      deliver(net, r, i, protectedFrom(ikeSa(r), [
        { type: PayloadType.SA, proposals: [{ num: 1, protocol: ProtocolId.ESP, spi: spiBytes(0x3333), transforms: chosen(templates[0]!.transforms) }] },
        { type: PayloadType.NONCE, data: nonce },
        { type: PayloadType.TSi, selectors: isa.children[0]!.localTs },
        { type: PayloadType.TSr, selectors: isa.children[0]!.remoteTs },
      ], true, isa.outstanding!.messageId));
      expect(i.engine.drops.malformed).toBe(malformed + 1);
      expect(count(i, 'install-child')).toBe(1);
    });
  }
});
