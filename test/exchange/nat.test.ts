/**
 * NAT keepalives (RFC 3948 §2.3), following the peer's NAT mapping only on authenticated
 * messages (RFC 7296 §2.23), INITIAL_CONTACT and a restarted peer (§2.4).
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, initiatorTunnel, responderTunnel, seeded } from './harness.js';
import { events, expectAgree, ikeSa, isInformational, pair, IKE, ESP } from './lifecycle.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';
import { openMessage } from '../../src/ike/codec/message.js';

function keepalives(n: ReturnType<typeof pair>['i']) {
  return n.actions.filter((a) => a.action.kind === 'keepalive');
}

describe('NAT keepalive', () => {
  it('every 20 s from port 4500 when the datapath is UDP-only', () => {
    const { net, i } = pair({ udpEncapsulationOnly: true });
    const t0 = net.now;
    net.advance(100_000);
    const k = keepalives(i);
    expect(k.map((a) => a.at - t0)).toEqual([0, 20_000, 40_000, 60_000, 80_000, 100_000]);
    const a = k[0]!.action;
    expect(a.kind === 'keepalive' && a.from).toEqual({ address: I, port: 4500 });
    expect(a.kind === 'keepalive' && a.to).toEqual({ address: R, port: 4500 });
  });

  it('natT: force on our side only: we send them, the peer (not behind a NAT) does not', () => {
    const { net, i, r } = pair({ i: { natT: 'force' } });
    net.advance(60_000);
    expect(keepalives(i).length).toBe(4);
    expect(keepalives(r).length).toBe(0);
  });

  it('no NAT, no force: no keepalives', () => {
    const { net, i, r } = pair();
    net.advance(60_000);
    expect(keepalives(i).length + keepalives(r).length).toBe(0);
  });
});

describe('NAT mapping changes', () => {
  it('an authenticated message from a new port moves the SA (update-remote, remote-moved)', () => {
    const { net, r } = pair({ udpEncapsulationOnly: true, i: { dpd: 10 }, r: { dpd: 0 } });
    net.filter = (p) => (p.from.address === I ? { ...p, from: { address: I, port: 31337 } } : 'deliver');
    net.advance(10_000); // the initiator's liveness check comes through the new mapping
    const moved = events(r, 'remote-moved');
    expect(moved).toEqual([{ type: 'remote-moved', tunnel: 'branch', from: `${I}:4500`, to: `${I}:31337` }]);
    expect(r.actions.some((a) => a.action.kind === 'update-remote' && a.action.remote.port === 31337)).toBe(true);
    expect(r.engine.status(net.now)[0]!.remote).toEqual({ address: I, port: 31337 });
    // Answers go to the new mapping.
    const answer = net.wire.filter((p) => isInformational(p, R, true)).at(-1)!;
    expect(answer.to.port).toBe(31337);
  });

  it('a tampered or replayed datagram from a new port moves nothing', () => {
    const { net, i, r } = pair({ udpEncapsulationOnly: true, i: { dpd: 10 }, r: { dpd: 0 } });
    const auth = net.wire.find((p) => p.from.address === I && decodeOrFail(p.bytes).header.exchangeType === ExchangeType.IKE_AUTH)!;
    // A replay of the (already answered) IKE_AUTH request from a new port: answered from the
    // cache to the known address, not followed.
    net.queue.push({ ...auth, from: { address: I, port: 40000 } });
    net.run();
    // A fresh request with a flipped ciphertext bit: fails integrity.
    net.filter = (p) => {
      if (p.from.address !== I) return 'deliver';
      const bytes = new Uint8Array(p.bytes);
      bytes[bytes.length - 1]! ^= 1;
      return { ...p, from: { address: I, port: 40001 }, bytes };
    };
    net.advance(10_000);
    expect(r.engine.drops.integrity).toBeGreaterThan(0);
    expect(events(r, 'remote-moved').length).toBe(0);
    expect(r.actions.some((a) => a.action.kind === 'update-remote')).toBe(false);
    expect(r.engine.status(net.now)[0]!.remote).toEqual({ address: I, port: 4500 });
    expect(i.engine.status(net.now)[0]!.state).not.toBe('down');
  });

  it('without NAT-T (port 500) an authenticated message from another port does not move the SA', () => {
    const { net, r } = pair({ i: { dpd: 10 }, r: { dpd: 0 } });
    net.filter = (p) => (p.from.address === I ? { ...p, from: { address: I, port: 501 } } : 'deliver');
    net.advance(10_000);
    expect(events(r, 'remote-moved').length).toBe(0);
    expect(r.engine.status(net.now)[0]!.remote).toEqual({ address: I, port: 500 });
  });
});

describe('INITIAL_CONTACT', () => {
  it('is in the first IKE_AUTH request when we hold no other IKE SA with the peer', () => {
    const { net, r } = pair();
    const auth = net.wire.find((p) => p.from.address === I && decodeOrFail(p.bytes).header.exchangeType === ExchangeType.IKE_AUTH)!;
    const inner = openMessage(auth.bytes, decodeOrFail(auth.bytes), ikeSa(r).cipherIn!);
    expect(inner.ok && inner.value.some((p) => p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.INITIAL_CONTACT)).toBe(true);
  });

  it('a restarted peer: its new IKE_AUTH with INITIAL_CONTACT drops our old SAs', () => {
    const { net, r } = pair();
    const oldChild = [...r.installed.keys()][0]!;
    // The initiator restarts: all state lost, same address, initiates again.
    net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })], { random: seeded(99) });
    net.start(I);
    expect(r.events.some((e) => e.type === 'ike-down' && e.reason === 'peer restarted (INITIAL_CONTACT)')).toBe(true);
    expect(r.installed.has(oldChild)).toBe(false);
    expect(r.engine.sas.size).toBe(1);
    expectAgree(net, 1);
  });

  it('a restarted responder: our SA dies by DPD and reconnecting brings the tunnel back', () => {
    const { net, i } = pair({ i: { dpd: 1 } });
    // The responder restarts: all its state is gone (it drops what it cannot match).
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(77) });
    const t0 = net.now;
    net.advance(2400);
    expect(events(i, 'dpd-dead').length).toBe(1);
    net.advance(3000);
    expect(net.now - t0).toBeLessThan(10_000);
    expectAgree(net, 1);
    expect(events(i, 'reconnect').length).toBe(1);
  });

  it('not sent when another IKE SA with the peer exists', () => {
    const { net, i } = pair();
    // A second initiation while the first SA stands (e.g. the daemon's up after a reload).
    const t = i.engine.tunnels.get('gsa')!;
    const first = t.sa!;
    t.sa = null;
    net.perform(i, i.engine.up('gsa', net.now));
    expect(ikeSa(i)).not.toBe(first);
    expect(ikeSa(i).initialContact).toBe(false);
    void Net;
  });
});
