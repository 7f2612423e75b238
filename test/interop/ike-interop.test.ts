/**
 * branchgate ↔ strongSwan 5.9.8 interop matrix (real peer, kernel-libipsec, PSK):
 *  - every GSA default phase-1 row (gsa.md §2.2, C1–C8) in both directions, with the three
 *    phase-2 rows spread so each runs at least once per direction;
 *  - curve25519 and ecp384 rows (with FQDN identities and a %any responder on the way);
 *  - natT: force (strongSwan must see branchgate's faked NAT-D: nat-remote, UDP encap, port 4500);
 *  - profile: gsa-default offered to a strongSwan responder that accepts exactly one combination
 *    (one with the group we guess first, one that needs the INVALID_KE_PAYLOAD retry).
 * One namespace pair and one charon for the whole file; each case reloads swanctl.conf, starts a
 * fresh daemon, and both sides must report the same established SA (assertSameSa).
 *
 * Lab fact: strongSwan with kernel-libipsec always forces UDP encapsulation by faking its own
 * NAT_DETECTION_SOURCE_IP, so branchgate must always detect "peer behind NAT" and float to 4500.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { assertSameSa, expectedAlgs } from './lab/compare.js';
import { addAddress, createPair, requirePrereqs, type Pair } from './lab/netns.js';
import { Charon, type SwanConn } from './lab/strongswan.js';

const P1 = [
  'aes256gcm16-prfsha384-modp2048s256', 'aes128gcm16-prfsha256-modp2048s256', 'aes256-sha384-modp2048s256', 'aes128-sha256-modp2048s256',
  'aes256gcm16-prfsha384-modp2048', 'aes128gcm16-prfsha256-modp2048', 'aes256-sha384-modp2048', 'aes128-sha256-modp2048',
];
const P2 = ['aes256gcm16', 'aes192gcm16', 'aes128gcm16'];

interface Case {
  title: string;
  /** Who sends IKE_SA_INIT. */
  init: 'branchgate' | 'strongswan';
  /** strongSwan's (single) IKE proposal; branchgate uses it too unless `profile`. */
  ike: string;
  esp: string;
  profile?: boolean;
  natT?: 'force';
  fqdn?: boolean;
  remoteAny?: boolean;
}

const CASES: Case[] = [
  ...P1.map((ike, i): Case => ({ title: `C${i + 1}`, init: 'branchgate', ike, esp: P2[i % 3] as string })),
  ...P1.map((ike, i): Case => ({ title: `C${i + 1}`, init: 'strongswan', ike, esp: P2[(i + 1) % 3] as string })),
  { title: 'curve25519, FQDN ids', init: 'branchgate', ike: 'aes256gcm16-prfsha384-curve25519', esp: 'aes128gcm16', fqdn: true },
  { title: 'curve25519', init: 'strongswan', ike: 'aes128-sha256-curve25519', esp: 'aes256gcm16' },
  { title: 'ecp384', init: 'branchgate', ike: 'aes256-sha384-ecp384', esp: 'aes192gcm16' },
  { title: 'ecp384, remoteAddress %any', init: 'strongswan', ike: 'aes256gcm16-prfsha384-ecp384', esp: 'aes128gcm16', remoteAny: true },
  { title: 'natT force', init: 'branchgate', ike: P1[0] as string, esp: 'aes256gcm16', natT: 'force' },
  { title: 'natT force', init: 'strongswan', ike: P1[5] as string, esp: 'aes128gcm16', natT: 'force' },
  { title: 'profile gsa-default vs C3 only', init: 'branchgate', ike: P1[2] as string, esp: 'aes128gcm16', profile: true },
  { title: 'profile gsa-default vs C8 only (INVALID_KE retry)', init: 'branchgate', ike: P1[7] as string, esp: 'aes192gcm16', profile: true },
];

const PSK = 'interop-psk-Zq7!#x';
const BG_INNER = '100.64.1.1';
const SW_INNER = '100.64.2.1';
const TUNNEL = 'gsa';

