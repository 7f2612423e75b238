/**
 * Drops by reason against a running daemon: with a real tunnel to strongSwan
 * (kernel-libipsec) in the four-namespace lab, hostile ESP-in-UDP datagrams sent to branchgate's
 * port 4500 from the peer's namespace move exactly one named reason each in `list-sas --json`
 * `dataplane.drops` and in `branchgate_esp_datagrams_dropped_total{reason}`:
 *
 *   N with an SPI nobody installed          → unknown-spi
 *   N truncated (our SPI, 8–27 octets)      → short
 *   N real ESP of the tunnel, sequence number moved far ahead (so the replay window lets them
 *     through to the ICV check, which they fail) → auth
 *   N real ESP of the tunnel, captured with tcpdump in the namespace and resent → replay
 *   N real ESP of a Child SA that a rekey has since deleted → unknown-spi
 *
 * A datagram the kernel dropped before the daemon read it would show up in list-sas `udpSockets`
 * (/proc/net/udp) instead: each check is reason + kernel drops = N, and the kernel count is
 * reported. Run for the native dataplane and the TypeScript one (BRANCHGATE_DATAPLANE=ts).
 *
 *   branch 100.64.10.2 → cpe (branchgate 192.0.2.1) ══ gw (strongSwan 198.51.100.2) → svc 100.64.20.2
 *
 * Everything is sent inside the test's namespaces; the sender binds 198.51.100.2 in gw.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, requireBuild } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { exec, makeTempDir, trackProcess, waitFor } from './lab/netns.js';
import { ping, requireTrafficTools } from './lab/traffic.js';
import { one, scrape } from './lab/metrics-scrape.js';

const PSK = 'esp-drops-psk-7c1d';
const TUNNEL = 'gw';
const CONN = 'branch';
const METRICS = '127.0.0.1:9478';
const N = 50;

interface ListSas {
  tunnels: { name: string; children: { spiIn: string }[] }[];
  dataplane?: { drops: Record<string, number> };
  udpSockets?: { socket: string; inode: number; drops: number }[];
}

/** The UDP payloads of a pcap file (tcpdump -w; Ethernet or Linux cooked capture), IPv4 only. */
function udpPayloads(file: string): Buffer[] {
  const b = readFileSync(file);
  if (b.length < 24 || b.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap file`);
  const link = b.readUInt32LE(20);
  const l2 = link === 1 ? 14 : link === 113 ? 16 : link === 276 ? 20 : -1;
  if (l2 < 0) throw new Error(`${file}: link type ${link} not handled`);
  const out: Buffer[] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const cap = b.readUInt32LE(off + 8);
    const pkt = b.subarray(off + 16, off + 16 + cap);
    off += 16 + cap;
    const ip = pkt.subarray(l2);
    if (ip.length < 28 || ip[0]! >> 4 !== 4 || ip[9] !== 17) continue;
    const ihl = (ip[0]! & 15) * 4;
    const udpLen = ip.readUInt16BE(ihl + 4);
    out.push(Buffer.from(ip.subarray(ihl + 8, ihl + udpLen)));
  }
  return out;
}

const spiOf = (b: Buffer): number => b.readUInt32BE(0);

for (const dataplane of ['native', 'ts'] as const) {
  describe(`hostile ESP against a daemon with a live tunnel (${dataplane} dataplane)`, () => {
    let topo: Topology | undefined;
    let gw: Charon | undefined;
    let bg: Branchgate | undefined;
    let dir = '';

    beforeAll(async () => {
      requireTrafficTools();
      requireBuild();
      topo = await createTopology({ tag: dataplane === 'ts' ? 'dt' : 'dn' });
      dir = makeTempDir(`espdrops${dataplane}`);
      gw = await Charon.start(topo.gw, { tag: `ed${dataplane}` });
      gw.writeConns([siteConn(CONN, PSK)]);
      await gw.loadAll();
      bg = await Branchgate.start(topo.cpe, [siteTunnel(TUNNEL, PSK, { mssClamp: 1340 })], {
        tag: `ed${dataplane}`, logLevel: 'info', extra: { control: { metrics: METRICS } }, env: { BRANCHGATE_DATAPLANE: dataplane },
      });
      await Promise.all([bg.waitEstablished(TUNNEL, 20_000), gw.waitEstablished(CONN, 20_000)]);
      await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
    }, 60_000);

    afterAll(async () => {
      await bg?.stop().catch(() => undefined);
      await gw?.stop().catch(() => undefined);
      await topo?.destroy();
    });

    async function listSas(): Promise<ListSas> {
      return JSON.parse((await bg!.cli(['list-sas', '--json'])).stdout) as ListSas;
    }

    /** Drops by reason and the kernel's drops on 192.0.2.1:4500 (all our sockets there). */
    async function counts(): Promise<{ drops: Record<string, number>; kernel: number; spis: number[] }> {
      const d = await listSas();
      if (!d.dataplane) throw new Error('list-sas --json has no dataplane.drops (is the daemon wired to Datapath.dropStats()?)');
      const kernel = (d.udpSockets ?? []).filter((s) => s.socket === `${ADDR.cpeWan}:4500`).reduce((a, s) => a + s.drops, 0);
      const spis = d.tunnels.find((t) => t.name === TUNNEL)?.children.map((c) => Number.parseInt(c.spiIn, 16)) ?? [];
      return { drops: d.dataplane.drops, kernel, spis };
    }

    /** Send the datagrams from gw (198.51.100.2, an ephemeral port) to branchgate's port 4500, paced. */
    async function send(datagrams: Buffer[], name: string): Promise<void> {
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(datagrams.map((d) => d.toString('hex'))));
      const js = `const s=require('dgram').createSocket('udp4');const l=JSON.parse(require('fs').readFileSync(${JSON.stringify(file)},'utf8'));`
        + `s.bind(0,${JSON.stringify(ADDR.gwIke)},async()=>{for(let i=0;i<l.length;i++){await new Promise((r)=>s.send(Buffer.from(l[i],'hex'),4500,${JSON.stringify(ADDR.cpeWan)},r));`
        + `if(i%10===9)await new Promise((r)=>setTimeout(r,2));}s.close();});`;
      await exec(topo!.gw, [process.execPath, '-e', js], { timeoutMs: 20_000 });
    }

    /** Capture the ESP strongSwan sends to branchgate while `during` runs (tcpdump in cpe, on wan0), at least `want` datagrams. */
    async function capture(want: number, during: () => Promise<unknown>): Promise<Buffer[]> {
      const file = join(dir, `esp-${Date.now()}.pcap`);
      const p = spawn('ip', ['netns', 'exec', topo!.cpe, 'tcpdump', '-i', 'wan0', '-n', '-U', '-w', file,
        `udp and src host ${ADDR.gwIke} and dst port 4500`], { stdio: ['ignore', 'ignore', 'pipe'] });
      trackProcess(p);
      let err = '';
      p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      await waitFor('tcpdump listening', async () => (/listening on/.test(err) ? true : undefined), 10_000, 50);
      await during();
      // ESP only: not the non-ESP marker (IKE), not a one-octet keepalive. On a busy machine
      // tcpdump writes what it received well after the fact (-U: per packet), so wait for it.
      const esp = (): Buffer[] => udpPayloads(file).filter((d) => d.length > 8 && spiOf(d) !== 0);
      const got = await waitFor(`tcpdump to write ${want} ESP datagrams`, async () => {
        const e = esp();
        return e.length >= want ? e : undefined;
      }, 10_000, 100).catch((e: unknown) => {
        throw new Error(`${(e as Error).message}; tcpdump: ${err.trim()}`);
      });
      const done = new Promise((r) => p.once('exit', r));
      p.kill('SIGINT');
      await done;
      return got;
    }

    it(`each hostile class moves its reason by exactly ${N} (kernel drops counted apart)`, async () => {
      const d = bg!;
      onTestFailed(() => console.error(d.logs(80)));
      const before = await counts();
      expect(before.spis.length).toBe(1);
      const spi = before.spis[0]!;
      // Real ESP of the live tunnel: the echo replies strongSwan seals for us.
      const esp = (await capture(2 * N + 10, async () => {
        const p = await ping(topo!.branch, ADDR.svc, 2 * N + 10, { intervalS: 0.01 });
        expect(p.received, p.output).toBe(2 * N + 10);
      })).filter((x) => spiOf(x) === spi);
      expect(esp.length, 'captured ESP of the current Child SA').toBeGreaterThanOrEqual(2 * N);

      const installed = new Set(before.spis);
      const foreign = Array.from({ length: N }, (_, i) => {
        const b = Buffer.alloc(120, 0x5a);
        let s = (0x8a00_0000 + i * 7919) >>> 0;
        while (installed.has(s)) s++;
        b.writeUInt32BE(s, 0);
        return b;
      });
      const truncated = Array.from({ length: N }, (_, i) => esp[i]!.subarray(0, 8 + (i % 20)));
      const forged = Array.from({ length: N }, (_, i) => {
        const b = Buffer.from(esp[i]!);
        b.writeUInt32BE(0x7000_0000 + i, 4); // far ahead of the window: only the ICV can refuse it
        b[b.length - 20]! ^= 0x01;
        return b;
      });
      const replayed = esp.slice(0, N);

      const classes: [string, Buffer[]][] = [['unknown-spi', foreign], ['short', truncated], ['auth', forged], ['replay', replayed]];
      let prev = before;
      const report: string[] = [];
      for (const [reason, list] of classes) {
        await send(list, reason);
        const now = await waitFor(`${reason} counted`, async () => {
          const c = await counts();
          return (c.drops[reason]! - prev.drops[reason]!) + (c.kernel - prev.kernel) >= N ? c : undefined;
        }, 10_000, 100);
        const moved = now.drops[reason]! - prev.drops[reason]!;
        const kernel = now.kernel - prev.kernel;
        report.push(`${reason}: +${moved}, kernel +${kernel}`);
        expect(moved + kernel, report.join('; ')).toBe(N);
        // No other receive reason moved: each datagram is counted under one reason only. (tx-*
        // may: the kernel sends IPv6 router solicitations and MLD into the TUN, tx-not-ipv4.)
        for (const r of Object.keys(now.drops)) {
          if (r !== reason && !r.startsWith('tx-')) expect(now.drops[r], `${r} while sending ${reason}`).toBe(prev.drops[r]);
        }
        prev = now;
      }
      console.log(`[esp-drops ${dataplane}] ${report.join('; ')}`);

      // The tunnel still carries traffic: none of this touched the SA's state.
      const p = await ping(topo!.branch, ADDR.svc, 5, { intervalS: 0.05 });
      expect(p.received, p.output).toBe(5);

      // A Child SA deleted by a rekey: its ESP (captured while it lived) is unknown-spi now.
      const r = await d.rekey(TUNNEL, { wait: true });
      expect(r.code, r.stderr).toBe(0);
      await waitFor('the old Child SA gone', async () => {
        const c = await counts();
        return c.spis.length === 1 && c.spis[0] !== spi ? c : undefined;
      }, 15_000, 100);
      await new Promise((res) => setTimeout(res, 2500)); // the old inbound SA lingers 2 s after the rekey (REKEY_GRACE_MS)
      const beforeDeleted = await counts();
      await send(esp.slice(N, 2 * N), 'deleted');
      const after = await waitFor('deleted-SA ESP counted', async () => {
        const c = await counts();
        return (c.drops['unknown-spi']! - beforeDeleted.drops['unknown-spi']!) + (c.kernel - beforeDeleted.kernel) >= N ? c : undefined;
      }, 10_000, 100);
      const moved = after.drops['unknown-spi']! - beforeDeleted.drops['unknown-spi']!;
      const kernel = after.kernel - beforeDeleted.kernel;
      console.log(`[esp-drops ${dataplane}] deleted SA: unknown-spi +${moved}, kernel +${kernel}`);
      expect(moved + kernel).toBe(N);
      expect(after.drops.replay, 'not replay: the SA is gone').toBe(beforeDeleted.drops.replay);

      // /metrics says the same as list-sas.
      const samples = await scrape(topo!.cpe, METRICS);
      const doc = await listSas();
      for (const reason of ['unknown-spi', 'short', 'auth', 'replay']) {
        expect(one(samples, 'branchgate_esp_datagrams_dropped_total', { reason }), reason).toBe(doc.dataplane!.drops[reason]);
      }
      expect(one(samples, 'branchgate_udp_receive_drops_total', { socket: `${ADDR.cpeWan}:4500` }))
        .toBe((doc.udpSockets ?? []).filter((s) => s.socket === `${ADDR.cpeWan}:4500`).reduce((a, s) => a + s.drops, 0));
    }, 90_000);
  });
}
