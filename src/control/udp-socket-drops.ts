/**
 * Datagrams the kernel dropped before branchgate read them: the `drops` column of /proc/net/udp
 * (the socket's sk_drops: receive buffer full, or refused by a socket filter) for this process's
 * own UDP sockets — UdpTransport's 500/4500 sockets and the native engine's SO_REUSEPORT sockets.
 * A flood that outruns the reader shows up here, not in the datapath's drop reasons.
 *
 * Ours are found by inode: every `socket:[N]` link in /proc/self/fd, matched against the inode
 * column. /proc/net/udp is the process's own network namespace. Read on demand (a scrape, a
 * list-sas), never on a timer; nothing here is on the packet path.
 *
 * /proc/net/udp (net/ipv4/udp.c udp4_format_sock): after the header, one line per socket:
 *   sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
 * Addresses are the __be32 printed with %08X, i.e. in host byte order (127.0.0.1 reads 0100007F
 * on a little-endian machine); the port is %04X of the host-order port.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { endianness } from 'node:os';

export interface ProcUdpRow {
  /** "address:port" of the local end. */
  local: string;
  inode: number;
  /** Octets waiting in the receive queue. */
  rxQueue: number;
  drops: number;
}

/** One of this process's UDP sockets in `list-sas --json` `udpSockets`. */
export interface UdpSocketDoc {
  socket: string;
  inode: number;
  /** Datagrams the kernel dropped for this socket since it was opened. */
  drops: number;
  /** Octets queued, not yet read. */
  receiveQueue: number;
}

/** A field of hex digits, at most 8 (a u32); NaN otherwise. */
function hex32(s: string | undefined): number {
  return s !== undefined && /^[0-9A-Fa-f]{1,8}$/.test(s) ? Number.parseInt(s, 16) : NaN;
}

function ipv4(n: number, littleEndian: boolean): string {
  const b = [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  return (littleEndian ? b.reverse() : b).join('.');
}

/**
 * Parse /proc/net/udp text. Lines that do not have the expected shape (the header, anything a
 * future kernel adds) are skipped, never guessed at.
 */
export function parseProcNetUdp(text: string, littleEndian = endianness() === 'LE'): ProcUdpRow[] {
  const rows: ProcUdpRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 13 || !/^\d+:$/.test(f[0]!)) continue;
    const [addr, port] = f[1]!.split(':');
    const queues = f[4]!.split(':');
    const a = hex32(addr);
    const p = hex32(port);
    const rx = hex32(queues[1]);
    const inode = /^\d{1,15}$/.test(f[9]!) ? Number(f[9]) : NaN;
    const drops = /^\d{1,15}$/.test(f[12]!) ? Number(f[12]) : NaN;
    if ([a, p, rx, inode, drops].some(Number.isNaN) || p > 0xffff) continue;
    rows.push({ local: `${ipv4(a, littleEndian)}:${p}`, inode, rxQueue: rx, drops });
  }
  return rows;
}

/** Inodes of the sockets this process holds open (`socket:[N]` links in fdDir). */
export function ownSocketInodes(fdDir = '/proc/self/fd'): Set<number> {
  const out = new Set<number>();
  let fds: string[];
  try {
    fds = readdirSync(fdDir);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${fdDir}/${fd}`));
      if (m) out.add(Number(m[1]));
    } catch {
      // closed since readdir (or the directory's own fd): not ours to report
    }
  }
  return out;
}

/** This process's UDP sockets with their kernel drop counters, sorted by socket; [] when /proc is not there. */
export function readUdpSocketDrops(opts: { procNetUdp?: string; fdDir?: string } = {}): UdpSocketDoc[] {
  let text: string;
  try {
    text = readFileSync(opts.procNetUdp ?? '/proc/net/udp', 'utf8');
  } catch {
    return [];
  }
  const mine = ownSocketInodes(opts.fdDir);
  return parseProcNetUdp(text)
    .filter((r) => mine.has(r.inode))
    .map((r) => ({ socket: r.local, inode: r.inode, drops: r.drops, receiveQueue: r.rxQueue }))
    .sort((x, y) => (x.socket < y.socket ? -1 : x.socket > y.socket ? 1 : x.inode - y.inode));
}
