/**
 * ChaCha20-Poly1305 (RFC 7634) against strongSwan 5.9.8 (kernel-libipsec) in the lab
 * (lab/topology.ts): the IKE SA (SK payload, RFC 7634 §3) and the Child SA (ESP, §2) both
 * negotiate ENCR_CHACHA20_POLY1305, branchgate runs the native datapath (BRANCHGATE_DATAPLANE=native:
 * the daemon refuses to start without it, and its I/O threads bg-dp-tx/bg-dp-rx must exist), and
 * ping and iperf3 cross the tunnel both ways with both sides' counters accounting for the payload.
 * A second round does the same on the TypeScript datapath, so both of branchgate's ESP paths
 * interoperate with strongSwan's implementation (which gives ChaCha20 from its openssl or chapoly
 * plugin: `swanctl --list-algs` must show it).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, childSum, requireBuild } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { iperf3, mbit, ping, requireTrafficTools } from './lab/traffic.js';

const IKE = 'chacha20poly1305-prfsha256-curve25519';
const ESP = 'chacha20poly1305';
const PSK = 'chacha-interop-psk-5e1f09';
const CONN = 'branch';
const TUNNEL = 'gw';

/** The names of a process's threads (/proc/PID/task/TID/comm). */
function threads(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim());
}

describe('ChaCha20-Poly1305 (RFC 7634) ↔ strongSwan: IKE and ESP, native and TypeScript datapaths', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'cc' });
    gw = await Charon.start(topo.gw, { tag: 'ccgw' });
  });

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  it('strongSwan offers ChaCha20-Poly1305', async () => {
    if (!gw) throw new Error('lab setup failed (see beforeAll error)');
    const algs = (await gw.swanctl(['--list-algs'])).stdout;
    expect(algs, `swanctl --list-algs:\n${algs}`).toMatch(/CHACHA20_POLY1305\[(openssl|chapoly)\]/);
  });

  for (const dataplane of ['native', 'ts'] as const) {
    it(`${dataplane} datapath: IKE and ESP negotiate ChaCha20-Poly1305; ping and iperf3 5 s both ways`, async () => {
      if (!topo || !gw) throw new Error('lab setup failed (see beforeAll error)');
      const t = topo;
      const sw = gw;
      await bg?.stop().catch(() => undefined);
      bg = undefined;
      await sw.terminateAll();
      sw.writeConns([siteConn(CONN, PSK, { proposals: [IKE], espProposals: [ESP] })]);
      await sw.loadAll();
      const mark = sw.logMark();
      onTestFailed(() => console.error([bg?.logs(60) ?? '(branchgate not running)', sw.logSince(mark, 60)].join('\n')));
      const d = await Branchgate.start(t.cpe, [siteTunnel(TUNNEL, PSK, { ike: [IKE], esp: [ESP], mssClamp: 1340 })], {
        tag: `cc${dataplane}`, logLevel: 'info', env: { BRANCHGATE_DATAPLANE: dataplane },
      });
      bg = d;
      await Promise.all([d.waitEstablished(TUNNEL, 20_000), sw.waitEstablished(CONN, 20_000)]);
      await waitRouteDev(t.cpe, ADDR.svc, 'bg0');

      const sa = (await sw.listSas()).find((s) => s.name === CONN)!;
      expect(sa.encrAlg, 'strongSwan IKE SA cipher').toBe('CHACHA20_POLY1305');
      const child = sa.children.find((c) => c.state === 'INSTALLED')!;
      expect([child.encrAlg, child.integAlg ?? null], 'strongSwan Child SA: AEAD, no integrity').toEqual(['CHACHA20_POLY1305', null]);
      const mine = await d.tunnel(TUNNEL);
      expect([mine?.ike?.encr, mine?.children[0]?.encr], 'branchgate list-sas').toEqual(['CHACHA20_POLY1305', 'CHACHA20_POLY1305']);
      const names = threads(d.pid()!);
      expect(names.includes('bg-dp-tx') && names.includes('bg-dp-rx'), `the native engine's threads: ${names.join(', ')}`)
        .toBe(dataplane === 'native');

      const s0 = await d.status(TUNNEL);
      const w0 = (await sw.listSas()).find((s) => s.name === CONN)?.children.find((c) => c.state === 'INSTALLED');
      for (const [from, to] of [[t.branch, ADDR.svc], [t.svc, ADDR.branch]] as const) {
        const p = await ping(from, to, 3);
        expect(p.received, `ping ${from} → ${to}\n${p.output}`).toBe(3);
      }
      const fwd = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 5 });
      const rev = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 5, reverse: true });
      console.log(`[chacha] ${dataplane}: iperf3 TCP 5 s branch→svc ${mbit(fwd.bitsPerSecond)} Mbit/s, svc→branch ${mbit(rev.bitsPerSecond)} Mbit/s`);
      const s1 = await d.status(TUNNEL);
      const w1 = (await sw.listSas()).find((s) => s.name === CONN)?.children.find((c) => c.state === 'INSTALLED');
      const delta = (k: 'bytesIn' | 'bytesOut'): number => childSum(s1, k) - childSum(s0, k);
      expect(delta('bytesOut'), 'branchgate bytesOut ≥ iperf3 branch→svc payload').toBeGreaterThanOrEqual(fwd.bytes);
      expect(delta('bytesIn'), 'branchgate bytesIn ≥ iperf3 svc→branch payload').toBeGreaterThanOrEqual(rev.bytes);
      expect((w1?.bytesIn ?? 0) - (w0?.bytesIn ?? 0), 'strongSwan decrypted what branchgate sealed').toBeGreaterThanOrEqual(fwd.bytes);
      expect((w1?.bytesOut ?? 0) - (w0?.bytesOut ?? 0), 'strongSwan sealed what branchgate decrypted').toBeGreaterThanOrEqual(rev.bytes);
      expect(s1?.children.reduce((n, c) => n + c.authFailures, 0), 'no ICV failures at branchgate').toBe(0);
    }, 60_000);
  }
});
