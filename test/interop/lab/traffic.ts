/**
 * Traffic through the lab: ping (loss/rtt parsed), iperf3 (JSON, per-interval rates for "no stall
 * longer than N s" checks), and counters that show which way packets left a namespace: interface
 * statistics (`ip -s -j link`) and named nftables counters on the postrouting hook.
 * Everything has a timeout; nothing here hangs a test.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { exec, requirePrereqs, trackProcess, waitFor } from './netns.js';

/** requirePrereqs() plus the traffic tools; throws (the test FAILS) naming what to install. */
export function requireTrafficTools(): void {
  requirePrereqs();
  const missing = ['iperf3', 'nft', 'ss', 'sysctl'].filter((t) => !['/usr/bin/', '/usr/sbin/', '/bin/', '/sbin/'].some((d) => existsSync(d + t)));
  if (missing.length) throw new Error(`the datapath lab needs ${missing.join(', ')}: apt-get install -y iperf3 nftables iproute2 procps`);
}

export interface PingResult {
  transmitted: number;
  received: number;
  lossPct: number;
  rttMinMs?: number;
  rttAvgMs?: number;
  rttMaxMs?: number;
  /** ping's output, for failure messages. */
  output: string;
}

/** `ping -c COUNT` from ns (optionally from a source address); never throws on loss. */
export async function ping(ns: string, addr: string, count = 3, opts: { intervalS?: number; source?: string; waitS?: number } = {}): Promise<PingResult> {
  const deadline = Math.ceil(count * (opts.intervalS ?? 0.2)) + (opts.waitS ?? 3);
  const argv = ['ping', '-n', '-c', String(count), '-i', String(opts.intervalS ?? 0.2), '-W', String(opts.waitS ?? 2), '-w', String(deadline),
    ...(opts.source ? ['-I', opts.source] : []), addr];
  const r = await exec(ns, argv, { allowFail: true, timeoutMs: (deadline + 5) * 1000 });
  const output = `$ ${argv.join(' ')} (in ${ns})\n${r.stdout}${r.stderr}`.trim();
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(r.stdout);
  const transmitted = Number(m?.[1] ?? 0);
  const received = Number(m?.[2] ?? 0);
  return {
    transmitted, received, lossPct: transmitted ? (100 * (transmitted - received)) / transmitted : 100,
    rttMinMs: rtt ? Number(rtt[1]) : undefined, rttAvgMs: rtt ? Number(rtt[2]) : undefined, rttMaxMs: rtt ? Number(rtt[3]) : undefined,
    output,
  };
}

/** Throws (with ping's output and `context`) unless every echo got its reply. */
export async function expectPing(ns: string, addr: string, count = 3, context = ''): Promise<PingResult> {
  const r = await ping(ns, addr, count);
  if (r.transmitted !== count || r.received !== count) {
    throw new Error(`ping ${addr} from ${ns}: ${r.received}/${count} replies${context ? ` (${context})` : ''}\n${r.output}`);
  }
  return r;
}

export interface IperfInterval {
  start: number;
  end: number;
  bytes: number;
  bitsPerSecond: number;
}

export interface IperfResult {
  /** Receiver-side rate (what arrived), bits/s. */
  bitsPerSecond: number;
  /** Payload bytes that arrived at the receiver. */
  bytes: number;
  sentBitsPerSecond: number;
  retransmits?: number;
  intervals: IperfInterval[];
  /** "branch → svc" style label for summaries. */
  direction: string;
}

let nextPort = 5201 + (process.pid % 400) * 10;

/**
 * Runs `iperf3 -s -1 --json` in serverNs and `iperf3 -c serverAddr -t seconds --json [-R]` in
 * clientNs. With reverse, data flows server → client. Throws with iperf3's own error, or on timeout
 * (seconds + 20 s), killing both ends.
 */
