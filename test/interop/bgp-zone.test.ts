/**
 * Zone redundancy at the BGP level (docs/gsa-reference.md §5): one CPE BGP address, two GSA
 * BGP speakers over two "tunnels" (veths standing in for two TUNs), the same Microsoft 365 set
 * from both. With multipath the kernel gets ECMP routes over both tunnels; a tunnel going down
 * leaves the routes on the other at once; with multipath off the first neighbor is preferred and
 * the second takes over when the first tunnel drops.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BgpSupervisor } from '../../src/bgp/supervisor.js';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import type { BgpConfig } from '../../src/config/types.js';
import {
  addAddress, addVeth, createNamespace, deleteNamespace, exec, makeTempDir, removeTempDir, requirePrereqs,
  sweepStale, trackProcess, uniqueName, waitFor,
} from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));

interface Hop { gateway?: string; dev?: string }
interface KRoute { dst: string; gateway?: string; dev?: string; nexthops?: Hop[] }

describe('BGP zone redundancy: two neighbors, one CPE address', () => {
  let cpe = '';
  const peers: string[] = [];
  let dir = '';
  let sup: BgpSupervisor;
  const bgp: BgpConfig = {
    asn: 65010, address: '100.64.0.1', advertise: ['192.0.2.0/24'], holdTime: 9,
    neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 'z1' }, { address: '100.64.0.3', asn: 65476, tunnel: 'z2' }],
  };
  const tunnels = [
    { name: 'z1', interface: 'gsa0', remoteAddress: '198.51.100.10' },
    { name: 'z2', interface: 'gsa1', remoteAddress: '198.51.100.11' },
  ];

  /** Where 13.107.6.152/31 goes: the set of "gateway dev" hops. */
  const hops = async (): Promise<string[]> => {
    const r = (JSON.parse((await exec(cpe, ['ip', '-j', 'route', 'show', '13.107.6.152/31', 'proto', 'bird'])).stdout || '[]') as KRoute[])[0];
    if (!r) return [];
    const list = r.nexthops ?? [{ gateway: r.gateway, dev: r.dev }];
    return list.map((h) => `${h.gateway} ${h.dev}`).sort();
  };
  const waitHops = (want: string[]) => waitFor(`routes via ${want.join(' + ')}`, async () => {
    const h = await hops();
    return JSON.stringify(h) === JSON.stringify(want) ? h : undefined;
  }, 30_000, 250);
  const established = () => waitFor('both Established', async () => {
    await sup.refresh();
    return sup.status().neighbors.every((n) => n.state === 'Established' && n.received === M365_PREFIXES.length) ? true : undefined;
  }, 30_000, 250);

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs({ strongswan: false });
    sweepStale();
    cpe = await createNamespace(uniqueName('bgzc'));
    dir = makeTempDir('bgpzone');
    for (const [i, addr] of ['100.64.0.2', '100.64.0.3'].entries()) {
      const ns = await createNamespace(uniqueName('bgzg'));
      peers.push(ns);
      await addVeth(cpe, `gsa${i}`, ns, 'cpe0');
      await addAddress(ns, 'lo', `${addr}/32`);
      await exec(ns, ['ip', 'route', 'add', '100.64.0.1/32', 'dev', 'cpe0']);
      const conf = join(dir, `gsa${i}.conf`);
      writeFileSync(conf, renderGsaPeerConfig({ address: addr, cpeAddress: '100.64.0.1', cpeAsn: 65010, interface: 'cpe0' }));
      trackProcess(spawn('ip', ['netns', 'exec', ns, BIRD, '-f', '-c', conf, '-s', join(dir, `gsa${i}.ctl`)], { stdio: 'ignore' }));
    }
    sup = new BgpSupervisor({
      bgp: { ...bgp, bird: { binary: BIRD, socket: join(dir, 'cpe.ctl'), config: join(dir, 'cpe.conf') } },
      tunnels, failMode: 'open', wrap: ['ip', 'netns', 'exec', cpe], pollMs: 300,
    });
    await sup.start();
    await sup.setTunnelState('z1', 'up');
    await sup.setTunnelState('z2', 'up');
  });

  afterAll(async () => {
    await sup?.stop().catch(() => undefined);
    for (const ns of [cpe, ...peers]) if (ns) await deleteNamespace(ns);
    if (dir) removeTempDir(dir);
  });

  it('multipath: ECMP over both tunnels; one tunnel down leaves the other at once', async () => {
    await established();
    await waitHops(['100.64.0.2 gsa0', '100.64.0.3 gsa1']);
    await sup.setTunnelState('z1', 'down');
    expect(await hops()).toEqual(['100.64.0.3 gsa1']);
    await sup.setTunnelState('z1', 'up');
    await established();
    await waitHops(['100.64.0.2 gsa0', '100.64.0.3 gsa1']);
  }, 60_000);

  it('multipath off: the first neighbor is active, the second takes over when its tunnel drops', async () => {
    await sup.update({ bgp: { ...bgp, multipath: false, bird: { binary: BIRD!, socket: join(dir, 'cpe.ctl'), config: join(dir, 'cpe.conf') } }, tunnels, failMode: 'open' });
    await established();
    await waitHops(['100.64.0.2 gsa0']);
    await sup.setTunnelState('z1', 'down');
    expect(await hops()).toEqual(['100.64.0.3 gsa1']);
  }, 60_000);
});
