/**
 * The hostile-traffic lab on top of topology.ts: an attacker namespace on the WAN side, the
 * counters that see the attack arrive and the answers leave, and the kernel's own drop counts.
 *
 *   cpe (branchgate) ══wan0══ gw (strongSwan, router) ══atk0══ atk (blast, strongSwan initiators)
 *   192.0.2.1                 192.0.2.254  100.64.200.1         100.64.200.2
 *                                                               spoofed sources: 100.64.128.0/17
 *
 * gw routes the spoofed pool to atk, so every answer the daemon sends to a spoofed source goes
 * back there (and dies: atk does not forward), and nothing leaves the namespaces. gw accepts
 * packets from atk that carry its own address as the source (accept_local, rp_filter off on that
 * link): the replayed ESP "from" the real peer.
 *
 * Attack packets carry DSCP CS1 (TOS 0x20), legitimate ones DSCP 0, so nftables in cpe counts
 * the attack apart from the tunnel's own traffic: what arrived (after IPv4 reassembly; LOCAL_IN
 * runs after ip_defrag), by port and kind, and every answer to the spoofed pool by what it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { addAddress, addVeth, createNamespace, exec, uniqueName } from './netns.js';
import { ADDR, type Topology } from './topology.js';
import { requireTrafficTools } from './traffic.js';

export const ATK = {
  gwSide: '100.64.200.1',
  atk: '100.64.200.2',
  /** Spoofed sources (blast --spoof). */
  pool: '100.64.128.0/17',
  /** blast --tos: DSCP CS1. */
  tos: 0x20,
} as const;

/** requireTrafficTools() plus tcpdump (the replay capture); throws, so the test FAILS, naming what to install. */
export function requireHostileTools(): void {
  requireTrafficTools();
  if (!['/usr/bin/tcpdump', '/usr/sbin/tcpdump', '/sbin/tcpdump'].some((p) => existsSync(p))) {
    throw new Error(`the hostile-traffic harness needs tcpdump to capture live ESP for replays: apt-get install -y tcpdump${process.env.CI === 'true' ? ' (CI=true: this test must run)' : ''}`);
  }
}

