/**
 * Config reload (IkeEngine.reconfigure; docs/contract.md `reload`: "untouched tunnels
 * keep their SAs"). One branch engine with two tunnels to two peers, each
 * peer its own engine, on the fake network: a reload that changes one tunnel must not send a
 * single datagram for the other, nor touch its SPIs, timers or counters; the changed tunnel is
 * deleted (the peer hears a Delete) and re-established with the new settings.
 */
import { describe, expect, it } from 'vitest';
import { Net, PSK, seeded, tunnel, type Node, type Packet } from './harness.js';
import { ExchangeType, PayloadType } from '../../src/ike/constants.js';
import type { TunnelConfig } from '../../src/config/types.js';
import type { TunnelStatus } from '../../src/ike/actions.js';
import { decodeOrFail } from './harness.js';

const B = '192.0.2.1';
const P1 = '192.0.2.2';
const P2 = '192.0.2.3';
const P3 = '192.0.2.4';
const IKE = ['aes128gcm16-prfsha256-ecp256'];

/** The branch's tunnels, parsed afresh on every call (a reload re-reads the file). */
function branch(o: { one?: Record<string, unknown>; two?: Record<string, unknown> | null; three?: Record<string, unknown> } = {}): TunnelConfig[] {
  const out = [tunnel({ name: 'one', localAddress: B, remoteAddress: P1, ike: IKE, esp: ['aes128gcm16'], interface: 'bg1', routes: ['10.1.0.0/16'], ...o.one })];
  if (o.two !== null) out.push(tunnel({ name: 'two', localAddress: B, remoteAddress: P2, ike: IKE, esp: ['aes128gcm16'], interface: 'bg2', routes: ['10.2.0.0/16'], ...o.two }));
  if (o.three) out.push(tunnel({ name: 'three', localAddress: B, remoteAddress: P3, ike: IKE, esp: ['aes128gcm16'], interface: 'bg3', ...o.three }));
  return out;
}

function peer(address: string, extra: Record<string, unknown> = {}): TunnelConfig {
  return tunnel({ name: 'branch', localAddress: address, remoteAddress: '%any', remoteId: '%any', initiate: false, ike: IKE, esp: ['aes256gcm16', 'aes128gcm16'], ...extra });
}

function setup(): { net: Net; b: Node; p1: Node; p2: Node; p3: Node } {
  const net = new Net();
  const b = net.add(B, branch(), { random: seeded(101) });
  const p1 = net.add(P1, [peer(P1)], { random: seeded(202) });
  const p2 = net.add(P2, [peer(P2)], { random: seeded(303) });
  const p3 = net.add(P3, [peer(P3)], { random: seeded(404) });
  net.start(B);
  expect(status(b, 'one').state).toBe('established');
  expect(status(b, 'two').state).toBe('established');
  return { net, b, p1, p2, p3 };
}

function status(n: Node, name: string): TunnelStatus {
  const s = n.engine.status(0).find((t) => t.name === name);
  if (!s) throw new Error(`no tunnel ${name}`);
  return s;
}

const touches = (p: Packet, address: string): boolean => p.from.address === address || p.to.address === address;

/** Everything about a tunnel that a reload must leave alone, on the branch and on its peer. */
function snapshot(b: Node, peerNode: Node, name: string) {
  const t = b.engine.tunnels.get(name)!;
  const sa = t.sa!;
  return {
    entry: t,
    sa,
    status: JSON.stringify(status(b, name)),
    peerStatus: JSON.stringify(peerNode.engine.status(0)),
    timers: JSON.stringify({ rekeyAt: sa.rekeyAt, expireAt: sa.expireAt, timers: sa.timers, kids: sa.children.map((c) => [c.rekeyAt, c.expireAt, c.state]) }),
    ids: [sa.nextRequestId, sa.expectedPeerRequestId, sa.lastInboundAt, t.failures],
    peerActions: peerNode.actions.length,
    installed: [...b.installed.values()].filter((c) => c.info.tunnel === name).map((c) => [c.info.spiIn, c.info.spiOut, c.active]),
  };
}

