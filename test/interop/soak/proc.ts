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
