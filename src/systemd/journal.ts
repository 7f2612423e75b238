/**
 * journald priorities for our log lines. When stdout is the journal (systemd.exec(5):
 * $JOURNAL_STREAM holds "DEVICE:INODE" of the stream it connected, compared with fstat(1) so a
 * redirected stdout is not mistaken for it), each line starts with the sd-daemon(3) level prefix
 * "<N>", which journald strips and stores as PRIORITY: `journalctl -p err -u branchgate` works.
 */
import { fstatSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/** pino level labels to syslog priorities (sd-daemon.h SD_ERR=3 … SD_DEBUG=7). */
const PRIORITY: Record<string, number> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

export function stdoutIsJournal(env: NodeJS.ProcessEnv, fd = 1): boolean {
  const m = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!m) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}

/** The "<N>" for one JSON log line (pino writes `{"level":"warn",…`); info when unknown. */
export function priorityOf(line: string): number {
  const m = /^\{"level":"(\w+)"/.exec(line);
  return (m && PRIORITY[m[1]!]) ?? 6;
}

/** Prefixes every line written through it with its journald priority. */
export function journalStream(dest: DestinationStream): DestinationStream {
  return {
    write(chunk: string): void {
      let out = '';
      for (const line of chunk.split('\n')) if (line.length > 0) out += `<${priorityOf(line)}>${line}\n`;
      dest.write(out);
    },
  };
}
