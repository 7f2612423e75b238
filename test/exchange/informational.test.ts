/**
 * Requests on an established SA: INFORMATIONAL is always answered (RFC 7296 §4), Deletes tear
 * SAs down on both sides, CREATE_CHILD_SA gets NO_ADDITIONAL_SAS in this version.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, responderTunnel } from './harness.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';
import { openMessage } from '../../src/ike/codec/message.js';
import type { EngineContext, IkeSa } from '../../src/ike/sa.js';
import type { Action } from '../../src/ike/actions.js';

const IKE = ['aes128-sha256-ecp256'];
const ESP = ['aes128-sha256'];

function established(): Net {
  const net = new Net();
  net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })]);
  net.add(R, [responderTunnel({ ike: IKE, esp: ESP })]);
  net.start(I);
  expectEstablishedPair(net);
  return net;
}

/** Let an SA send a request the engine does not start on its own yet (DPD and rekey come later). */
function sendRaw(net: Net, address: string, exchange: number, payloads: Parameters<IkeSa['sendRequest']>[2]): IkeSa {
  const node = net.nodes.get(address)!;
  const sa = node.engine.tunnels.values().next().value!.sa!;
  const actions: Action[] = [];
  const ctx: EngineContext = { now: net.now, udpEncapsulationOnly: false, actions, random: (n) => new Uint8Array(n).fill(7), log: () => {} };
  sa.sendRequest(ctx, exchange, payloads, true);
  net.perform(node, actions);
  return sa;
}

describe('INFORMATIONAL and friends', () => {
  it('an empty INFORMATIONAL request (liveness check) is answered with an empty protected response', () => {
    const net = established();
    const sa = sendRaw(net, I, ExchangeType.INFORMATIONAL, []);
    const before = net.wire.length;
    net.run();
    const answer = net.wire[before]!;
    expect(answer.from.address).toBe(R);
    const m = decodeOrFail(answer.bytes);
    expect(m.header.response).toBe(true);
    expect(m.header.exchangeType).toBe(ExchangeType.INFORMATIONAL);
    const inner = openMessage(answer.bytes, m, sa.cipherIn!);
    expect(inner.ok && inner.value).toEqual([]);
    expect(sa.outstanding).toBeNull();
    // The responder can also ask; the initiator answers.
    const rsa = sendRaw(net, R, ExchangeType.INFORMATIONAL, []);
    net.run();
    expect(rsa.outstanding).toBeNull();
  });

  it('CREATE_CHILD_SA is refused with NO_ADDITIONAL_SAS and the existing SAs stay', () => {
    const net = established();
    const sa = sendRaw(net, I, ExchangeType.CREATE_CHILD_SA, [{ type: PayloadType.NONCE, data: new Uint8Array(32).fill(1) }]);
    const before = net.wire.length;
    net.run();
    const answer = net.wire[before]!;
    const m = decodeOrFail(answer.bytes);
    const inner = openMessage(answer.bytes, m, sa.cipherIn!);
    expect(inner.ok && inner.value.some((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.NO_ADDITIONAL_SAS)).toBe(true);
    expectEstablishedPair(net);
  });

  it('down() deletes the IKE SA on both sides and removes the Child SAs', () => {
    const net = established();
    const i = net.nodes.get(I)!;
    const r = net.nodes.get(R)!;
    net.perform(i, i.engine.down('gsa', net.now));
    net.run();
    expect(i.installed.size + r.installed.size).toBe(0);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.events.some((e) => e.type === 'ike-down' && e.reason === 'deleted by peer')).toBe(true);
  });

  it('a peer deleting the Child SA gets our paired Delete back', () => {
    const net = established();
    const r = net.nodes.get(R)!;
    const child = [...r.installed.values()][0]!.info;
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(child.spiIn);
    const sa = sendRaw(net, R, ExchangeType.INFORMATIONAL, [{ type: PayloadType.DELETE, protocol: 3, spiSize: 4, spis: [new Uint8Array(spi)] }]);
    const before = net.wire.length;
    net.run();
    expect(net.nodes.get(I)!.installed.size).toBe(0);
    const m = decodeOrFail(net.wire[before]!.bytes);
    const inner = openMessage(net.wire[before]!.bytes, m, sa.cipherIn!);
    const del = inner.ok ? inner.value.find((p) => p.type === PayloadType.DELETE) : undefined;
    expect(del && del.type === PayloadType.DELETE && Buffer.from(del.spis[0]!).readUInt32BE(0)).toBe(child.spiOut);
  });
});
