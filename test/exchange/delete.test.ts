/**
 * Delete payloads (RFC 7296 §1.4.1, §3.11) for Child SAs and the IKE SA, both directions, after
 * strongSwan's test_child_delete.c and test_ike_delete.c: regular, collision (simultaneous
 * delete), dropped request and dropped response.
 */
import { describe, expect, it } from 'vitest';
import { I, R, logged, type Node } from './harness.js';
import { dropFirst, events, expectAgree, ikeSa, isInformational, pair } from './lifecycle.js';
import { queueChildDelete } from '../../src/ike/tasks/child-delete.js';
import type { Net } from './harness.js';

function deleteChild(net: Net, n: Node): void {
  const ctx = n.engine.ctx(net.now);
  queueChildDelete(ctx, ikeSa(n), [...n.installed.keys()]);
  net.perform(n, ctx.actions);
}

describe('Child SA delete', () => {
  for (const who of ['initiator', 'responder'] as const) {
    it(`regular, by the ${who}: the peer answers with the paired SPI, both sides drop it`, () => {
      const { net, i, r } = pair();
      const n = who === 'initiator' ? i : r;
      deleteChild(net, n);
      net.run();
      expectAgree(net, 0);
      expect(events(who === 'initiator' ? r : i, 'child-down')[0]!.reason).toBe('deleted by peer');
      expect(i.engine.status(net.now)[0]!.ike).not.toBeNull();
    });
  }

  it('collision: both delete the same SA at once; both responses are empty, both drop it', () => {
    const { net, i, r } = pair();
    deleteChild(net, i);
    deleteChild(net, r);
    net.run();
    expectAgree(net, 0);
    expect(events(i, 'child-down')[0]!.reason).toBe('deleted by both sides');
    expect(events(r, 'child-down')[0]!.reason).toBe('deleted by both sides');
  });

  it('dropped request: retransmitted, then both drop it', () => {
    const { net, r } = pair();
    const [old] = [...r.installed.keys()];
    const dropped = dropFirst(net, (p) => isInformational(p, I, false));
    deleteChild(net, net.nodes.get(I)!);
    net.advance(999); // first retransmit at T0 = dpd/10 = 1 s
    expect(r.installed.has(old!)).toBe(true);
    net.advance(1);
    expect(dropped()).toBe(1);
    expect(r.installed.has(old!)).toBe(false);
    expect([...net.nodes.get(I)!.installed.values()].some((c) => c.info.spiOut === old)).toBe(false);
    expect(events(net.nodes.get(I)!, 'child-down').length).toBe(1);
  });

  it('an initiating tunnel left without a Child SA creates a new one on the same IKE SA', () => {
    const { net, i, r } = pair();
    const spiI = i.engine.status(net.now)[0]!.ike!.spiI;
    const [old] = [...i.installed.keys()];
    deleteChild(net, r);
    net.run();
    expectAgree(net, 0);
    net.advance(100);
    const [fresh] = expectAgree(net, 1);
    expect(fresh).not.toBe(old);
    expect(i.engine.status(net.now)[0]!.ike!.spiI).toBe(spiI);
  });

  it('dropped response: the retransmit gets the cached answer, the initiator drops it then', () => {
    const { net, i, r } = pair();
    const [old] = [...i.installed.keys()];
    dropFirst(net, (p) => isInformational(p, R, true));
    deleteChild(net, i);
    net.run();
    expect(i.installed.size).toBe(1);
    expect(r.installed.size).toBe(0);
    net.advance(2000);
    expect(i.installed.has(old!)).toBe(false);
    expect(events(i, 'child-down').length).toBe(1);
  });
});

describe('IKE SA delete', () => {
  it('regular, by the initiator (down NAME): both sides drop everything, no reconnect', () => {
    const { net, i, r } = pair();
    net.perform(i, i.engine.down('gsa', net.now));
    net.advance(60_000);
    expectAgree(net, 0);
    expect(i.engine.sas.size + r.engine.sas.size).toBe(0);
    expect(events(i, 'reconnect').length).toBe(0);
    expect(events(r, 'ike-down')[0]!.reason).toBe('deleted by peer');
  });

  it('regular, by the responder: the initiating side reconnects and the tunnel comes back', () => {
    const { net, i, r } = pair();
    net.perform(r, r.engine.down('branch', net.now));
    net.run();
    expect(events(i, 'ike-down')[0]!.reason).toBe('deleted by peer');
    expect(events(i, 'reconnect').length).toBe(1);
    net.advance(10_000);
    expectAgree(net, 1);
  });

  it('collision: both delete at once; both drop it, nothing left over', () => {
    const { net, i, r } = pair();
    net.perform(i, i.engine.down('gsa', net.now));
    net.perform(r, r.engine.down('branch', net.now));
    net.advance(60_000);
    expect(i.engine.sas.size + r.engine.sas.size).toBe(0);
    expect(i.installed.size + r.installed.size).toBe(0);
    expect(events(i, 'reconnect').length).toBe(0);
  });

  it('dropped request: retransmitted, both drop it', () => {
    const { net, i, r } = pair();
    dropFirst(net, (p) => isInformational(p, I, false));
    net.perform(i, i.engine.down('gsa', net.now));
    net.advance(5000);
    expect(i.engine.sas.size + r.engine.sas.size).toBe(0);
    expectAgree(net, 0);
  });

  it('dropped response: the peer is gone already; we give up after the retransmit budget', () => {
    const { net, i, r } = pair();
    dropFirst(net, (p) => isInformational(p, R, true));
    net.perform(i, i.engine.down('gsa', net.now));
    net.run();
    expect(r.engine.sas.size).toBe(0);
    expect(i.engine.status(net.now)[0]!.state).toBe('deleting');
    net.advance(60_000);
    expect(i.engine.sas.size).toBe(0);
    expect(i.installed.size).toBe(0);
    expect(logged(i, /did not answer INFORMATIONAL/)).toBe(true);
    expect(events(i, 'reconnect').length).toBe(0);
  });

  it('up NAME while the Delete is still unanswered drops the old SA and initiates at once', () => {
    const { net, i } = pair();
    dropFirst(net, (p) => isInformational(p, R, true));
    net.perform(i, i.engine.down('gsa', net.now));
    net.run();
    expect(i.engine.status(net.now)[0]!.state).toBe('deleting');
    net.perform(i, i.engine.up('gsa', net.now));
    expect(logged(i, /still being deleted; dropping it now and initiating again/)).toBe(true);
    net.run();
    expectAgree(net, 1);
    expect(i.engine.sas.size).toBe(1);
  });

  it('up NAME after down NAME resumes the tunnel', () => {
    const { net, i } = pair();
    net.perform(i, i.engine.down('gsa', net.now));
    net.advance(1000);
    net.perform(i, i.engine.up('gsa', net.now));
    net.advance(1000);
    expectAgree(net, 1);
  });
});
