/**
 * Driving test/interop/tools/blast.c from the tests: compile it (`cc -O2`, failing loudly when
 * there is no compiler), write its record file, run it in the attacker namespace; and capture
 * live ESP with tcpdump for replays.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './branchgate.js';
import { exec, makeTempDir, run, trackProcess, waitFor } from './netns.js';
import { ATK } from './hostile-lab.js';

/** One datagram for blast (see blast.c for the record layout). */
export interface BlastRecord {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  /** 1: random source in --spoof; 2: 8 random octets at spiOffset; 4: random source port. */
  flags: number;
  spiOffset: number;
  payload: Uint8Array;
}

export const RANDOM_SOURCE = 1;
export const RANDOM_SPI = 2;
export const RANDOM_SPORT = 4;

const COMPILERS = ['/usr/bin/cc', '/usr/bin/gcc', '/usr/bin/clang'];

/** Compiles blast.c into a temp dir and returns the binary's path; throws (the test FAILS) without a compiler. */
export async function compileBlast(): Promise<string> {
  const cc = COMPILERS.find((c) => existsSync(c));
  if (!cc) {
    throw new Error(`the hostile-traffic harness needs a C compiler to build test/interop/tools/blast.c (apt-get install -y gcc)` +
      `${process.env.CI === 'true' ? ' — CI=true: this test must run' : ''}`);
  }
  const out = join(makeTempDir('blast'), 'blast');
  await run([cc, '-O2', '-Wall', '-Wextra', '-o', out, join(REPO_ROOT, 'test', 'interop', 'tools', 'blast.c')], { timeoutMs: 60_000 });
  return out;
}

const ip4 = (a: string): number[] => {
  const o = a.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`not an IPv4 address: ${a}`);
  return o;
};

export function writeRecords(path: string, recs: readonly BlastRecord[]): void {
  const size = recs.reduce((n, r) => n + 16 + r.payload.length, 0);
  const b = Buffer.alloc(size);
  let o = 0;
  for (const r of recs) {
    if (r.payload.length > 0xffff - 28) throw new RangeError(`record of ${r.payload.length} octets`);
    b.set(ip4(r.src), o);
    b.writeUInt16BE(r.sport, o + 4);
    b.set(ip4(r.dst), o + 6);
    b.writeUInt16BE(r.dport, o + 10);
    b[o + 12] = r.flags;
    b[o + 13] = r.spiOffset;
    b.writeUInt16BE(r.payload.length, o + 14);
    b.set(r.payload, o + 16);
    o += 16 + r.payload.length;
  }
  writeFileSync(path, b);
}

export interface BlastResult {
  sent: number;
  packets: number;
  errors: number;
  errnos: Record<string, number>;
  seconds: number;
}

/** Runs blast in ns: COUNT datagrams from FILE at RATE/s, spoofing from the attacker pool, DSCP CS1. */
export async function blast(bin: string, ns: string, file: string, count: number, rate: number, opts: { batch?: number; seed?: number } = {}): Promise<BlastResult> {
  const argv = [bin, file, String(count), String(rate), '--spoof', ATK.pool, '--tos', String(ATK.tos), '--batch', String(opts.batch ?? 32), '--seed', String(opts.seed ?? 1)];
  const budget = (rate > 0 ? count / rate : 60) + 60;
  const r = await exec(ns, argv, { timeoutMs: budget * 1000 });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as BlastResult;
  } catch {
    throw new Error(`blast printed no result: ${r.stdout}${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------------------------
// pcap (tcpdump -w, Ethernet, IPv4, UDP)

export interface PcapUdp {
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Uint8Array;
}

/** UDP datagrams of a pcap file; anything else (and IP fragments) is skipped. Bounds-checked. */
export function readPcapUdp(path: string): PcapUdp[] {
  const buf = readFileSync(path);
  if (buf.length < 24) return [];
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error(`${path}: not a little-endian pcap`);
  if (buf.readUInt32LE(20) !== 1) throw new Error(`${path}: link type is not Ethernet`);
  const out: PcapUdp[] = [];
  for (let o = 24; o + 16 <= buf.length;) {
    const len = buf.readUInt32LE(o + 8);
    const f = buf.subarray(o + 16, Math.min(buf.length, o + 16 + len));
    o += 16 + len;
    if (f.length < 14 + 20 + 8 || f.readUInt16BE(12) !== 0x0800 || f[23] !== 17) continue;
    const ihl = (f[14]! & 15) * 4;
    if ((f.readUInt16BE(20) & 0x3fff) !== 0) continue;
    const u = 14 + ihl;
    if (u + 8 > f.length) continue;
    const ulen = f.readUInt16BE(u + 4);
    if (ulen < 8 || u + ulen > f.length) continue;
    const a = (p: number) => `${f[p]}.${f[p + 1]}.${f[p + 2]}.${f[p + 3]}`;
    out.push({ src: a(26), sport: f.readUInt16BE(u), dst: a(30), dport: f.readUInt16BE(u + 2), payload: new Uint8Array(f.subarray(u + 8, u + ulen)) });
  }
  return out;
}

/**
 * Captures up to `max` ESP-in-UDP datagrams (non-zero first word, RFC 3948 §2.2) from `from` to
 * `to` on `dev` in ns, for at most `seconds`, while `traffic` runs. Returns their UDP payloads.
 */
export async function captureEsp(ns: string, dev: string, from: string, to: string, max: number, seconds: number, traffic: () => Promise<unknown>): Promise<Uint8Array[]> {
  const dir = makeTempDir('pcap');
  const file = join(dir, 'esp.pcap');
  const filter = `udp and src host ${from} and dst host ${to} and src port 4500 and dst port 4500 and udp[8:4] != 0`;
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', dev, '-n', '-U', '-s', '0', '-c', String(max), '-w', file, filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  trackProcess(p);
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => p.once('exit', () => r()));
  await waitFor(`tcpdump listening on ${dev} in ${ns}`, async () => {
    if (p.exitCode !== null) throw new Error(`tcpdump exited ${p.exitCode}: ${err}`);
    return err.includes('listening on') ? true : undefined;
  }, 5000, 50);
  const deadline = new Promise((r) => setTimeout(r, seconds * 1000));
  await Promise.race([Promise.all([traffic(), deadline]), exited]);
  if (p.exitCode === null) p.kill('SIGINT');
  await exited;
  return readPcapUdp(file).map((d) => d.payload);
}