export async function iperf3(clientNs: string, serverNs: string, serverAddr: string, opts: { seconds: number; reverse?: boolean; bitrate?: string }): Promise<IperfResult> {
  const port = nextPort++;
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '--json', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackProcess(server);
  let serverOut = '';
  server.stdout.on('data', (d: Buffer) => (serverOut += d.toString()));
  server.stderr.on('data', (d: Buffer) => (serverOut += d.toString()));
  const serverGone = new Promise<void>((r) => server.once('exit', () => r()));
  const kill = (): void => {
    if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  };
  try {
    await waitFor(`iperf3 server listening on :${port} in ${serverNs}`, async () => {
      if (server.exitCode !== null) throw new Error(`iperf3 -s exited ${server.exitCode}: ${serverOut}`);
      const r = await exec(serverNs, ['ss', '-Hltn', `sport = :${port}`], { allowFail: true });
      return r.stdout.includes(`:${port}`) ? true : undefined;
    }, 5000, 50);
    const argv = ['iperf3', '-c', serverAddr, '-p', String(port), '-t', String(opts.seconds), '-i', '1', '--json', '--connect-timeout', '5000',
      ...(opts.reverse ? ['-R'] : []), ...(opts.bitrate ? ['-b', opts.bitrate] : [])];
    const r = await exec(clientNs, argv, { allowFail: true, timeoutMs: (opts.seconds + 20) * 1000 });
    const direction = opts.reverse ? `${serverAddr} → ${clientNs}` : `${clientNs} → ${serverAddr}`;
    let doc: IperfJson;
    try {
      doc = JSON.parse(r.stdout) as IperfJson;
    } catch {
      throw new Error(`iperf3 client (${argv.join(' ')}, in ${clientNs}) gave no JSON (exit ${r.code}${r.code === -1 ? ', killed after timeout' : ''}):\n` +
        `${r.stdout.slice(0, 2000)}${r.stderr}`);
    }
    if (doc.error || r.code !== 0) {
      throw new Error(`iperf3 ${direction} failed (exit ${r.code}): ${doc.error ?? r.stderr}` +
        `\nintervals so far: ${JSON.stringify((doc.intervals ?? []).map((i) => Math.round(i.sum.bits_per_second / 1e6)))} Mbit/s`);
    }
    const recv = doc.end?.sum_received;
    const sent = doc.end?.sum_sent;
    return {
      bitsPerSecond: recv?.bits_per_second ?? 0,
      bytes: recv?.bytes ?? 0,
      sentBitsPerSecond: sent?.bits_per_second ?? 0,
      retransmits: sent?.retransmits,
      intervals: (doc.intervals ?? []).map((i) => ({ start: i.sum.start, end: i.sum.end, bytes: i.sum.bytes, bitsPerSecond: i.sum.bits_per_second })),
      direction,
    };
  } finally {
    await Promise.race([serverGone, new Promise((r) => setTimeout(r, 3000))]);
    kill();
  }
}

interface IperfJson {
  error?: string;
  intervals?: { sum: { start: number; end: number; bytes: number; bits_per_second: number } }[];
  end?: {
    sum_sent?: { bits_per_second: number; retransmits?: number };
    sum_received?: { bits_per_second: number; bytes: number };
  };
}

export const mbit = (bps: number): string => (bps / 1e6).toFixed(1);

/** Longest run of consecutive intervals that moved no data, in seconds (0 if none stalled). */
export function longestStallSeconds(intervals: IperfInterval[]): number {
  let best = 0;
  let cur = 0;
  for (const i of intervals) {
    cur = i.bytes === 0 ? cur + (i.end - i.start) : 0;
    best = Math.max(best, cur);
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Counters.

export interface LinkStats {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** Interface statistics of dev in ns (`ip -s -j link show dev`). */
export async function linkStats(ns: string, dev: string): Promise<LinkStats> {
  const r = await exec(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', dev]);
  const doc = JSON.parse(r.stdout) as { stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }[];
  const s = doc[0]?.stats64;
  if (!s) throw new Error(`no stats64 for ${dev} in ${ns}: ${r.stdout}`);
  return { rxBytes: s.rx.bytes, rxPackets: s.rx.packets, txBytes: s.tx.bytes, txPackets: s.tx.packets };
}

export interface NftCount {
  packets: number;
  bytes: number;
}

/**
 * Named nftables counters in `table inet bgtcount` on the postrouting hook of ns (sees forwarded
 * and locally generated packets as they leave). Each rule is nft match tokens, e.g.
 * { viaWan: ['oifname', 'wan0', 'ip', 'daddr', '203.0.113.10'] }.
 */
export class NftCounters {
  private constructor(readonly ns: string) {}

  static async install(ns: string, rules: Record<string, string[]>): Promise<NftCounters> {
    await exec(ns, ['nft', 'add', 'table', 'inet', 'bgtcount']);
    await exec(ns, ['nft', 'add', 'chain', 'inet', 'bgtcount', 'out', '{', 'type', 'filter', 'hook', 'postrouting', 'priority', '0', ';', 'policy', 'accept', ';', '}']);
    const c = new NftCounters(ns);
    for (const [name, match] of Object.entries(rules)) await c.add(name, match);
    return c;
  }

  async add(name: string, match: string[]): Promise<void> {
    await exec(this.ns, ['nft', 'add', 'counter', 'inet', 'bgtcount', name]);
    await exec(this.ns, ['nft', 'add', 'rule', 'inet', 'bgtcount', 'out', ...match, 'counter', 'name', name]);
  }

  async read(name: string): Promise<NftCount> {
    const r = await exec(this.ns, ['nft', '-j', 'list', 'counter', 'inet', 'bgtcount', name]);
    const doc = JSON.parse(r.stdout) as { nftables: { counter?: { packets: number; bytes: number } }[] };
    const c = doc.nftables.find((x) => x.counter)?.counter;
    if (!c) throw new Error(`nft counter ${name} not found in ${this.ns}: ${r.stdout}`);
    return { packets: c.packets, bytes: c.bytes };
  }

  async readAll(names: string[]): Promise<Record<string, NftCount>> {
    const out: Record<string, NftCount> = {};
    for (const n of names) out[n] = await this.read(n);
    return out;
  }
}
