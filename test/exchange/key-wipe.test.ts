/**
 * Keys are zeroed when SAs go, as far as JavaScript can reach: the IKE SA's SKEYSEED
 * and SK_* (which the SK ciphers only view), the Child SA keys handed to the datapath once the
 * Child SA is removed, and the DH private values (KeyExchange.wipe: after IKE_SA_INIT, after a
 * rekey's answer, and when an SA goes in the middle of one).
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, initiatorTunnel, responderTunnel, seeded } from './harness.js';
import { hold, ikeSa, isCreateChild, name, pair, rekey } from './lifecycle.js';
import { createKeyExchange } from '../../src/ike/crypto/dh.js';
import type { KeyExchange } from '../../src/ike/crypto/types.js';
import { ExchangeType } from '../../src/ike/constants.js';
import { decodeOrFail } from './harness.js';

const allZero = (bs: Uint8Array[]) => bs.every((b) => b.every((x) => x === 0));
const nonZero = (bs: Uint8Array[]) => bs.filter((b) => b.length > 0).every((b) => b.some((x) => x !== 0));
/** A valid peer value for group 19, to show a wiped exchange refuses to compute. */
const peer19 = () => createKeyExchange(19).publicValue;

describe('key material is zeroed when SAs go', () => {
  it('down NAME: both sides zero SKEYSEED, every SK_* and the Child SA keys the datapath was given', () => {
    const { net, i, r } = pair();
    const captured = [i, r].map((n) => {
      const sa = ikeSa(n);
      return {
        ike: Object.values(sa.keys!) as Uint8Array[],
        child: [...n.installed.values()].flatMap((c) => Object.values(c.keys) as Uint8Array[]),
        sa,
      };
    });
    for (const c of captured) {
      expect(nonZero(c.ike)).toBe(true);
      expect(nonZero(c.child)).toBe(true);
    }
    net.perform(i, i.engine.down(name(i), net.now));
    net.run();
    expect(i.engine.status(net.now)[0]!.state).toBe('down');
    expect(r.engine.status(net.now)[0]!.state).toBe('down');
    for (const c of captured) {
      expect(allZero(c.ike), 'SKEYSEED and SK_*').toBe(true);
      expect(allZero(c.child), 'Child SA keys').toBe(true);
      expect(c.sa.keys).toBeNull();
      expect(c.sa.cipherIn).toBeNull();
      expect(c.sa.cipherOut).toBeNull();
    }
  });

  it('a Child SA rekey zeroes the old Child SA keys once the old SA leaves the datapath', () => {
    const { net, i } = pair();
    const [old] = [...i.installed.values()];
    const oldKeys = Object.values(old!.keys) as Uint8Array[];
    rekey(net, i);
    net.advance(5000); // past the grace period
    expect(i.installed.has(old!.info.spiIn)).toBe(false);
    expect(allZero(oldKeys)).toBe(true);
    expect(nonZero([...i.installed.values()].flatMap((c) => Object.values(c.keys) as Uint8Array[]))).toBe(true);
  });

  it('the initiator wipes its IKE_SA_INIT DH private value once the keys are derived', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: ['aes128gcm16-prfsha256-ecp256'], esp: ['aes128gcm16'] })], { random: seeded(1) });
    net.add(R, [responderTunnel({ ike: ['aes128gcm16-prfsha256-ecp256'], esp: ['aes128gcm16'] })], { random: seeded(2) });
    const h = hold(net, (p) => p.from.address === R && decodeOrFail(p.bytes).header.exchangeType === ExchangeType.IKE_SA_INIT);
    net.start(I);
    const ke = ikeSa(i).ke!;
    expect(() => ke.computeShared(peer19())).not.toThrow();
    h.release();
    net.run();
    expect(i.engine.status(net.now)[0]!.state).toBe('established');
    expect(ikeSa(i).ke).toBeNull();
    expect(() => ke.computeShared(peer19())).toThrow(/wiped/);
  });

  it('an IKE SA that goes during IKE_SA_INIT wipes its DH private value', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: ['aes128gcm16-prfsha256-ecp256'], esp: ['aes128gcm16'] })], { random: seeded(1) });
    net.filter = () => 'drop';
    net.start(I);
    const ke = ikeSa(i).ke!;
    net.perform(i, i.engine.down(name(i), net.now));
    expect(() => ke.computeShared(peer19())).toThrow(/wiped/);
  });

  for (const what of ['child', 'ike'] as const) {
    it(`a ${what === 'child' ? 'Child SA rekey with PFS' : 'IKE SA rekey'}: the initiator's DH private value is wiped when the answer is handled, and when the SA goes before it`, () => {
      const { net, i } = pair({ i: { pfs: 'same' }, r: { pfs: 'same' } });
      // The private DH value of the task in flight (a child-rekey keeps it in its CreateChildExchange).
      const taskKe = (): KeyExchange => {
        const t = ikeSa(i).outstanding!.task as unknown as { ke?: KeyExchange; exchange?: { ke: KeyExchange } };
        return (t.exchange?.ke ?? t.ke)!;
      };
      // Answered: wiped after the answer.
      const h = hold(net, (p) => isCreateChild(p, R, true));
      rekey(net, i, what);
      net.run();
      const ke = taskKe();
      expect(() => ke.computeShared(peer19())).not.toThrow();
      h.release();
      net.run();
      expect(() => ke.computeShared(peer19())).toThrow(/wiped/);
      // The SA goes while a rekey waits for its answer: wiped with the SA.
      net.advance(60_000);
      const h2 = hold(net, (p) => isCreateChild(p, R, true));
      rekey(net, i, what);
      net.run();
      const ke2 = taskKe();
      net.filter = () => 'drop';
      void h2;
      net.perform(i, i.engine.down(name(i), net.now));
      net.advance(60_000);
      expect(() => ke2.computeShared(peer19())).toThrow(/wiped/);
    });
  }
});
