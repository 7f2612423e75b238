/**
 * What the kernel says about one process (proc(5)): resident memory and its high-water mark,
 * threads, open file descriptors and CPU time. Read from the host: /proc is not per network
 * namespace.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface ProcStats {
  /** VmRSS: resident set now, KiB. */
  rssKiB: number;
  /** VmHWM: the peak resident set since the process started, KiB. */
  hwmKiB: number;
  threads: number;
  /** Entries in /proc/PID/fd. */
  fds: number;
  /** utime + stime, seconds. */
  cpuS: number;
}

/** One `Key:   value kB` field of /proc/PID/status, as a number (the unit stripped). */
function statusField(text: string, key: string, pid: number): number {
  const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text);
  if (!m?.[1]) throw new Error(`/proc/${pid}/status has no ${key} line`);
  return Number(m[1]);
}

let clkTck: number | undefined;
/** Clock ticks per second for /proc/PID/stat's utime and stime (sysconf(_SC_CLK_TCK), 100 on Linux x86). */
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    const v = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
    clkTck = Number.isFinite(v) && v > 0 ? v : 100;
  }
  return clkTck;
}

/**
 * /proc/PID/stat fields 14 and 15 (utime, stime). Field 2, the command name, is in parentheses
 * and may itself contain blanks or ')', so the fields are counted after its last ')'.
 */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`/proc/${pid}/stat: no utime/stime in ${stat.slice(0, 200)}`);
  return (utime + stime) / ticksPerSecond();
}

/** Throws with a clear message when the process is gone (the soak then fails). */
export function readProcStats(pid: number): ProcStats {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch (err) {
    throw new Error(`process ${pid} is gone (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return {
    rssKiB: statusField(status, 'VmRSS', pid),
    hwmKiB: statusField(status, 'VmHWM', pid),
    threads: statusField(status, 'Threads', pid),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cpuS: cpuSeconds(pid),
  };
}

/** Resident memory by kind of mapping, KiB, from /proc/PID/smaps. */
export interface MemoryMap {
  /** glibc malloc: the main arena ([heap]) and the threads' arenas (see below). */
  mallocKiB: number;
  /** Other anonymous memory: V8's heap pages, large mmap()ed allocations, thread stacks. */
  anonKiB: number;
  /** Mapped files: node, its libraries, the native addon. */
  fileKiB: number;
}

/** glibc's HEAP_MAX_SIZE on 64-bit: each thread arena is one 64 MiB-aligned reservation of this size (arena.c). */
const ARENA = 64 * 2 ** 20;

/**
 * Sums Rss per kind of mapping. A thread arena is recognised as glibc lays it out: an anonymous
 * read-write mapping starting on a 64 MiB boundary, followed by the PROT_NONE rest of its
 * reservation, the two 64 MiB together. Anything else anonymous counts as `anonKiB`.
 */
export function readMemoryMap(pid: number): MemoryMap {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const maps: { start: number; end: number; perms: string; path: string; rssKiB: number }[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      maps.push({ start: parseInt(head[1]!, 16), end: parseInt(head[2]!, 16), perms: head[3]!, path: head[4] ?? '', rssKiB: 0 });
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const last = maps.at(-1);
    if (rss && last) last.rssKiB = Number(rss[1]);
  }
  const out: MemoryMap = { mallocKiB: 0, anonKiB: 0, fileKiB: 0 };
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const arena = m.path === '' && m.perms.startsWith('rw') && m.start % ARENA === 0 &&
      (m.end - m.start === ARENA || (next !== undefined && next.path === '' && next.perms.startsWith('---') && next.start === m.end && next.end - m.start === ARENA));
    if (m.path === '[heap]' || arena) out.mallocKiB += m.rssKiB;
    else if (m.path === '' || m.path.startsWith('[')) out.anonKiB += m.rssKiB;
    else out.fileKiB += m.rssKiB;
  });
  return out;
}