describe('branchgate ↔ strongSwan interop', () => {
  let pair: Pair | undefined;
  let sw: Charon | undefined;
  let bg: Branchgate | undefined;
  let mark = 0;

  beforeAll(async () => {
    requirePrereqs();
    requireBuild();
    pair = await createPair({ tag: 'i' }); // a = branchgate 192.0.2.1, b = strongSwan 192.0.2.2
    await addAddress(pair.a, 'lo', `${BG_INNER}/32`);
    await addAddress(pair.b, 'lo', `${SW_INNER}/32`);
    sw = await Charon.start(pair.b, { tag: 'isw' });
  });

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await sw?.stop().catch(() => undefined);
    await pair?.destroy();
  });

  beforeEach(() => {
    mark = sw?.logMark() ?? 0;
  });

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      console.error(`=== ${ctx.task.name} failed ===\n${bg?.logs(80) ?? '(branchgate not started)'}\n${sw?.logSince(mark, 120) ?? ''}`);
    }
    await bg?.stop().catch(() => undefined);
    bg = undefined;
    await sw?.terminateAll().catch(() => undefined);
  });

  CASES.forEach((c, n) => {
    const label = `${c.init === 'branchgate' ? 'branchgate → strongSwan' : 'strongSwan → branchgate'}: ${c.title} ` +
      `${c.profile ? 'profile gsa-default ⇄ ' : ''}${c.ike} + esp ${c.esp}${c.natT ? ' natT force' : ''}`;

    it(label, async () => {
      if (!pair || !sw) throw new Error('lab setup failed (see beforeAll error)');
      const conn = `c${n}`;
      const bgId = c.fqdn ? 'branch1.example.net' : pair.addrA;
      const swId = c.fqdn ? 'gw.example.net' : pair.addrB;
      const swConn: SwanConn = {
        name: conn, localAddrs: pair.addrB, remoteAddrs: pair.addrA, localId: swId, remoteId: bgId, psk: PSK,
        proposals: [c.ike], espProposals: [c.esp], localTs: [`${SW_INNER}/32`], remoteTs: [`${BG_INNER}/32`],
      };
      sw.writeConns([swConn]);
      await sw.loadAll();

      const tunnel: BgTunnelConfig = {
        name: TUNNEL,
        localAddress: pair.addrA,
        remoteAddress: c.remoteAny ? '%any' : pair.addrB,
        ...(c.fqdn ? { localId: `fqdn:${bgId}`, remoteId: `fqdn:${swId}` } : {}),
        ...(c.remoteAny ? { remoteId: '%any' } : {}),
        psk: PSK,
        ...(c.profile ? { profile: 'gsa-default' as const } : { ike: [c.ike], esp: [c.esp] }),
        natT: c.natT ?? 'auto',
        initiate: c.init === 'branchgate',
        dpd: 0,
        localTs: [`${BG_INNER}/32`],
        remoteTs: [`${SW_INNER}/32`],
        interface: 'bg0',
      };
      bg = await Branchgate.start(pair.a, [tunnel], { tag: `i${n}` });
      if (c.init === 'strongswan') await sw.initiate('net', conn, 20);

      await Promise.all([bg.waitEstablished(TUNNEL, 20_000), sw.waitEstablished(conn, 20_000)]);
      // read both again so neither snapshot predates the other's final state
      const ours = await bg.tunnel(TUNNEL);
      const theirs = (await sw.listSas()).find((s) => s.name === conn);
      if (!ours || !theirs) throw new Error(`SA vanished: ours ${JSON.stringify(ours)}, theirs ${JSON.stringify(theirs)}`);

      assertSameSa(ours, theirs, { ike: expectedAlgs(c.ike), esp: expectedAlgs(c.esp) });
      expect(theirs.initiator, 'strongSwan role').toBe(c.init === 'strongswan');
      expect(ours.children).toHaveLength(1);
      expect(ours.ike?.spiI).toMatch(/^[0-9a-f]{16}$/);
      expect(ours.ike?.spiR).toMatch(/^[0-9a-f]{16}$/);
      expect(ours.children[0]?.spiIn).toMatch(/^[0-9a-f]{8}$/);
      // libipsec fakes its NAT-D, so we must see a NAT, float to 4500 and encapsulate ESP
      expect(ours.natDetected, 'branchgate natDetected').toBe(true);
      expect([theirs.localPort, theirs.remotePort]).toEqual([4500, 4500]);
      expect(ours.local).toBe(`${pair.addrA}:4500`);
      expect(theirs.children[0]?.encap).toBe(true);
      // strongSwan's nat-remote means "the peer's NAT_DETECTION_SOURCE_IP did not match". The
      // daemon's datapath carries ESP only in UDP 4500 (like libipsec), so it always fakes its
      // NAT-D and asks every peer to encapsulate, with natT auto as with force. (The engine alone
      // keeps auto and force apart: test/exchange/establish.test.ts.)
      expect(theirs.natRemote, 'strongSwan nat-remote (branchgate faked NAT-D)').toBe(true);
      expect(ours.children[0]?.encap).toBe(true);
      if (c.fqdn) expect([theirs.localId, theirs.remoteId]).toEqual([swId, bgId]);
    }, 30_000);
  });

  it('covers every GSA default phase-1 and phase-2 row in each direction', () => {
    for (const init of ['branchgate', 'strongswan'] as const) {
      const mine = CASES.filter((c) => c.init === init && !c.profile);
      expect(P1.filter((p) => !mine.some((c) => c.ike === p))).toEqual([]);
      expect(P2.filter((p) => !mine.some((c) => c.esp === p))).toEqual([]);
    }
  });
});
