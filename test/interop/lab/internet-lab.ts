/**
 * The Internet Access lab: the four-namespace topology with a router in the middle (topology.ts,
 * `middle: 'router'`), which here plays the ISP:
 *
 *   branch ── cpe (branchgate, bg0) ── isp (mid) ── gw (charon + BIRD: "GSA")
 *                                      lo: 198.18.0.10  direct-internet host (bypass prefix)
 *                                          198.18.0.20  direct.example.test (bypass host name)
 *                                          198.18.0.53  DNS (dnsmasq), the CPE's resolv.conf
 *                                          2001:db8:ff::10  an IPv6 internet host
 *   gw lo: 203.0.113.10 "the internet", reachable both through the tunnel and directly via the ISP
 *
 * IPv6: branch 2001:db8:10::2/64 ─ cpe 2001:db8:10::1 | cpe wan 2001:db8:99::1/64 ─ isp ::254.
 * The CPE's resolv.conf is /etc/netns/<cpe>/resolv.conf (ip netns exec bind-mounts it over
 * /etc/resolv.conf), removed by destroy().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { addAddress, exec, trackProcess, waitFor } from './netns.js';
import { IF, type Topology } from './topology.js';
import { INTERNET_LAB } from '../../../src/lab/internet.js';

/** The internet lab's addresses: the lab's own table (src/lab/internet.ts), plus the bypass prefix. */
export const INET = { ...INTERNET_LAB, bypassPrefix: `${INTERNET_LAB.directHost}/32` } as const;

export interface InternetLab {
  isp: string;
  dnsmasq: ChildProcess;
  destroy(): Promise<void>;
}

export async function addInternetLab(topo: Topology): Promise<InternetLab> {
  const isp = topo.mid;
  if (!isp) throw new Error('internet lab: the topology needs middle: router');
  for (const a of [INET.directHost, INET.hostnameAddr, INET.dns]) await addAddress(isp, 'lo', `${a}/32`);
  // IPv6 (nodad: usable at once).
  await exec(topo.branch, ['ip', '-6', 'addr', 'add', `${INET.branch6}/64`, 'dev', IF.lan, 'nodad']);
  await exec(topo.branch, ['ip', '-6', 'route', 'add', 'default', 'via', INET.cpeLan6]);
  await exec(topo.cpe, ['ip', '-6', 'addr', 'add', `${INET.cpeLan6}/64`, 'dev', IF.lan, 'nodad']);
  await exec(topo.cpe, ['ip', '-6', 'addr', 'add', `${INET.cpeWan6}/64`, 'dev', IF.wan, 'nodad']);
  await exec(topo.cpe, ['ip', '-6', 'route', 'add', 'default', 'via', INET.isp6]);
  await exec(topo.cpe, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=1']);
  await exec(isp, ['ip', '-6', 'addr', 'add', `${INET.isp6}/64`, 'dev', IF.wan, 'nodad']);
  await exec(isp, ['ip', '-6', 'addr', 'add', `${INET.host6}/128`, 'dev', 'lo']);
  await exec(isp, ['ip', '-6', 'route', 'add', INET.lan6, 'via', INET.cpeWan6]);
  // DNS on the ISP side, answering only the bypass name.
  const dnsmasq = spawn('ip', ['netns', 'exec', isp, 'dnsmasq', '--no-daemon', '--no-resolv', '--no-hosts', '--port=53',
    `--listen-address=${INET.dns}`, '--bind-interfaces', `--host-record=${INET.hostname},${INET.hostnameAddr}`, '--local-ttl=60'], { stdio: 'ignore' });
  trackProcess(dnsmasq);
  await waitFor('dnsmasq listening', async () => ((await exec(isp, ['ss', '-Hlun', 'sport = :53'], { allowFail: true })).stdout.includes(INET.dns) ? true : undefined), 5000, 100);
  const etc = `/etc/netns/${topo.cpe}`;
  mkdirSync(etc, { recursive: true });
  writeFileSync(`${etc}/resolv.conf`, `nameserver ${INET.dns}\n`);
  return {
    isp, dnsmasq,
    async destroy() {
      if (dnsmasq.exitCode === null && dnsmasq.signalCode === null) dnsmasq.kill('SIGKILL');
      rmSync(etc, { recursive: true, force: true });
    },
  };
}

/** tcpdump on one interface of a namespace, lines kept with the capture time (s, epoch). */
export class Capture {
  readonly lines: { t: number; text: string }[] = [];
  private buf = '';
  private constructor(private readonly p: ChildProcess) {}

  static async start(ns: string, dev: string, filter: string): Promise<Capture> {
    const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-n', '-l', '-tt', '-i', dev, filter], { stdio: ['ignore', 'pipe', 'pipe'] });
    trackProcess(p);
    const c = new Capture(p);
    let err = '';
    p.stdout!.on('data', (d: Buffer) => {
      c.buf += d.toString();
      const parts = c.buf.split('\n');
      c.buf = parts.pop() ?? '';
      for (const l of parts) c.lines.push({ t: Number(l.split(' ')[0]), text: l });
    });
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(`tcpdump listening on ${dev} in ${ns}`, async () => {
      if (p.exitCode !== null) throw new Error(`tcpdump exited: ${err}`);
      return err.includes('listening on') ? true : undefined;
    }, 5000, 50);
    return c;
  }

  /** Lines matching re captured at or after t (ms). */
  since(tMs: number, re?: RegExp): { t: number; text: string }[] {
    return this.lines.filter((l) => l.t * 1000 >= tMs && (!re || re.test(l.text)));
  }

  async stop(): Promise<void> {
    if (this.p.exitCode !== null || this.p.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.p.once('exit', () => r()));
    this.p.kill('SIGINT');
    await gone;
  }
}

/** A steady ping (interval s) from ns to dst, running until stopped; returns the replies seen. */
export function pinger(ns: string, dst: string, intervalS = 0.1): { stop(): Promise<string> } {
  const p = spawn('ip', ['netns', 'exec', ns, 'ping', '-n', '-D', '-i', String(intervalS), dst], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackProcess(p);
  let out = '';
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    async stop() {
      if (p.exitCode === null && p.signalCode === null) {
        const gone = new Promise<void>((r) => p.once('exit', () => r()));
        p.kill('SIGINT');
        await gone;
      }
      return out;
    },
  };
}

/** The state the daemon must leave behind: routes of every table, rules, nft tables. */
export async function hostState(ns: string): Promise<string> {
  const parts = await Promise.all([
    exec(ns, ['ip', 'route', 'show', 'table', 'all'], { allowFail: true }),
    exec(ns, ['ip', 'rule', 'show'], { allowFail: true }),
    exec(ns, ['nft', 'list', 'tables'], { allowFail: true }),
  ]);
  // Drop what changes by itself: cache entries, link-local and the TUN (recreated per run).
  return parts.map((p) => p.stdout).join('\n---\n').split('\n')
    .filter((l) => !/\bdev bg0\b|^fe80|^local fe80|^ff00|^multicast|^anycast fe80|^local 2001:db8:.*proto kernel|cache/.test(l)).join('\n');
}
