/**
 * journald priorities: with stdout connected to the journal ($JOURNAL_STREAM = its dev:ino) each
 * log line starts with "<N>" (sd-daemon(3)); with stdout anything else, lines stay plain JSON.
 * The end-to-end case runs the built logger in a child whose stdout is a file standing in for the
 * journal stream.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { journalStream, priorityOf, stdoutIsJournal } from '../../../src/systemd/journal.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('journald priorities', () => {
  it('maps pino levels to syslog priorities', () => {
    expect(['fatal', 'error', 'warn', 'info', 'debug', 'trace'].map((l) => priorityOf(`{"level":"${l}","msg":"x"}`))).toEqual([2, 3, 4, 6, 7, 7]);
    expect(priorityOf('not json')).toBe(6);
  });

  it('prefixes every line of a chunk', () => {
    const out: string[] = [];
    journalStream({ write: (s: string) => out.push(s) }).write('{"level":"error","msg":"a"}\n{"level":"info","msg":"b"}\n');
    expect(out.join('')).toBe('<3>{"level":"error","msg":"a"}\n<6>{"level":"info","msg":"b"}\n');
  });

  it('recognises the journal stream only by its device and inode', () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-journal-'));
    const f = join(dir, 'stream');
    const fd = openSync(f, 'w');
    try {
      const st = statSync(f);
      expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, fd)).toBe(true);
      expect(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` }, fd)).toBe(false);
      expect(stdoutIsJournal({}, fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });

  it('the daemon logger writes <3> <4> <6> <7> when stdout is the journal, plain JSON otherwise', () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-journal-'));
    const script = `import('${join(ROOT, 'dist', 'log.js')}').then(({ createLogger }) => {
      const l = createLogger({ level: 'debug' }); l.error('e'); l.warn('w'); l.info('i'); l.debug('d'); })`;
    const runWith = (journal: boolean): string[] => {
      const f = join(dir, journal ? 'journal' : 'plain');
      const fd = openSync(f, 'w');
      const st = statSync(f);
      try {
        const env = { ...process.env, ...(journal ? { JOURNAL_STREAM: `${st.dev}:${st.ino}` } : { JOURNAL_STREAM: '1:1' }) };
        const r = spawnSync(process.execPath, ['-e', script], { stdio: ['ignore', fd, 'pipe'], env });
        expect(r.status, String(r.stderr)).toBe(0);
      } finally {
        closeSync(fd);
      }
      return readFileSync(f, 'utf8').trimEnd().split('\n');
    };
    expect(runWith(true).map((l) => l.slice(0, 14))).toEqual(['<3>{"level":"e', '<4>{"level":"w', '<6>{"level":"i', '<7>{"level":"d']);
    expect(runWith(false).map((l) => l.slice(0, 10))).toEqual(Array(4).fill('{"level":"'));
  });
});
