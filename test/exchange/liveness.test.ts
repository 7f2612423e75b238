/**
 * Liveness (RFC 7296 §2.4), reconnecting, lifetimes: DPD only when nothing authenticated arrived
 * for `dpd` seconds, a dead peer within dpd + 13.1875·clamp(dpd/10, 0.1 s, 4 s) (retransmit.ts), then
 * reconnecting forever with capped backoff, back within 10 s of the peer's return.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, initiatorTunnel, responderTunnel, seeded, logged, expectEstablishedPair } from './harness.js';
import { count, events, expectAgree, ikeSa, isCreateChild, isInformational, pair } from './lifecycle.js';
import { IKE, ESP } from './lifecycle.js';

const deadAfter = (dpd: number) => dpd * 1000 + 13.1875 * Math.min(4000, Math.max(100, (dpd * 1000) / 10));

describe('DPD', () => {
  it('no liveness check while authenticated ESP keeps arriving', () => {
    const { net, i } = pair({ i: { dpd: 1 }, r: { dpd: 0 } });
    const before = net.wire.length;
    for (let k = 0; k < 120; k++) {
      net.advance(500);
      i.engine.noteInboundEsp('gsa', net.now);
    }
    expect(net.wire.slice(before).filter((p) => isInformational(p, I, false)).length).toBe(0);
  });

  it('a liveness check when idle for dpd seconds, answered, and the next one dpd later', () => {
    const { net } = pair({ i: { dpd: 1 }, r: { dpd: 0 } });
    const t0 = net.now;
    const before = net.wire.length;
    net.advance(999);
    expect(net.wire.length).toBe(before);
    net.advance(1);
    const sent = net.wire.slice(before);
    expect(sent.filter((p) => isInformational(p, I, false)).length).toBe(1);
    expect(sent.filter((p) => isInformational(p, R, true)).length).toBe(1);
    net.advance(1000);
    expect(net.wire.slice(before).filter((p) => isInformational(p, I, false)).length).toBe(2);
    expect(net.now - t0).toBe(2000);
    expectAgree(net, 1);
  });

  for (const dpd of [1, 2, 4, 10, 30]) {
    it(`dpd ${dpd} s: a silent peer is declared dead ${deadAfter(dpd)} ms after the last authenticated inbound`, () => {
      const { net, i } = pair({ i: { dpd }, r: { dpd: 0 } });
      const last = net.now;
      net.filter = (p) => (p.to.address === R ? 'drop' : 'deliver');
      net.advance(deadAfter(dpd) + 100);
      const dead = i.actions.find((a) => a.action.kind === 'event' && a.action.event.type === 'dpd-dead');
      expect(dead).toBeDefined();
      expect(dead!.at - last).toBeCloseTo(deadAfter(dpd), -1);
      if (dpd <= 4) expect(dead!.at - last).toBeLessThanOrEqual(2.5 * dpd * 1000);
      expect(i.installed.size).toBe(0);
      expect(events(i, 'ike-down')[0]!.reason).toBe('peer dead (DPD)');
      expect(events(i, 'reconnect').length).toBeGreaterThanOrEqual(1);
    });
  }

  it('forged, unauthenticated answers from the peer\'s address do not keep a dead peer alive', () => {
    const { net, i } = pair({ i: { dpd: 1 }, r: { dpd: 0 } });
    let forged = 0;
    net.filter = (p) => {
      if (p.to.address !== R) return 'deliver';
      // Answer every request with its own bytes flagged as a response: right SPIs and message
      // ID, wrong integrity.
      const bytes = new Uint8Array(p.bytes);
      bytes[19] = 0x20;
      forged++;
      net.queue.push({ from: p.to, to: p.from, natT: p.natT, bytes });
      return 'drop';
    };
    net.advance(3000);
    expect(forged).toBeGreaterThanOrEqual(5);
    expect(i.engine.drops.integrity).toBeGreaterThanOrEqual(5);
    expect(events(i, 'dpd-dead').length).toBe(1);
    expect(events(i, 'dpd-dead')[0]!.silentMs).toBeCloseTo(deadAfter(1), -1);
  });

  it('dpd: 0 sends no liveness checks', () => {
    const { net } = pair({ i: { dpd: 0 }, r: { dpd: 0 } });
    const before = net.wire.length;
    net.advance(600_000);
    expect(net.wire.length).toBe(before);
  });
});

describe('reconnect', () => {
  for (const outage of [47_000, 600_000, 3_600_000 + 1234]) {
    it(`after a ${outage / 1000} s outage the tunnel is back within 10 s of the peer's return`, () => {
      const { net, i, r } = pair({ i: { dpd: 1 }, r: { dpd: 0 } });
      let down = true;
      net.filter = (p) => (down ? 'drop' : 'deliver');
      net.advance(outage);
      const recon = events(i, 'reconnect');
      expect(recon.length).toBeGreaterThan(1);
      for (const e of recon) expect(e.inMs).toBeLessThanOrEqual(5000);
      expect(recon.map((e) => e.attempt)).toEqual(recon.map((_, k) => k + 1));
      down = false;
      const back = net.now;
      for (let t = 0; t < 10_000 && i.engine.status(net.now)[0]!.state !== 'established'; t += 100) net.advance(100);
      expect(i.engine.status(net.now)[0]!.state).toBe('established');
      expect(net.now - back).toBeLessThanOrEqual(10_000);
      // The peer kept its stale SA (no DPD there); INITIAL_CONTACT made it drop it.
      expect(r.engine.sas.size).toBe(1);
      expectAgree(net, 1);
      expect(ikeSa(i).initialContact).toBe(true);
    });
  }

  it('down NAME stops reconnecting, up NAME resumes', () => {
    const { net, i } = pair({ i: { dpd: 1 }, r: { dpd: 0 } });
    net.filter = () => 'drop';
    net.advance(30_000);
    net.perform(i, i.engine.down('gsa', net.now));
    const quiet = net.wire.length;
    const reconnects = events(i, 'reconnect').length;
    net.advance(120_000);
    expect(net.wire.length).toBe(quiet);
    expect(events(i, 'reconnect').length).toBe(reconnects);
    net.filter = () => 'deliver';
    net.perform(i, i.engine.up('gsa', net.now));
    net.advance(1000);
    expectAgree(net, 1);
  });

  it('a first initiation that exhausts its retransmits keeps reconnecting with capped backoff', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })], { random: seeded(3) });
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(4) });
    net.filter = () => 'drop';
    net.start(I);
    net.advance(400_000);
    const recon = events(i, 'reconnect');
    expect(recon.length).toBeGreaterThan(10);
    // While reconnecting no two IKE_SA_INITs are more than 2 s + 5 s apart.
    const sends = i.actions.filter((a) => a.action.kind === 'send' && a.at > i.actions.find((x) => x.action.kind === 'event' && x.action.event.type === 'reconnect')!.at).map((a) => a.at);
    for (let k = 1; k < sends.length; k++) expect(sends[k]! - sends[k - 1]!).toBeLessThanOrEqual(7000);
    net.filter = () => 'deliver';
    net.advance(10_000);
    expectEstablishedPair(net);
  });
});

describe('reconnect backoff when the peer refuses the Child SA', () => {
  it('a tunnel whose Child SA is always refused backs off to the cap instead of looping', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ['aes128gcm16'] })], { random: seeded(8) });
    net.add(R, [responderTunnel({ ike: IKE, esp: ['aes256gcm16'] })], { random: seeded(9) });
    net.start(I);
    net.advance(60_000);
    const recon = events(i, 'reconnect');
    expect(recon.length).toBeGreaterThan(5);
    expect(recon.length).toBeLessThan(25);
    expect(recon.at(-1)!.inMs).toBeGreaterThanOrEqual(2500);
  });
});

describe('lifetimes', () => {
  it('jitter: two tunnels set up at the same instant do not rekey at the same instant', () => {
    const R2 = '192.0.2.3';
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ name: 'a', ike: IKE, esp: ESP, dpd: 0 }), initiatorTunnel({ name: 'b', remoteAddress: R2, ike: IKE, esp: ESP, dpd: 0 })], { random: seeded(5) });
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP, dpd: 0, childLifetime: 7200, ikeLifetime: 36000 })], { random: seeded(6) });
    net.add(R2, [responderTunnel({ name: 'branch2', localAddress: R2, ike: IKE, esp: ESP, dpd: 0, childLifetime: 7200, ikeLifetime: 36000 })], { random: seeded(7) });
    net.start(I);
    const [a, b] = i.engine.status(net.now);
    expect(a!.state).toBe('established');
    expect(b!.state).toBe('established');
    expect(a!.children[0]!.installedAt).toBe(b!.children[0]!.installedAt);
    expect(a!.children[0]!.rekeyAt).not.toBe(b!.children[0]!.rekeyAt);
    expect(a!.ike!.rekeyAt).not.toBe(b!.ike!.rekeyAt);
    const start = net.now;
    net.advance(3_600_000);
    const rekeys = i.actions.filter((x) => x.action.kind === 'event' && x.action.event.type === 'child-rekeyed');
    expect(rekeys.length).toBe(2);
    expect(rekeys[0]!.at).not.toBe(rekeys[1]!.at);
    for (const x of rekeys) {
      expect(x.at - start).toBeGreaterThanOrEqual(0.8 * 3600_000);
      expect(x.at - start).toBeLessThanOrEqual(0.9 * 3600_000);
    }
  });

  it('hard expiry: a Child SA whose rekeys all fail goes at its lifetime and the tunnel is rebuilt', () => {
    const { net, i } = pair({ i: { dpd: 0, childLifetime: 60 }, r: { dpd: 0, childLifetime: 3600 } });
    const t0 = net.now;
    const [old] = [...i.installed.keys()];
    net.filter = (p) => (isCreateChild(p, I, false) ? 'drop' : 'deliver');
    net.advance(60_000);
    const removed = i.actions.find((a) => a.action.kind === 'remove-child' && a.action.spiIn === old);
    expect(removed!.at - t0).toBe(60_000);
    expect(logged(i, /Child SA reached its hard lifetime without a successful rekey/)).toBe(true);
    net.advance(10_000);
    const [fresh] = expectAgree(net, 1);
    expect(fresh).not.toBe(old);
    expect(count(i, 'install-child')).toBe(2);
  });
});
