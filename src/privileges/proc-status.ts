/**
 * A thread's credentials as the kernel reports them in /proc/PID/status and
 * /proc/PID/task/TID/status (proc(5)): the four user and group ids, the supplementary groups and
 * the five capability sets. The daemon uses this to check its own capabilities at start and to
 * verify the user switch on every thread; the tests use it on the running daemon.
 *
 * Capability sets are printed as 16 hex digits, bit N = capability N. The numbers and names are
 * those of <linux/capability.h> (test/unit/native/priv-status.test.ts checks them against the
 * installed header).
 */
import { readdirSync, readFileSync } from 'node:fs';

/** <linux/capability.h>, index = capability number (Linux 5.9+: 41 capabilities). */
export const CAPABILITY_NAMES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

export const CAP_NET_BIND_SERVICE = 10;
export const CAP_NET_ADMIN = 12;
/** Only with ha: keepalived's VRRP raw socket and gratuitous ARP (docs/ha.md "Privileges"). */
export const CAP_NET_RAW = 13;

/** Credentials of one thread. Ids are [real, effective, saved, filesystem]. */
export interface ProcCredentials {
  name: string;
  uid: [number, number, number, number];
  gid: [number, number, number, number];
  groups: number[];
  capInh: bigint;
  capPrm: bigint;
  capEff: bigint;
  capBnd: bigint;
  capAmb: bigint;
  noNewPrivs: boolean;
}

/** A status file is a few KiB; anything much larger is not one. */
const MAX_STATUS = 64 * 1024;
const MAX_ID = 0xffffffff;

export class ProcStatusError extends Error {
  override name = 'ProcStatusError';
}

function field(lines: Map<string, string>, key: string, where: string): string {
  const v = lines.get(key);
  if (v === undefined) throw new ProcStatusError(`${where}: no "${key}:" line`);
  return v;
}

function ids(v: string, key: string, where: string): [number, number, number, number] {
  const parts = v.trim().split(/\s+/);
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,10}$/.test(p) && Number(p) <= MAX_ID)) {
    throw new ProcStatusError(`${where}: "${key}:" needs four ids, got ${JSON.stringify(v.slice(0, 80))}`);
  }
  return parts.map(Number) as [number, number, number, number];
}

function capSet(v: string, key: string, where: string): bigint {
  const t = v.trim();
  if (!/^[0-9a-f]{16}$/i.test(t)) throw new ProcStatusError(`${where}: "${key}:" is not 16 hex digits: ${JSON.stringify(t.slice(0, 40))}`);
  return BigInt(`0x${t}`);
}

/** Parse a status file's text. Throws ProcStatusError naming the missing or malformed field. */
export function parseProcStatus(text: string, where = 'status'): ProcCredentials {
  if (text.length > MAX_STATUS) throw new ProcStatusError(`${where}: ${text.length} bytes, not a /proc status file`);
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !lines.has(line.slice(0, colon))) lines.set(line.slice(0, colon), line.slice(colon + 1));
  }
  const groups = (lines.get('Groups') ?? '').trim();
  if (groups !== '' && !/^\d{1,10}( \d{1,10})*$/.test(groups)) {
    throw new ProcStatusError(`${where}: "Groups:" is not a list of ids: ${JSON.stringify(groups.slice(0, 80))}`);
  }
  const nnp = (lines.get('NoNewPrivs') ?? '0').trim();
  return {
    name: (lines.get('Name') ?? '').trim(),
    uid: ids(field(lines, 'Uid', where), 'Uid', where),
    gid: ids(field(lines, 'Gid', where), 'Gid', where),
    groups: groups === '' ? [] : groups.split(' ').map(Number),
    capInh: capSet(field(lines, 'CapInh', where), 'CapInh', where),
    capPrm: capSet(field(lines, 'CapPrm', where), 'CapPrm', where),
    capEff: capSet(field(lines, 'CapEff', where), 'CapEff', where),
    capBnd: capSet(field(lines, 'CapBnd', where), 'CapBnd', where),
    // Linux 4.3+; an older kernel has no ambient set at all.
    capAmb: lines.has('CapAmb') ? capSet(field(lines, 'CapAmb', where), 'CapAmb', where) : 0n,
    noNewPrivs: nnp === '1',
  };
}

/** The mask of these capability numbers. */
export function capMask(caps: readonly number[]): bigint {
  let m = 0n;
  for (const c of caps) {
    if (!Number.isInteger(c) || c < 0 || c > 63) throw new RangeError(`capability number ${c} is not 0..63`);
    m |= 1n << BigInt(c);
  }
  return m;
}

/** CAP_ names of the bits set in mask, lowest first; unknown bits as "cap_N". */
export function capNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let c = 0; c < 64; c++) {
    if ((mask >> BigInt(c)) & 1n) out.push(CAPABILITY_NAMES[c] ?? `cap_${c}`);
  }
  return out;
}

/** `/proc/self/status` (the main thread: it is the thread group leader) or another pid's. */
export function readProcCredentials(pid: number | 'self' = 'self'): ProcCredentials {
  const path = `/proc/${pid}/status`;
  return parseProcStatus(readFileSync(path, 'utf8'), path);
}

/** Every thread of the process, by thread id. A thread that exits meanwhile is left out. */
export function readThreadCredentials(pid: number | 'self' = 'self'): Map<number, ProcCredentials> {
  const out = new Map<number, ProcCredentials>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    if (!/^\d+$/.test(tid)) continue;
    const path = `/proc/${pid}/task/${tid}/status`;
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue; // the thread exited between readdir and read
    }
    out.set(Number(tid), parseProcStatus(text, path));
  }
  return out;
}
