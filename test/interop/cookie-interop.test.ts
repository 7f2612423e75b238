/**
 * Our responder COOKIE (RFC 7296 §2.6) against a real initiator: strongSwan 5.9.8 initiates to a
 * branchgate responder daemon configured with `limits: { cookieThreshold: 0 }` (every
 * IKE_SA_INIT must carry a cookie). strongSwan must retry with our cookie and establish, which
 * proves the cookie format interoperates (with cookieThreshold 0 nothing else creates a half-open
 * SA), and the daemon's /metrics must count exactly one 'cookie-required' drop per attempt and no
 * 'invalid-cookie'. Two attempts, so a cookie of the second one is checked against a secret
 * already used once.
 *
 * The other way round: strongSwan demanding a cookie from our initiator. Its
 * charon.cookie_threshold = 0 turns cookies off (receiver.c: a threshold of 0 is "never"), and
 * the lab's strongswan.conf writer takes no extra options; but strongSwan ≥ 5.9 also demands a
 * cookie from an address that holds charon.cookie_threshold_ip (default 3) half-open IKE SAs. So
 * the test first sends three IKE_SA_INITs from our address that it never completes, then starts
 * the daemon as initiator: strongSwan answers with a COOKIE, the daemon retries with it and the
 * tunnel comes up.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { addAddress, createPair, exec, requirePrereqs, waitFor, type Pair } from './lab/netns.js';
import { initRequest } from '../exchange/init-request.js';
import { initiatorTunnel, seeded } from '../exchange/harness.js';
import { createKeyExchange } from '../../src/ike/crypto/dh.js';
import { DhId } from '../../src/ike/constants.js';
import { Charon } from './lab/strongswan.js';
import { one, scrape } from './lab/metrics-scrape.js';

const IKE = 'aes256gcm16-prfsha384-modp2048s256';
const ESP = 'aes256gcm16';
const PSK = 'cookie-interop-psk-7Hq2';
const BG_INNER = '100.64.31.1';
const SW_INNER = '100.64.32.1';
const TUNNEL = 'gw';
const CONN = 'branch';
const METRICS = '127.0.0.1:9479';

describe('strongSwan initiator ↔ branchgate responder that always demands a COOKIE', () => {
  let pair: Pair | undefined;
  let sw: Charon | undefined;
  let bg: Branchgate | undefined;

  beforeAll(async () => {
    requirePrereqs();
    requireBuild();
    pair = await createPair({ tag: 'k' }); // a = branchgate 192.0.2.1, b = strongSwan 192.0.2.2
    await addAddress(pair.a, 'lo', `${BG_INNER}/32`);
    await addAddress(pair.b, 'lo', `${SW_INNER}/32`);
    sw = await Charon.start(pair.b, { tag: 'ksw', levels: { net: 2 } });
    sw.writeConns([{
      name: CONN, localAddrs: pair.addrB, remoteAddrs: pair.addrA, localId: pair.addrB, remoteId: pair.addrA, psk: PSK,
      proposals: [IKE], espProposals: [ESP], localTs: [`${SW_INNER}/32`], remoteTs: [`${BG_INNER}/32`],
    }]);
    await sw.loadAll();
    bg = await Branchgate.start(pair.a, [tunnel(false)], {
      tag: 'cookie', logLevel: 'info', extra: { control: { metrics: METRICS }, limits: { cookieThreshold: 0 } },
    });
  }, 60_000);

  const tunnel = (initiate: boolean): BgTunnelConfig => ({
    name: TUNNEL, localAddress: pair!.addrA, remoteAddress: pair!.addrB, psk: PSK, ike: [IKE], esp: [ESP],
    initiate, dpd: 0, localTs: [`${BG_INNER}/32`], remoteTs: [`${SW_INNER}/32`], interface: 'bg0',
  });

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await sw?.stop().catch(() => undefined);
    await pair?.destroy();
  });

  it('strongSwan retries with our COOKIE and establishes; one cookie-required drop per attempt', async () => {
    if (!pair || !sw || !bg) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    const s = sw;
    const mark = s.logMark();
    onTestFailed(() => console.error(`${d.logs(80)}\n${s.logSince(mark, 120)}`));
    const drops = async () => {
      const samples = await scrape(pair!.a, METRICS);
      const reason = (r: string) => one(samples, 'branchgate_ike_datagrams_dropped_total', { reason: r });
      return { cookie: reason('cookie-required'), invalid: reason('invalid-cookie') };
    };

    for (let attempt = 1; attempt <= 2; attempt++) {
      await s.initiate('net', CONN, 20);
      await Promise.all([d.waitEstablished(TUNNEL, 20_000), s.waitEstablished(CONN, 20_000)]);
      expect(await drops(), `attempt ${attempt}`).toEqual({ cookie: attempt, invalid: 0 });
      const ours = await d.tunnel(TUNNEL);
      const theirs = (await s.listSas()).find((x) => x.name === CONN);
      expect(theirs?.initiator).toBe(true);
      expect(ours?.ike?.spiI).toBe(theirs?.initiatorSpi.toLowerCase());
      expect(ours?.ike?.spiR).toBe(theirs?.responderSpi.toLowerCase());
      await s.terminateAll();
      await waitFor('branchgate to take the Delete', async () => ((await d.tunnel(TUNNEL))?.state === 'down' ? true : undefined), 10_000);
    }
    const lines = d.logRecords().map((r) => String(r.msg ?? ''));
    expect(lines.some((m) => /answering with a COOKIE/.test(m))).toBe(true);
  }, 90_000);

  it('strongSwan demands a COOKIE from our initiator (cookie_threshold_ip): the daemon retries with it and establishes', async () => {
    if (!pair || !sw || !bg) throw new Error('lab setup failed (see beforeAll error)');
    await bg.stop();
    const s = sw;
    const mark = s.logMark();
    // Three half-open IKE SAs from our address at strongSwan: valid requests nobody completes.
    const rnd = seeded(42);
    const proposals = initiatorTunnel({ ike: [IKE], esp: [ESP] }).ikeProposals;
    const hexes = [0, 1, 2].map(() => Buffer.from(initRequest({
      spiI: rnd(8), nonce: rnd(32), group: DhId.MODP_2048_256, ke: createKeyExchange(DhId.MODP_2048_256).publicValue, proposals,
    })).toString('hex'));
    const js = `const s = require('dgram').createSocket('udp4'); s.bind(0, '${pair.addrA}', async () => {
      for (const h of process.argv.slice(1)) await new Promise((r) => s.send(Buffer.from(h, 'hex'), 500, '${pair!.addrB}', r));
      setTimeout(() => s.close(), 200); });`;
    await exec(pair.a, [process.execPath, '-e', js, ...hexes]);
    await waitFor('three half-open IKE SAs at strongSwan', async () =>
      ((await s.listSas()).filter((x) => x.state === 'CONNECTING').length >= 3 ? true : undefined), 10_000);

    const d = await Branchgate.start(pair.a, [tunnel(true)], { tag: 'cookie-i', logLevel: 'info' });
    bg = d;
    onTestFailed(() => console.error(`${d.logs(80)}\n${s.logSince(mark, 160)}`));
    await Promise.all([d.waitEstablished(TUNNEL, 20_000), s.waitEstablished(CONN, 20_000)]);
    const lines = d.logRecords().map((r) => String(r.msg ?? ''));
    expect(lines.some((m) => /responder asked for a COOKIE; retrying IKE_SA_INIT with it/.test(m))).toBe(true);
    expect(s.logSince(mark, 2000)).toMatch(/sending COOKIE notify to 192\.0\.2\.1/);
  }, 90_000);
});
