/**
 * CREATE_CHILD_SA rekeying of Child SAs (RFC 7296 §1.3.3, §2.8, §2.8.1, §2.25), case by case
 * after strongSwan's src/libcharon/tests/suites/test_child_rekey.c. Every test ends with both
 * sides' datapath models (install/activate/remove actions) holding the same surviving SAs.
 */
import { describe, expect, it } from 'vitest';
import { I, R, logged, type Node } from './harness.js';
import { count, dropFirst, events, expectAgree, hold, ikeSa, isCreateChild, isInformational, pair, rekey } from './lifecycle.js';
import { ExchangeType, NotifyType } from '../../src/ike/constants.js';
import { notify } from '../../src/ike/tasks/notify.js';
import type { Action } from '../../src/ike/actions.js';
import type { EngineContext } from '../../src/ike/sa.js';
import { REKEY_GRACE_MS, ACTIVATE_FALLBACK_MS } from '../../src/ike/child-sa.js';
import { queueChildDelete } from '../../src/ike/tasks/child-delete.js';

const spiOf = (n: Node) => [...n.installed.keys()];

describe('Child SA rekey', () => {
  for (const who of ['initiator', 'responder'] as const) {
    it(`regular, started by the ${who}: make-before-break on both sides`, () => {
      const { net, i, r } = pair();
      const [oldI] = spiOf(i);
      const [oldR] = spiOf(r);
      const starter = who === 'initiator' ? i : r;
      const other = who === 'initiator' ? r : i;
      // Hold the Delete of the old SA to look at the half-way state.
      let held = true;
      net.filter = (p) => (held && isInformational(p, starter.address, false) ? 'drop' : 'deliver');
      rekey(net, starter);
      net.run();
      // The starter installed the new SA active; the other side inbound-only, still sending on the old.
      expect(starter.installed.size).toBe(2);
      expect(other.installed.size).toBe(2);
      const newStarter = spiOf(starter).find((s) => s !== (who === 'initiator' ? oldI : oldR))!;
      expect(starter.installed.get(newStarter)!.active).toBe(true);
      const newOther = spiOf(other).find((s) => s !== (who === 'initiator' ? oldR : oldI))!;
      expect(other.installed.get(newOther)!.active).toBe(false);
      expect(other.engine.status(net.now)[0]!.state).toBe('rekeying');
      held = false;
      net.advance(2000); // the Delete's first retransmit (liveness schedule, dpd 10 s: 2 s)
      // The Delete arrived: the other side switched; both still hold the old inbound SA (grace).
      expect(other.installed.get(newOther)!.active).toBe(true);
      expect(count(other, 'activate-child')).toBe(1);
      net.advance(REKEY_GRACE_MS);
      const [survivor] = expectAgree(net, 1);
      expect(survivor).not.toBe(oldI);
      expect(events(starter, 'child-rekeyed')[0]!.initiator).toBe(true);
      expect(events(other, 'child-rekeyed')[0]!.initiator).toBe(false);
      expect(i.engine.status(net.now)[0]!.state).toBe('established');
      // status reports the real scheduled rekey time of the new SA, inside [0.8, 0.9] × lifetime.
      const c = i.engine.status(net.now)[0]!.children[0]!;
      expect(c.rekeyAt - c.installedAt).toBeGreaterThanOrEqual(0.8 * 3600_000);
      expect(c.rekeyAt - c.installedAt).toBeLessThanOrEqual(0.9 * 3600_000);
    });
  }

  it('the old inbound SA is removed only after the grace period', () => {
    const { net, i } = pair();
    const [old] = spiOf(i);
    rekey(net, i);
    net.run();
    const removedAt = () => i.actions.find((a) => a.action.kind === 'remove-child')?.at;
    const t0 = net.now;
    net.advance(REKEY_GRACE_MS - 1);
    expect(i.installed.has(old!)).toBe(true);
    net.advance(1);
    expect(i.installed.has(old!)).toBe(false);
    expect(removedAt()! - t0).toBe(REKEY_GRACE_MS);
    expectAgree(net, 1);
  });

  for (const pfs of ['same', 'modp2048']) {
    it(`with PFS (pfs: ${pfs}): a KE in the exchange and fresh keys on both sides`, () => {
      const plain = pair();
      rekey(plain.net, plain.i);
      plain.net.run();
      const plainLen = plain.net.wire.find((p) => isCreateChild(p, I, false))!.bytes.length;
      const { net, i } = pair({ i: { pfs }, r: { pfs } });
      const before = [...i.installed.values()][0]!.keys.encrOut;
      rekey(net, i);
      net.advance(REKEY_GRACE_MS);
      const len = net.wire.find((p) => isCreateChild(p, I, false))!.bytes.length;
      // ECP-256 KE adds 64 octets of public value, MODP-2048 adds 256.
      expect(len - plainLen).toBeGreaterThanOrEqual(pfs === 'same' ? 64 : 256);
      expect(logged(i, /Child SA rekeyed with PFS/)).toBe(true);
      expectAgree(net, 1);
      expect(Buffer.from([...i.installed.values()][0]!.keys.encrOut).equals(Buffer.from(before))).toBe(false);
    });
  }

  it('PFS mismatch (responder wants a KE, initiator has pfs: none): NO_PROPOSAL_CHOSEN, the old SA stays', () => {
    const { net, i } = pair({ r: { pfs: 'same' } });
    const [old] = spiOf(i);
    rekey(net, i);
    net.run();
    expect(logged(net.nodes.get(R)!, /NO_PROPOSAL_CHOSEN for the Child SA rekey/)).toBe(true);
    expect(spiOf(i)).toEqual([old]);
    expectAgree(net, 1);
  });

  it('INVALID_KE_PAYLOAD during a PFS rekey: one retry with the suggested group', () => {
    const { net, i, r } = pair({ i: { esp: ['aes128gcm16-ecp256-modp2048'] }, r: { esp: ['aes128gcm16-modp2048'] } });
    rekey(net, i);
    net.advance(REKEY_GRACE_MS);
    expect(logged(r, /asking for group 14 \(INVALID_KE_PAYLOAD\)/)).toBe(true);
    expect(logged(i, /peer wants DH group 14 for the Child SA rekey/)).toBe(true);
    expect(net.wire.filter((p) => isCreateChild(p, I, false)).length).toBe(2);
    expectAgree(net, 1);
    expect(events(i, 'child-rekeyed').length).toBe(1);
  });

  for (const order of ['initiator wins', 'responder wins'] as const) {
    it(`collision (${order}): the lowest nonce loses, one SA survives on both sides`, () => {
      // Seeds are searched for the wanted outcome so both nonce orders are exercised.
      for (let seed = 1; seed < 60; seed++) {
        const { net, i, r } = pair({ seedI: seed, seedR: seed * 7 + 3 });
        rekey(net, i);
        rekey(net, r);
        net.advance(REKEY_GRACE_MS + 1000);
        const iWon = logged(i, /collision won/);
        if ((order === 'initiator wins') !== iWon) continue;
        const winner = iWon ? i : r;
        const loser = iWon ? r : i;
        expect(logged(winner, /Child SA rekey collision won/)).toBe(true);
        expect(logged(loser, /Child SA rekey collision lost/)).toBe(true);
        const [survivor] = expectAgree(net, 1);
        // The survivor is the SA the winner's exchange created.
        const won = events(winner, 'child-rekeyed').find((e) => e.initiator)!;
        const survivorOnWinner = winner === i ? survivor! : i.installed.get(survivor!)!.info.spiOut;
        expect(parseInt(won.spiIn, 16)).toBe(survivorOnWinner);
        // Nothing is left pending: no fallback activation later changes the picture.
        net.advance(ACTIVATE_FALLBACK_MS + 5000);
        expectAgree(net, 1);
        return;
      }
      throw new Error(`no seed gave "${order}"`);
    });
  }

  it('collision with a delete of the same SA (RFC 7296 §2.25.1): both sides drop it, then the initiating side creates a new one', () => {
    const { net, i, r } = pair();
    const rsa = ikeSa(r);
    const [old] = spiOf(r);
    rekey(net, i);
    const ctx = r.engine.ctx(net.now);
    // The responder deletes the Child SA while the initiator's rekey is on the wire.
    queueChildDelete(ctx, rsa, [old!]);
    net.perform(r, ctx.actions);
    net.run();
    expectAgree(net, 0);
    expect(logged(i, /deleted by the peer meanwhile/) || logged(i, /TEMPORARY_FAILURE/)).toBe(true);
    expect(i.engine.status(net.now)[0]!.ike).not.toBeNull();
    expect(r.engine.status(net.now)[0]!.ike).not.toBeNull();
    net.advance(ACTIVATE_FALLBACK_MS + 20_000);
    // GSA never initiates: the branch side asks for a fresh Child SA on the same IKE SA.
    const [fresh] = expectAgree(net, 1);
    expect(fresh).not.toBe(old);
    expect(logged(i, /no Child SA left; creating one/)).toBe(true);
    expect(events(i, 'child-up').length).toBe(2);
  });

  it('dropped request: retransmitted, one new SA', () => {
    const { net, i, r } = pair();
    const dropped = dropFirst(net, (p) => isCreateChild(p, I, false));
    rekey(net, i);
    net.advance(REKEY_GRACE_MS + 5000);
    expect(dropped()).toBe(1);
    expectAgree(net, 1);
    expect(count(r, 'install-child')).toBe(2);
  });

  it('dropped response: the retransmitted request gets the cached answer, no second SA', () => {
    const { net, i, r } = pair();
    dropFirst(net, (p) => isCreateChild(p, R, true));
    rekey(net, i);
    net.advance(REKEY_GRACE_MS + 5000);
    expect(net.wire.filter((p) => isCreateChild(p, R, true)).length).toBe(2);
    expect(count(r, 'install-child')).toBe(2);
    expect(count(i, 'install-child')).toBe(2);
    expectAgree(net, 1);
  });

  it('delayed DELETE: the responder activates the new SA after the fallback, then takes the late Delete', () => {
    const { net, i, r } = pair({ i: { dpd: 30 }, r: { dpd: 30 } });
    const t0 = net.now;
    net.filter = (p) => (isInformational(p, I, false) && net.now < t0 + ACTIVATE_FALLBACK_MS + 1000 ? 'drop' : 'deliver');
    rekey(net, i);
    net.run();
    net.advance(ACTIVATE_FALLBACK_MS - 1);
    expect(count(r, 'activate-child')).toBe(0);
    net.advance(1);
    expect(count(r, 'activate-child')).toBe(1);
    expect(logged(r, /never deleted the Child SA it rekeyed/)).toBe(true);
    net.advance(20_000);
    expectAgree(net, 1);
  });

  it('TEMPORARY_FAILURE while the peer rekeys the IKE SA (§2.25.2): retried later, both rekeys land', () => {
    const { net, i, r } = pair({ i: { dpd: 30 }, r: { dpd: 30 } });
    // The responder's IKE rekey request is lost once, so it is in flight when our Child rekey arrives.
    dropFirst(net, (p) => isCreateChild(p, R, false));
    rekey(net, r, 'ike');
    rekey(net, i);
    net.run();
    expect(logged(r, /answering TEMPORARY_FAILURE/)).toBe(true);
    expect(logged(i, /TEMPORARY_FAILURE to our Child SA rekey; retrying later/)).toBe(true);
    net.advance(30_000);
    expect(events(i, 'ike-rekeyed').length).toBe(1);
    expect(events(i, 'child-rekeyed').length).toBe(1);
    expectAgree(net, 1);
    expect(i.engine.sas.size).toBe(1);
    expect(r.engine.sas.size).toBe(1);
  });

  it('CHILD_SA_NOT_FOUND: the peer lost the SA; ours goes and a replacement is created', () => {
    const { net, i, r } = pair();
    const rsa = ikeSa(r);
    // The responder loses the Child SA's state (no Delete is sent).
    const [lost] = spiOf(r);
    rsa.children = [];
    r.installed.delete(lost!);
    const [old] = spiOf(i);
    rekey(net, i);
    net.advance(1000);
    expect(logged(r, /answering CHILD_SA_NOT_FOUND/)).toBe(true);
    expect(logged(i, /CHILD_SA_NOT_FOUND/)).toBe(true);
    const [fresh] = expectAgree(net, 1);
    expect(fresh).not.toBe(old);
  });

  it('NO_ADDITIONAL_SAS: logged, the old SA is kept until hard expiry, then the IKE SA is re-established', () => {
    const { net, i, r } = pair({ i: { childLifetime: 120 }, r: { childLifetime: 3600 } });
    const [old] = spiOf(i);
    // The peer refuses: answer its CREATE_CHILD_SA with NO_ADDITIONAL_SAS (with its own keys).
    let refused = 0;
    net.filter = (p) => {
      if (refused === 0 && isCreateChild(p, I, false)) {
        refused++;
        const rsa = ikeSa(r);
        const actions: Action[] = [];
        const ctx: EngineContext = { now: net.now, udpEncapsulationOnly: false, actions, random: () => new Uint8Array(0), log: () => {} };
        rsa.sendResponse(ctx, ExchangeType.CREATE_CHILD_SA, rsa.expectedPeerRequestId, [notify(NotifyType.NO_ADDITIONAL_SAS)], true);
        net.perform(r, actions);
        return 'drop';
      }
      return 'deliver';
    };
    net.advance(0.9 * 120_000);
    expect(refused).toBe(1);
    expect(logged(i, /NO_ADDITIONAL_SAS.*keeping the current Child SA until its hard lifetime/)).toBe(true);
    expect(spiOf(i)).toEqual([old]);
    const spiI = i.engine.status(net.now)[0]!.ike!.spiI;
    net.advance(0.1 * 120_000 + 1000);
    expect(logged(i, /hard lifetime \(the peer refused to rekey it: NO_ADDITIONAL_SAS\)/)).toBe(true);
    net.advance(10_000);
    const [fresh] = expectAgree(net, 1);
    expect(fresh).not.toBe(old);
    expect(i.engine.status(net.now)[0]!.ike!.spiI).not.toBe(spiI);
  });

  it('operator rekey on a tunnel that is not up logs a warning and does nothing', () => {
    const { net, i } = pair();
    net.perform(i, i.engine.down('gsa', net.now));
    net.run();
    const acts = i.engine.rekey('gsa', 'child', net.now);
    expect(acts.some((a) => a.kind === 'log' && a.level === 'warn' && /cannot rekey/.test(a.msg))).toBe(true);
    expect(acts.some((a) => a.kind === 'send')).toBe(false);
  });

  it('childVolumeExceeded starts exactly one rekey while one runs', () => {
    const { net, i } = pair();
    const [old] = spiOf(i);
    net.perform(i, i.engine.childVolumeExceeded('gsa', old!, 'bytes', net.now));
    net.perform(i, i.engine.childVolumeExceeded('gsa', old!, 'seq-exhausted', net.now));
    net.run();
    expect(net.wire.filter((p) => isCreateChild(p, I, false)).length).toBe(1);
    net.advance(REKEY_GRACE_MS);
    expectAgree(net, 1);
  });

  it('collision, delayed request: the peer\'s request comes after our rekey completed (TEMPORARY_FAILURE)', () => {
    const { net, i, r } = pair();
    const h = hold(net, (p) => isCreateChild(p, R, false));
    rekey(net, i);
    rekey(net, r);
    net.run();
    // Our rekey completed and the old SA's Delete went through before the peer's request arrives.
    expect(events(i, 'child-rekeyed').length).toBe(1);
    h.release();
    net.run();
    expect(logged(i, /answering TEMPORARY_FAILURE/)).toBe(true);
    net.advance(REKEY_GRACE_MS + 20_000);
    expectAgree(net, 1);
    expect(events(r, 'child-rekeyed').length).toBe(1);
  });

  for (const late of ['initiator', 'responder'] as const) {
    it(`collision, delayed response to the ${late}: the outcome is the same on both sides`, () => {
      for (let seed = 1; seed < 40; seed++) {
        const { net, i, r } = pair({ seedI: seed, seedR: seed * 5 + 1 });
        const lateNode = late === 'initiator' ? i : r;
        const other = late === 'initiator' ? r : i;
        const h = hold(net, (p) => isCreateChild(p, other.address, true));
        rekey(net, i);
        rekey(net, r);
        net.run();
        h.release();
        net.advance(REKEY_GRACE_MS + 20_000);
        expectAgree(net, 1);
        expect(lateNode.installed.size).toBe(1);
        if (seed > 6) return;
      }
    });
  }
});