export async function addAttacker(topo: Topology, tag = 'atk'): Promise<string> {
  const atk = await createNamespace(uniqueName(tag));
  await addVeth(topo.gw, 'atk0', atk, 'atk0');
  await addAddress(topo.gw, 'atk0', `${ATK.gwSide}/24`);
  await addAddress(atk, 'atk0', `${ATK.atk}/24`);
  await exec(atk, ['ip', 'route', 'add', 'default', 'via', ATK.gwSide]);
  await exec(topo.gw, ['ip', 'route', 'add', ATK.pool, 'via', ATK.atk, 'dev', 'atk0']);
  for (const kv of ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.atk0.rp_filter=0', 'net.ipv4.conf.atk0.accept_local=1']) {
    await exec(topo.gw, ['sysctl', '-q', '-w', kv]);
  }
  for (const kv of ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.wan0.rp_filter=0']) await exec(topo.cpe, ['sysctl', '-q', '-w', kv]);
  const r = await exec(atk, ['ping', '-c', '1', '-W', '2', ADDR.cpeWan], { allowFail: true });
  if (r.code !== 0) throw new Error(`attacker cannot reach the CPE over gw:\n${r.stdout}${r.stderr}`);
  return atk;
}

// ---------------------------------------------------------------------------------------------
// nftables counters in cpe

/** IKE octet offsets from the UDP header, in bits, for nft's @th (port 500: +8 octets; 4500: +12). */
const ikeBit = (port: 500 | 4500, octet: number): number => (8 + (port === 4500 ? 4 : 0) + octet) * 8;

/** Notify types of IKE_SA_INIT answers (RFC 7296 §3.10.1), counted one by one. */
export const ANSWER_NOTIFIES = { cookie: 16390, 'invalid-ke': 17, 'no-proposal': 14, 'invalid-syntax': 7, 'invalid-major': 5, 'unsupported-critical': 1 } as const;

export const IN_COUNTERS = ['in500', 'in4500ike', 'in4500esp', 'inOther'] as const;
export const OUT_COUNTERS = ['outInit', ...Object.keys(ANSWER_NOTIFIES).map((k) => `out-${k}`), 'outNotifyOther', 'outOther'] as const;

export class HostileCounters {
  private constructor(readonly ns: string) {}

  static async install(cpe: string): Promise<HostileCounters> {
    const nft = (...a: string[]) => exec(cpe, ['nft', ...a]);
    await nft('add', 'table', 'inet', 'bgthostile');
    await nft('add', 'chain', 'inet', 'bgthostile', 'in', '{', 'type', 'filter', 'hook', 'input', 'priority', '0', ';', 'policy', 'accept', ';', '}');
    await nft('add', 'chain', 'inet', 'bgthostile', 'out', '{', 'type', 'filter', 'hook', 'output', 'priority', '0', ';', 'policy', 'accept', ';', '}');
    for (const c of [...IN_COUNTERS, ...OUT_COUNTERS]) await nft('add', 'counter', 'inet', 'bgthostile', c);
    const cs1 = ['ip', 'dscp', 'cs1'];
    // what arrived: every attack datagram is counted by exactly one rule (each ends in accept)
    await nft('add', 'rule', 'inet', 'bgthostile', 'in', ...cs1, 'udp', 'dport', '500', 'counter', 'name', 'in500', 'accept');
    await nft('add', 'rule', 'inet', 'bgthostile', 'in', ...cs1, 'udp', 'dport', '4500', 'udp', 'length', '<', '12', 'counter', 'name', 'in4500ike', 'accept');
    await nft('add', 'rule', 'inet', 'bgthostile', 'in', ...cs1, 'udp', 'dport', '4500', '@th,64,32', '0', 'counter', 'name', 'in4500ike', 'accept');
    await nft('add', 'rule', 'inet', 'bgthostile', 'in', ...cs1, 'udp', 'dport', '4500', 'counter', 'name', 'in4500esp', 'accept');
    await nft('add', 'rule', 'inet', 'bgthostile', 'in', ...cs1, 'counter', 'name', 'inOther', 'accept');
    // what went back to the spoofed pool: full IKE_SA_INIT responses (first payload SA, 33) and
    // notify-only answers by type; the 4500 variants skip the non-ESP marker
    const to = ['ip', 'daddr', ATK.pool];
    for (const port of [500, 4500] as const) {
      const sp = ['udp', 'sport', String(port)];
      await nft('add', 'rule', 'inet', 'bgthostile', 'out', ...to, ...sp, `@th,${ikeBit(port, 16)},8`, '33', 'counter', 'name', 'outInit', 'accept');
      for (const [k, t] of Object.entries(ANSWER_NOTIFIES)) {
        await nft('add', 'rule', 'inet', 'bgthostile', 'out', ...to, ...sp, `@th,${ikeBit(port, 16)},8`, '41', `@th,${ikeBit(port, 34)},16`, String(t), 'counter', 'name', `out-${k}`, 'accept');
      }
      await nft('add', 'rule', 'inet', 'bgthostile', 'out', ...to, ...sp, `@th,${ikeBit(port, 16)},8`, '41', 'counter', 'name', 'outNotifyOther', 'accept');
    }
    await nft('add', 'rule', 'inet', 'bgthostile', 'out', ...to, 'counter', 'name', 'outOther', 'accept');
    return new HostileCounters(cpe);
  }

  async read(): Promise<Record<string, number>> {
    const r = await exec(this.ns, ['nft', '-j', 'list', 'counters', 'table', 'inet', 'bgthostile']);
    const doc = JSON.parse(r.stdout) as { nftables: { counter?: { name: string; packets: number } }[] };
    const out: Record<string, number> = {};
    for (const x of doc.nftables) if (x.counter) out[x.counter.name] = x.counter.packets;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// The kernel's view

export interface UdpSocketDrops {
  /** "192.0.2.1:4500" style local address → drops (several sockets may share one, e.g. SO_REUSEPORT). */
  bySocket: Record<string, number>;
  total: number;
}

/** The `drops` column of /proc/net/udp in ns (proc(5)): datagrams the kernel dropped for each socket. */
export async function udpSocketDrops(ns: string): Promise<UdpSocketDrops> {
  const text = (await exec(ns, ['cat', '/proc/net/udp'])).stdout;
  const bySocket: Record<string, number> = {};
  let total = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13) continue;
    const [addrHex, portHex] = f[1]!.split(':') as [string, string];
    const a = Number.parseInt(addrHex, 16); // little-endian u32 on x86
    const addr = [a & 0xff, (a >>> 8) & 0xff, (a >>> 16) & 0xff, a >>> 24].join('.');
    const key = `${addr}:${Number.parseInt(portHex, 16)}`;
    const drops = Number(f[12]);
    bySocket[key] = (bySocket[key] ?? 0) + drops;
    total += drops;
  }
  return { bySocket, total };
}

/** /proc/net/snmp of ns as { 'Udp.RcvbufErrors': n, 'Ip.ReasmFails': n, … }. */
export async function snmp(ns: string): Promise<Record<string, number>> {
  const lines = (await exec(ns, ['cat', '/proc/net/snmp'])).stdout.split('\n');
  const out: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const k = lines[i]!.split(/\s+/);
    const v = lines[i + 1]!.split(/\s+/);
    const proto = k[0]!.replace(':', '');
    for (let j = 1; j < k.length; j++) if (k[j]) out[`${proto}.${k[j]}`] = Number(v[j]);
  }
  return out;
}

/** VmRSS and VmHWM of a process, bytes (proc(5) /proc/PID/status). */
export function procMemory(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Link drop counters (both directions) of dev in ns: what a veth threw away. */
export async function linkDrops(ns: string, dev: string): Promise<{ rx: number; tx: number }> {
  const r = await exec(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', dev]);
  const d = (JSON.parse(r.stdout) as { stats64?: { rx: { dropped: number }; tx: { dropped: number } } }[])[0]?.stats64;
  return { rx: d?.rx.dropped ?? 0, tx: d?.tx.dropped ?? 0 };
}
