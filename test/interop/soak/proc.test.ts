/**
 * proc.ts against the kernel's own figures: the per-mapping sums of /proc/PID/smaps must add up
 * to the Rss that /proc/PID/smaps_rollup reports for the same, idle, process; and the status
 * and descriptor figures must match what /proc/PID/status and `ls` say.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readMemoryMap, readProcStats } from './proc.js';

describe('proc', () => {
  it('the kinds of resident memory add up to smaps_rollup\'s Rss for an idle process', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      const pid = child.pid!;
      const rollup = Number(/^Rss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1]);
      const m = readMemoryMap(pid);
      expect(rollup).toBeGreaterThan(0);
      expect(m.mallocKiB + m.anonKiB + m.fileKiB).toBe(rollup);
      expect(m.fileKiB).toBeGreaterThan(0); // /usr/bin/sleep and libc
      const st = readProcStats(pid);
      expect(st.threads).toBe(1);
      // counted by ls, independently: 0–2 on /dev/null plus whatever the test runner let it inherit
      expect(st.fds).toBe(execFileSync('ls', ['-1', `/proc/${pid}/fd`]).toString().trim().split('\n').length);
      expect(st.rssKiB).toBe(Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]));
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('finds glibc\'s thread arenas in a Node process (its worker threads malloc)', () => {
    const m = readMemoryMap(process.pid);
    expect(m.mallocKiB).toBeGreaterThan(0);
    expect(m.anonKiB).toBeGreaterThan(0);
  });

  it('a process that is gone gives a clear error', () => {
    expect(() => readProcStats(2 ** 22 + 12345)).toThrow(/is gone/);
  });
});
