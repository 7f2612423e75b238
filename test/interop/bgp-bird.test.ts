/**
 * BGP through BIRD 2, for real, in two network namespaces made by this test:
 *
 *   cpe ns: BgpSupervisor → bird (our generated config)       gsa ns: bird (gsa-peer.ts, ASN 65476)
 *           100.64.0.1/32 on lo (added by the supervisor)              100.64.0.2/32 on lo
 *           gsa0 ────────────── veth, the tunnel's stand-in ──────────── cpe0
 *
 * The "tunnel interface" is a veth (no TUN or IKE here: BGP over a real IKE tunnel is the
 * lab's). Lab addresses only: BGP addresses in 100.64.0.0/10, the branch LAN 192.0.2.0/24, the
 * tunnel endpoint 198.51.100.10. GSA's Microsoft 365 prefixes exist only as routes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BgpSupervisor, type BgpEvent } from '../../src/bgp/supervisor.js';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import type { BgpConfig } from '../../src/config/types.js';
import {
  addAddress, addVeth, createNamespace, deleteNamespace, exec, makeTempDir, removeTempDir, requirePrereqs,
  run, sweepStale, trackProcess, uniqueName, waitFor,
} from './lab/netns.js';
import { spawn } from 'node:child_process';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const ENDPOINT = '198.51.100.10';
const LAN = '192.0.2.0/24';
// Announced by the peer but never to be believed: a cover of our endpoint, a piece of our LAN,
// and GSA's own BGP address as a route.
const POISON = ['198.51.100.0/24', '192.0.2.128/25', '100.64.0.2/32'];
const FLOOD = Array.from({ length: 30 }, (_, i) => `100.96.${i}.0/24`);

interface KRoute { dst: string; gateway?: string; dev?: string; type?: string; protocol?: string }

describe('BGP with BIRD 2 in network namespaces', () => {
  let cpe = '';
  let gsa = '';
  let dir = '';
  let sup: BgpSupervisor;
  const events: BgpEvent[] = [];
  const bgp: BgpConfig = {
    asn: 65010, address: '100.64.0.1', advertise: [LAN], maxPrefixes: 40, holdTime: 9,
    neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 't1' }],
  };
  const tunnels = [{ name: 't1', interface: 'gsa0', remoteAddress: ENDPOINT }];

  const birdRoutes = async (ns: string): Promise<KRoute[]> =>
    JSON.parse((await exec(ns, ['ip', '-j', 'route', 'show', 'proto', 'bird'])).stdout || '[]') as KRoute[];
  const neighbor = () => sup.status().neighbors[0]!;
  const until = (what: string, ok: () => boolean, ms = 30_000) =>
    waitFor(what, async () => (await sup.refresh(), ok() ? true : undefined), ms, 250);

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs({ strongswan: false });
    sweepStale();
    cpe = await createNamespace(uniqueName('bgpc'));
    gsa = await createNamespace(uniqueName('bgpg'));
    await addVeth(cpe, 'gsa0', gsa, 'cpe0');
    await addAddress(gsa, 'lo', '100.64.0.2/32');
    await exec(gsa, ['ip', 'route', 'add', '100.64.0.1/32', 'dev', 'cpe0']);
    dir = makeTempDir('bgp');
    const peerConf = join(dir, 'gsa.conf');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(peerConf, renderGsaPeerConfig({ address: '100.64.0.2', cpeAddress: '100.64.0.1', cpeAsn: 65010, interface: 'cpe0', extra: POISON, flood: FLOOD }));
    const peer = spawn('ip', ['netns', 'exec', gsa, BIRD, '-f', '-c', peerConf, '-s', join(dir, 'gsa.ctl')], { stdio: 'ignore' });
    trackProcess(peer);
    sup = new BgpSupervisor({
      bgp: { ...bgp, bird: { binary: BIRD, socket: join(dir, 'cpe.ctl'), config: join(dir, 'cpe.conf') } },
      tunnels, failMode: 'open', wrap: ['ip', 'netns', 'exec', cpe], pollMs: 300,
      backoff: { initialMs: 200, maxMs: 2000, stableMs: 60_000 }, holdClearMs: 1000,
    });
    sup.onEvent((e) => events.push(e));
    await sup.start();
  });

  afterAll(async () => {
    await sup?.stop().catch(() => undefined);
    if (cpe) await deleteNamespace(cpe);
    if (gsa) await deleteNamespace(gsa);
    if (dir) removeTempDir(dir);
  });

  it('starts with the neighbor disabled until its tunnel is up, with the BGP address made local', async () => {
    await sup.refresh();
    expect(neighbor()).toMatchObject({ address: '100.64.0.2', state: 'Idle', info: 'tunnel t1 is down' });
    const lo = (await exec(cpe, ['ip', '-4', 'addr', 'show', 'dev', 'lo'])).stdout;
    expect(lo).toMatch(/inet 100\.64\.0\.1\/32 .*lo:branchgate/);
  });

  it('tunnel up: Established; GSA\'s prefixes in the kernel via the tunnel interface; ours learned by the peer', async () => {
    await sup.setTunnelState('t1', 'up');
    await until('Established with every prefix', () => neighbor().state === 'Established' && neighbor().received === M365_PREFIXES.length);
    expect(neighbor()).toMatchObject({ received: M365_PREFIXES.length, advertised: 1 });
    expect(events).toContainEqual(expect.objectContaining({ kind: 'neighbor', address: '100.64.0.2', to: 'Established' }));
    const routes = await waitFor('kernel routes', async () => {
      const r = await birdRoutes(cpe);
      return r.length >= M365_PREFIXES.length + 1 ? r : undefined;
    });
    const norm = (d: string) => (d.includes('/') ? d : `${d}/32`);
    for (const p of M365_PREFIXES) {
      expect(routes.find((r) => norm(r.dst) === p), p).toMatchObject({ gateway: '100.64.0.2', dev: 'gsa0' });
    }
    // Learned routes carry the neighbor as gateway; the /32 to the neighbor itself is bg_peers' device route.
    const learned = routes.filter((r) => r.gateway === '100.64.0.2').map((r) => norm(r.dst));
    expect(learned).toHaveLength(M365_PREFIXES.length);
    for (const p of POISON) expect(learned, `${p} must be refused`).not.toContain(p);
    expect(routes.find((r) => r.dst === '100.64.0.2')).toMatchObject({ dev: 'gsa0' }); // the static /32 to the neighbor
    const get = (await exec(cpe, ['ip', '-j', 'route', 'get', '13.107.6.153'])).stdout;
    expect(JSON.parse(get)[0]).toMatchObject({ dev: 'gsa0', gateway: '100.64.0.2' });
    const peerSide = await waitFor('LAN on the peer', async () => (await birdRoutes(gsa)).find((r) => r.dst === LAN));
    expect(peerSide).toMatchObject({ gateway: '100.64.0.1', dev: 'cpe0' });
  }, 60_000);

  it('failMode open: tunnel down withdraws at once; up brings the session back', async () => {
    await sup.setTunnelState('t1', 'down');
    const left = (await birdRoutes(cpe)).filter((r) => r.dst !== '100.64.0.2');
    expect(left).toEqual([]);
    expect(neighbor()).toMatchObject({ state: 'Idle', info: 'tunnel t1 is down' });
    await sup.setTunnelState('t1', 'up');
    await until('Established again', () => neighbor().state === 'Established');
  }, 60_000);

  it('failMode closed: tunnel down swaps the learned prefixes to blackholes; up restores them, then the holds go', async () => {
    await sup.update({ bgp: sup['s'].bgp, tunnels, failMode: 'closed' });
    await until('Established', () => neighbor().state === 'Established' && neighbor().received === M365_PREFIXES.length);
    await sup.setTunnelState('t1', 'down');
    const holes = (await birdRoutes(cpe)).filter((r) => r.type === 'blackhole').map((r) => (r.dst.includes('/') ? r.dst : `${r.dst}/32`));
    expect(holes.sort()).toEqual([...M365_PREFIXES].sort());
    await sup.setTunnelState('t1', 'up');
    await until('Established', () => neighbor().state === 'Established');
    await waitFor('holds cleared', async () => {
      await sup.refresh();
      return readFileSync(sup.configPath, 'utf8').includes('protocol static bg_hold_') ? undefined : true;
    }, 20_000);
    const routes = await birdRoutes(cpe);
    expect(routes.filter((r) => r.type === 'blackhole')).toEqual([]);
    expect(routes.filter((r) => r.gateway === '100.64.0.2')).toHaveLength(M365_PREFIXES.length);
  }, 90_000);

  it('BIRD killed with SIGKILL is restarted and the session comes back', async () => {
    const before = sup.pid!;
    process.kill(before, 'SIGKILL');
    await waitFor('a new bird', async () => (sup.pid !== undefined && sup.pid !== before ? true : undefined), 20_000);
    expect(events).toContainEqual(expect.objectContaining({ kind: 'bird', what: 'exited', signal: 'SIGKILL' }));
    await until('Established after restart', () => neighbor().state === 'Established', 45_000);
    const routes = await birdRoutes(cpe);
    expect(routes.filter((r) => r.gateway === '100.64.0.2')).toHaveLength(M365_PREFIXES.length);
  }, 90_000);

  it('the max-prefix guard trips when the peer sends too many, and its routes go', async () => {
    expect(neighbor().state).toBe('Established');
    await run(['birdc', '-s', join(dir, 'gsa.ctl'), 'enable', 'flood']);
    await until('limit hit', () => /import limit 40 hit/.test(neighbor().info ?? ''));
    expect(neighbor().state).toBe('Idle');
    expect(events).toContainEqual({ kind: 'limit', address: '100.64.0.2', tunnel: 't1', limit: 40 });
    expect((await birdRoutes(cpe)).filter((r) => r.gateway === '100.64.0.2')).toEqual([]);
    await run(['birdc', '-s', join(dir, 'gsa.ctl'), 'disable', 'flood']);
  }, 60_000);

  it('stop: BIRD leaves, its kernel routes and the BGP address with it', async () => {
    await sup.stop();
    expect(await birdRoutes(cpe)).toEqual([]);
    expect((await exec(cpe, ['ip', '-4', 'addr', 'show', 'dev', 'lo'])).stdout).not.toContain('100.64.0.1');
    expect(sup.status()).toMatchObject({ running: false });
  }, 30_000);
});
