/**
 * Rekeying the IKE SA (RFC 7296 §1.3.2, §2.8, §2.8.2, §2.18), after strongSwan's
 * src/libcharon/tests/suites/test_ike_rekey.c: by either side, collisions in both nonce orders,
 * collision with a Child SA rekey and with a delete, dropped messages. The Child SAs must move to
 * the new IKE SA untouched: no install/remove in the datapath.
 */
import { describe, expect, it } from 'vitest';
import { I, R, logged, responderTunnel, type Node } from './harness.js';
import { count, dropFirst, events, expectAgree, hold, ikeSa, isCreateChild, pair, rekey } from './lifecycle.js';
import { REKEY_GRACE_MS } from '../../src/ike/child-sa.js';

const spis = (n: Node) => {
  const s = n.engine.status(0)[0]!.ike!;
  return `${s.spiI}/${s.spiR}`;
};

function expectOneIkeSa(nodes: Node[]): void {
  for (const n of nodes) expect(n.engine.sas.size, `IKE SAs left on ${n.address}`).toBe(1);
}

describe('IKE SA rekey', () => {
  for (const who of ['initiator', 'responder'] as const) {
    it(`regular, started by the ${who}: new SPIs and keys, Child SAs move, message IDs restart`, () => {
      const { net, i, r } = pair();
      const before = spis(i);
      const children = [...i.installed.keys()];
      const starter = who === 'initiator' ? i : r;
      rekey(net, starter, 'ike');
      net.run();
      expect(spis(i)).not.toBe(before);
      expect(spis(i)).toBe(spis(r));
      expectOneIkeSa([i, r]);
      // The Child SAs were not touched in the datapath.
      expect(count(i, 'remove-child') + count(r, 'remove-child')).toBe(0);
      expect([...i.installed.keys()]).toEqual(children);
      expect(events(starter, 'ike-rekeyed')[0]!.initiator).toBe(true);
      expect(events(who === 'initiator' ? r : i, 'ike-rekeyed')[0]!.initiator).toBe(false);
      // The rekey initiator is the new SA's original initiator; message IDs start at 0 (§2.18).
      const sa = ikeSa(starter);
      expect(sa.initiator).toBe(true);
      expect(sa.nextRequestId).toBe(0);
      expect(ikeSa(who === 'initiator' ? r : i).expectedPeerRequestId).toBe(0);
      // The new SA works: a Child SA rekey runs over it.
      rekey(net, i);
      net.advance(REKEY_GRACE_MS);
      expect(ikeSa(i).nextRequestId).toBeGreaterThan(0);
      expectAgree(net, 1);
      expect(i.engine.status(net.now)[0]!.ike!.rekeyAt).toBe(ikeSa(i).rekeyAt);
    });
  }

  for (const order of ['initiator wins', 'responder wins'] as const) {
    it(`collision (${order}): the redundant IKE SA is deleted by its creator, one survives`, () => {
      for (let seed = 1; seed < 60; seed++) {
        const { net, i, r } = pair({ seedI: seed, seedR: seed * 13 + 5 });
        const before = spis(i);
        rekey(net, i, 'ike');
        rekey(net, r, 'ike');
        net.run();
        const iWon = logged(i, /IKE SA rekey collision won/);
        if ((order === 'initiator wins') !== iWon) continue;
        const winner = iWon ? i : r;
        const loser = iWon ? r : i;
        expect(logged(loser, /IKE SA rekey collision lost/)).toBe(true);
        expect(spis(i)).toBe(spis(r));
        expect(spis(i)).not.toBe(before);
        expectOneIkeSa([i, r]);
        // The survivor is the winner's exchange: the winner is its original initiator.
        expect(ikeSa(winner).initiator).toBe(true);
        expect(count(i, 'remove-child') + count(r, 'remove-child')).toBe(0);
        net.advance(60_000);
        expectOneIkeSa([i, r]);
        expectAgree(net, 1);
        return;
      }
      throw new Error(`no seed gave "${order}"`);
    });
  }

  it('collision with a Child SA rekey: TEMPORARY_FAILURE both ways (§2.25.2), both retried and done', () => {
    const { net, i, r } = pair({ i: { dpd: 30 }, r: { dpd: 30 } });
    rekey(net, i, 'ike');
    rekey(net, r, 'child');
    net.run();
    expect(logged(r, /TEMPORARY_FAILURE/) && logged(i, /TEMPORARY_FAILURE/)).toBe(true);
    net.advance(40_000);
    expect(events(i, 'ike-rekeyed').length).toBe(1);
    expect(events(i, 'child-rekeyed').length).toBe(1);
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('collision with a delete of the IKE SA: both sides drop it; the initiating side reconnects', () => {
    const { net, i, r } = pair();
    rekey(net, i, 'ike');
    net.perform(r, r.engine.down('branch', net.now));
    net.run();
    expect(i.installed.size + r.installed.size).toBe(0);
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.status(net.now)[0]!.state).toBe('down');
    expect(i.engine.sas.size + r.engine.sas.size).toBe(0);
    expect(events(i, 'reconnect').length).toBe(1);
    net.advance(10_000);
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('dropped request: retransmitted, rekeyed once', () => {
    const { net, i, r } = pair();
    dropFirst(net, (p) => isCreateChild(p, I, false));
    rekey(net, i, 'ike');
    net.advance(5000);
    expect(events(r, 'ike-rekeyed').length).toBe(1);
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('dropped response: the cached answer is re-sent, no second new SA on the responder', () => {
    const { net, i, r } = pair();
    dropFirst(net, (p) => isCreateChild(p, R, true));
    rekey(net, i, 'ike');
    net.advance(5000);
    expect(events(r, 'ike-rekeyed').length).toBe(1);
    expect(events(i, 'ike-rekeyed').length).toBe(1);
    expect(spis(i)).toBe(spis(r));
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('rekeyed by lifetime, with jitter, before ikeLifetime', () => {
    const { net, i, r } = pair({ i: { ikeLifetime: 3600 }, r: { ikeLifetime: 7200 } });
    const at = ikeSa(i).rekeyAt - net.now;
    expect(at).toBeGreaterThanOrEqual(0.8 * 3600_000);
    expect(at).toBeLessThanOrEqual(0.9 * 3600_000);
    net.advance(at + 1000);
    expect(events(i, 'ike-rekeyed').length).toBe(1);
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('INVALID_KE_PAYLOAD: retried once with the group the peer asks for', () => {
    const { net, i, r } = pair({ i: { ike: ['aes128gcm16-prfsha256-ecp256', 'aes128gcm16-prfsha256-curve25519'] } });
    expect(i.engine.status(net.now)[0]!.ike!.dh).toBe('ECP_256');
    // The responder's policy changed since (a reload): it now takes only Curve25519.
    ikeSa(r).tunnel.ikeProposals = responderTunnel({ ike: ['aes128gcm16-prfsha256-curve25519'], esp: ['aes128gcm16'] }).ikeProposals;
    rekey(net, i, 'ike');
    net.run();
    expect(logged(r, /asking for group 31 \(INVALID_KE_PAYLOAD\)/)).toBe(true);
    expect(logged(i, /peer wants DH group 31 for the IKE SA rekey/)).toBe(true);
    expect(i.engine.status(net.now)[0]!.ike!.dh).toBe('CURVE_25519');
    expectOneIkeSa([i, r]);
    expectAgree(net, 1);
  });

  it('status says rekeying while the IKE SA rekey is in flight', () => {
    const { net, i } = pair();
    const h = hold(net, (p) => isCreateChild(p, R, true));
    rekey(net, i, 'ike');
    net.run();
    expect(i.engine.status(net.now)[0]!.state).toBe('rekeying');
    h.release();
    net.run();
    expect(i.engine.status(net.now)[0]!.state).toBe('established');
  });

  it('collision, delayed request: the peer\'s request reaches the old SA we are deleting (TEMPORARY_FAILURE)', () => {
    const { net, i, r } = pair();
    const h = hold(net, (p) => isCreateChild(p, R, false));
    rekey(net, i, 'ike');
    rekey(net, r, 'ike');
    net.run();
    h.release();
    net.run();
    net.advance(60_000);
    expectOneIkeSa([i, r]);
    expect(spis(i)).toBe(spis(r));
    expectAgree(net, 1);
  });
});