function expectUntouched(net: Net, b: Node, peerNode: Node, name: string, before: ReturnType<typeof snapshot>, wireBefore: number): void {
  const after = snapshot(b, peerNode, name);
  expect(after.entry, 'same tunnel entry').toBe(before.entry);
  expect(after.sa, 'same IKE SA object').toBe(before.sa);
  expect(after.status).toBe(before.status);
  expect(after.peerStatus).toBe(before.peerStatus);
  expect(after.timers).toBe(before.timers);
  expect(after.ids).toEqual(before.ids);
  expect(after.installed).toEqual(before.installed);
  expect(after.peerActions, 'the peer of an untouched tunnel did nothing').toBe(before.peerActions);
  expect(net.wire.slice(wireBefore).filter((p) => touches(p, peerNode.address)), 'no datagram to or from its peer').toEqual([]);
}

describe('reload: IkeEngine.reconfigure', () => {
  it('one tunnel changed: the other keeps its SPIs and sends nothing; the changed one is re-established with the new settings', () => {
    const { net, b, p1, p2 } = setup();
    const before = snapshot(b, p1, 'one');
    const old2 = status(b, 'two');
    expect(old2.children[0]!.encr).toBe('AES_GCM_16_128');
    const wire = net.wire.length;
    const events = b.events.length;
    const p2Before = p2.actions.length;

    const reload = net.reconfigure(B, branch({ two: { esp: ['aes256gcm16'] } }));
    net.advance(1000);

    expectUntouched(net, b, p1, 'one', before, wire);
    // The changed tunnel: the peer got a Delete for the old IKE SA, then a new IKE_SA_INIT.
    const toP2 = net.wire.slice(wire).filter((p) => p.from.address === B && p.to.address === P2).map((p) => decodeOrFail(p.bytes));
    expect(toP2[0]!.header.exchangeType).toBe(ExchangeType.INFORMATIONAL);
    expect(Buffer.from(toP2[0]!.header.spiI).toString('hex')).toBe(old2.ike!.spiI);
    expect(toP2[1]!.header.exchangeType).toBe(ExchangeType.IKE_SA_INIT);
    const new2 = status(b, 'two');
    expect(new2.state).toBe('established');
    expect(new2.ike!.spiI).not.toBe(old2.ike!.spiI);
    expect(new2.children.map((c) => c.encr)).toEqual(['AES_GCM_16_256']);
    expect(new2.children[0]!.spiIn).not.toBe(old2.children[0]!.spiIn);
    // The peer holds exactly the new SA, mirrored.
    const peer2 = p2.engine.status(0)[0]!;
    expect(peer2.ike!.spiI).toBe(new2.ike!.spiI);
    expect([...p2.installed.values()].map((c) => [c.info.spiIn, c.info.spiOut])).toEqual([[new2.children[0]!.spiOut, new2.children[0]!.spiIn]]);
    expect(p2.events.slice(0).filter((e) => e.type === 'ike-down')).toEqual([{ type: 'ike-down', tunnel: 'branch', reason: 'deleted by peer' }]);
    expect(p2.actions.length).toBeGreaterThan(p2Before);
    // The branch's datapath: one Child SA per tunnel, the old one of 'two' gone in the reload batch.
    const mine = [...b.installed.values()].filter((c) => c.info.tunnel === 'two');
    expect(mine.map((c) => c.info.spiIn)).toEqual([new2.children[0]!.spiIn]);
    // The old Child SA leaves the datapath in the reload's own batch, before the new IKE_SA_INIT.
    const kinds = reload.map((a) => (a.kind === 'remove-child' ? `remove-child:${a.tunnel}` : a.kind === 'send' ? `send:${decodeOrFail(a.bytes).header.exchangeType}` : a.kind));
    expect(kinds.filter((k) => k !== 'log' && k !== 'event')).toEqual([`send:${ExchangeType.INFORMATIONAL}`, 'remove-child:two', `send:${ExchangeType.IKE_SA_INIT}`]);
    // Events: down then up for 'two', nothing for 'one'; exactly one ike-down although the Delete is answered later.
    const evs = b.events.slice(events);
    expect(evs.filter((e) => e.tunnel === 'one')).toEqual([]);
    expect(evs.map((e) => e.type)).toEqual(['child-down', 'ike-down', 'ike-up', 'child-up']);
    expect(b.logs.map((l) => l.msg)).toEqual(expect.arrayContaining([
      'reload: tunnel one unchanged; its SAs are kept',
      'reload: tunnel two changed (keys: espProposals); re-establishing it',
    ]));
    // Long afterwards both tunnels still stand and agree with their peers.
    net.advance(120_000);
    expect(status(b, 'one').ike!.spiI).toBe(JSON.parse(before.status).ike.spiI);
    expect(status(b, 'two').ike!.spiI).toBe(new2.ike!.spiI);
    expect(b.engine.sas.size).toBe(2);
  });

  it('a reload with an identical config (parsed afresh) is a no-op: only "unchanged" log lines, no datagram', () => {
    const { net, b, p1, p2 } = setup();
    const s1 = snapshot(b, p1, 'one');
    const s2 = snapshot(b, p2, 'two');
    const wire = net.wire.length;
    const fresh = branch();
    expect(fresh[0]).not.toBe(b.engine.tunnels.get('one')!.config);
    const actions = net.reconfigure(B, fresh);
    expect(actions.map((a) => a.kind)).toEqual(['log', 'log']);
    expect(actions.map((a) => (a.kind === 'log' ? a.msg : ''))).toEqual([
      'reload: tunnel one unchanged; its SAs are kept',
      'reload: tunnel two unchanged; its SAs are kept',
    ]);
    expect(net.wire.length).toBe(wire);
    expectUntouched(net, b, p1, 'one', s1, wire);
    expectUntouched(net, b, p2, 'two', s2, wire);
    // The running config objects are kept (the SAs point at them).
    expect(b.engine.tunnels.get('one')!.config).toBe(s1.sa.tunnel);
  });

  it('a tunnel removed and one added: the removed one is deleted and forgotten, the added one comes up, the third is untouched', () => {
    const { net, b, p1, p2, p3 } = setup();
    const before = snapshot(b, p1, 'one');
    const wire = net.wire.length;
    net.reconfigure(B, branch({ two: null, three: {} }));
    net.advance(1000);
    expectUntouched(net, b, p1, 'one', before, wire);
    expect(b.engine.tunnelNames()).toEqual(['one', 'three']);
    expect(() => status(b, 'two')).toThrow();
    expect(p2.installed.size).toBe(0);
    expect(p2.engine.status(0)[0]!.state).toBe('down');
    expect([...b.installed.values()].map((c) => c.info.tunnel).sort()).toEqual(['one', 'three']);
    expect(status(b, 'three').state).toBe('established');
    expect(p3.engine.status(0)[0]!.state).toBe('established');
    expect(b.events.filter((e) => e.tunnel === 'two' && e.type === 'ike-down')).toHaveLength(1);
    expect(b.logs.map((l) => l.msg)).toEqual(expect.arrayContaining(['reload: tunnel two removed; deleting its SAs', 'reload: tunnel three added']));
    // The retired SA is gone once its Delete was answered, and nothing reconnects 'two'.
    expect([...b.engine.sas.values()].map((s) => s.tunnel.name).sort()).toEqual(['one', 'three']);
    const wire2 = net.wire.length;
    net.advance(60_000);
    expect(net.wire.slice(wire2).filter((p) => touches(p, P2))).toEqual([]);
  });

  it('a removed tunnel whose Delete is lost: the old SA retransmits, gives up quietly, and nothing reconnects', () => {
    const { net, b, p1 } = setup();
    const before = snapshot(b, p1, 'one');
    net.filter = (p) => (p.to.address === P2 ? 'drop' : 'deliver');
    const wire = net.wire.length;
    net.reconfigure(B, branch({ two: null }));
    expect(b.engine.sas.size).toBe(2); // 'one' and the retired SA carrying the Delete
    net.advance(10 * 60_000);
    expect(b.engine.sas.size).toBe(1);
    const toP2 = net.wire.slice(wire).filter((p) => p.to.address === P2);
    expect(toP2.length).toBeGreaterThan(1);
    expect(toP2.every((p) => decodeOrFail(p.bytes).header.exchangeType === ExchangeType.INFORMATIONAL)).toBe(true);
    expect(b.events.filter((e) => e.tunnel === 'two' && (e.type === 'ike-down' || e.type === 'reconnect'))).toEqual([{ type: 'ike-down', tunnel: 'two', reason: 'removed from the config' }]);
    expect(status(b, 'one').ike!.spiI).toBe(JSON.parse(before.status).ike.spiI);
  });

  it('a PSK change on both sides, responder first: each side re-establishes, no PSK in any action', () => {
    const { net, b, p1, p2 } = setup();
    const NEW = 'reload-new-psk-7Hq2mV9xKc4b';
    const old = status(b, 'one');
    // The peer reloads first: it deletes its SA; the branch (still on the old PSK) tries again and fails.
    net.reconfigure(P1, [peer(P1, { psk: NEW })]);
    expect(p1.logs.map((l) => l.msg)).toContain('reload: tunnel branch changed (keys: psk); re-establishing it');
    net.advance(5_000);
    expect(status(b, 'one').state).not.toBe('established');
    // Then the branch: the tunnel is changed (psk) and comes up at once, whatever its reconnect state.
    const s2 = snapshot(b, p2, 'two');
    const wire = net.wire.length;
    net.reconfigure(B, branch({ one: { psk: NEW } }));
    net.advance(1000);
    expect(status(b, 'one').state).toBe('established');
    expect(status(b, 'one').ike!.spiI).not.toBe(old.ike!.spiI);
    expect(p1.engine.status(0)[0]!.ike!.spiI).toBe(status(b, 'one').ike!.spiI);
    expectUntouched(net, b, p2, 'two', s2, wire);
    net.advance(120_000);
    expect(status(b, 'one').state).toBe('established');
    for (const n of [b, p1, p2]) {
      const json = JSON.stringify(n.actions.map((a) => a.action), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
      for (const psk of [PSK, NEW]) {
        expect(json).not.toContain(psk);
        expect(json).not.toContain(Buffer.from(psk).toString('hex'));
      }
    }
  });

  it('a changed tunnel the operator took down stays down; `up` starts it with the new config', () => {
    const { net, b } = setup();
    net.perform(b, b.engine.down('two', net.now));
    net.run();
    expect(status(b, 'two').state).toBe('down');
    net.reconfigure(B, branch({ two: { esp: ['aes256gcm16'] } }));
    net.advance(1000);
    expect(status(b, 'two').state).toBe('down');
    expect(b.logs.map((l) => l.msg)).toContain('reload: tunnel two stays down (taken down by the operator); `up two` starts it');
    net.perform(b, b.engine.up('two', net.now));
    net.run();
    expect(status(b, 'two').children.map((c) => c.encr)).toEqual(['AES_GCM_16_256']);
  });

  it('a reload while the changed tunnel is still connecting drops the half-made SA and starts over', () => {
    const net = new Net();
    const b = net.add(B, branch(), { random: seeded(7) });
    const p1 = net.add(P1, [peer(P1)], { random: seeded(8) });
    net.add(P2, [peer(P2)], { random: seeded(9) });
    // Hold every IKE_AUTH: both tunnels stop half-way.
    net.filter = (p) => (decodeOrFail(p.bytes).payloads[0]?.type === PayloadType.SK ? 'drop' : 'deliver');
    net.start(B);
    expect(status(b, 'one').state).toBe('connecting');
    net.filter = () => 'deliver';
    net.reconfigure(B, branch({ one: { esp: ['aes256gcm16'] }, two: {} }));
    net.advance(10_000);
    expect(status(b, 'one').children.map((c) => c.encr)).toEqual(['AES_GCM_16_256']);
    expect(status(b, 'two').state).toBe('established');
    expect(p1.installed.size).toBe(1);
    // The responder's stale half-open SA of the first attempt expires by itself.
    net.advance(60_000);
    expect(p1.engine.sas.size).toBe(1);
  });

  it('two tunnels with one name: throws, and nothing changes', () => {
    const { b } = setup();
    const before = b.engine.status(0);
    const dup = [...branch(), ...branch({ two: null })];
    expect(() => b.engine.reconfigure(dup, 0)).toThrow(/two tunnels named 'one'/);
    expect(b.engine.status(0)).toEqual(before);
    expect(b.engine.tunnelNames()).toEqual(['one', 'two']);
  });
});
