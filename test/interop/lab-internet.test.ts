/**
 * `branchgate lab up --profile internet` (docs/lab.md "Internet Access"): the built CLI brings the
 * lab up with the endpoint announcing 0.0.0.0/1 + 128.0.0.0/1; the branch reaches "the internet"
 * through the tunnel, the bypass prefix and host name directly through the ISP namespace, IPv6 is
 * blocked; `lab down` removes everything, /etc/netns/bglab-cpe included.
 * The full acceptance (every route form, outages, SIGKILL) is gsa-internet.test.ts.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAB_PREFIX } from '../../src/lab/plan.js';
import { INTERNET_LAB } from '../../src/lab/internet.js';
import { BIN, requireBuild } from './lab/branchgate.js';
import { requirePrereqs, run } from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const cli = (args: string[], timeoutMs = 90_000) => run([process.execPath, BIN, ...args], { timeoutMs, allowFail: true });
const nsRun = (ns: string, argv: string[]) => run(['ip', 'netns', 'exec', ns, ...argv], { allowFail: true, timeoutMs: 20_000 });
const counter = async (ns: string, name: string) => {
  const r = await nsRun(ns, ['nft', '-j', 'list', 'counter', 'inet', 'bgtlab', name]);
  return (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables.find((x) => x.counter)?.counter?.packets ?? 0;
};

describe('branchgate lab up --profile internet --internet-routes split', () => {
  let dir = '';

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs();
    requireBuild();
    const up = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(LAB_PREFIX));
    if (up.length) throw new Error(`a lab is already up (${up.join(', ')}): run \`branchgate lab down\` before this test`);
    dir = mkdtempSync(join(tmpdir(), 'bglabinet-'));
    rmSync(dir, { recursive: true });
  });

  afterAll(async () => {
    if (dir) await cli(['lab', 'down', '--dir', dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('comes up; internet through the tunnel, bypass direct via the ISP, IPv6 blocked; down removes it all', async () => {
    const t0 = Date.now();
    const r = await cli(['lab', 'up', '--profile', 'internet', '--internet-routes', 'split', '--dpd', '1', '--dir', dir]);
    console.log(`[lab-internet] lab up --profile internet --internet-routes split: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`ping -c 3 ${INTERNET_LAB.hostnameAddr}`);
    // Counters at the ISP (bglab-wan): what arrives from the CPE other than IKE/ESP.
    const nft = (...a: string[]) => nsRun('bglab-wan', ['nft', ...a]);
    await nft('add', 'table', 'inet', 'bgtlab');
    await nft('add', 'chain', 'inet', 'bgtlab', 'pre', '{', 'type', 'filter', 'hook', 'prerouting', 'priority', '0', ';', 'policy', 'accept', ';', '}');
    for (const [name, m] of [['internet', ['ip', 'daddr', '203.0.113.10']], ['bypass', ['ip', 'daddr', '198.18.0.0/24']], ['v6', ['ip6', 'saddr', INTERNET_LAB.branch6]]] as const) {
      await nft('add', 'counter', 'inet', 'bgtlab', name);
      await nft('add', 'rule', 'inet', 'bgtlab', 'pre', 'iifname', 'wan0', ...m, 'counter', 'name', name);
    }
    expect((await nsRun('bglab-cpe', ['ip', 'route', 'get', '203.0.113.10', 'from', '100.64.10.2', 'iif', 'lan0'])).stdout).toMatch(/dev bg0\b/);
    const ping = (dst: string, v6 = false) => nsRun('bglab-branch', ['ping', ...(v6 ? ['-6'] : []), '-n', '-c', '3', '-i', '0.2', '-W', '1', dst]);
    expect((await ping('203.0.113.10')).code, 'the internet through the tunnel').toBe(0);
    expect(await counter('bglab-wan', 'internet'), 'nothing direct from the CPE to the internet').toBe(0);
    for (const dst of [INTERNET_LAB.directHost, INTERNET_LAB.hostnameAddr]) expect((await ping(dst)).code, `bypass ${dst}`).toBe(0);
    expect(await counter('bglab-wan', 'bypass'), 'bypass traffic direct at the ISP').toBeGreaterThanOrEqual(6);
    expect((await ping(INTERNET_LAB.host6, true)).code, 'IPv6 blocked').not.toBe(0);
    expect(await counter('bglab-wan', 'v6'), 'no IPv6 from the branch at the ISP').toBe(0);
    const d = await cli(['lab', 'down', '--dir', dir]);
    expect(d.code, d.stderr).toBe(0);
    expect(existsSync('/etc/netns/bglab-cpe'), 'the CPE\'s resolv.conf directory removed').toBe(false);
  }, 120_000);
});
