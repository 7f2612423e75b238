/**
 * KeepalivedProcess against a fake `keepalived` (a shell script of that name, so our pid file and
 * its command line identify it as ours): output is redacted before it is logged, handed to
 * onLogLine or put in an error; a left-behind process is found and stopped; a crash is restarted
 * with the backoff; reload() is SIGHUP. Real keepalived runs in test/interop/ha-pair.test.ts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KeepalivedPaths } from '../../../src/ha/keepalived-config.js';
import { KeepalivedProcess, staleKeepalived } from '../../../src/ha/keepalived-process.js';
import { sleep } from '../../../src/supervise/child-process.js';

const dir = mkdtempSync(join(tmpdir(), 'bgt-kaproc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Writes its pid to the -p file, prints a line with the auth pass, counts SIGHUPs in a file
// next to the config, exits with code 5 after $LIFE tenths of a second (or runs on).
const fake = join(dir, 'keepalived');
writeFileSync(fake, `#!/bin/sh
while [ $# -gt 0 ]; do case "$1" in -p) PID="$2"; shift;; -f) CONF="$2"; shift;; esac; shift; done
echo $$ > "$PID"
trap 'echo hup >> "$CONF.hup"' HUP
echo "VRRP_Instance(VI_1) auth_pass hunter2 Entering MASTER STATE"
echo "stderr line" >&2
n=0
while [ "\${LIFE:-0}" = 0 ] || [ $n -lt "$LIFE" ]; do sleep 0.1; n=$((n+1)); done
exit 5
`);
chmodSync(fake, 0o755);

function paths(tag: string): KeepalivedPaths {
  const d = join(dir, tag);
  mkdirSync(d, { recursive: true });
  const f = (n: string) => join(d, n);
  return { dir: d, config: f('keepalived.conf'), trackFile: f('track'), resignFile: f('resign'), fifo: f('fifo'), pid: f('pid'), vrrpPid: f('vrrp.pid') };
}

function make(tag: string, wrap: string[] = []) {
  const logs: { level: string; obj: object; msg: string }[] = [];
  const rec = (level: string) => (obj: object, msg: string) => void logs.push({ level, obj, msg });
  const lines: string[] = [];
  const started: number[] = [];
  const exits: { code: number | null; signal: string | null; restartInMs: number }[] = [];
  const p = new KeepalivedProcess({
    binary: fake, paths: paths(tag), wrap, log: { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') },
    backoff: { initialMs: 30, maxMs: 1000, stableMs: 60_000 },
    onStarted: (pid) => started.push(pid), onExited: (i) => exits.push(i), onLogLine: (l) => lines.push(l),
    redact: (l) => l.replace(/auth_pass \S+/g, 'auth_pass ***'),
  });
  return { p, logs, lines, started, exits, paths: paths(tag) };
}

describe('KeepalivedProcess', () => {
  it('logs and hands on redacted lines from stdout and stderr; reload() is SIGHUP; stop() leaves no restart', async () => {
    const k = make('a');
    await k.p.start();
    expect(k.started).toEqual([k.p.pid]);
    expect(k.logs).toContainEqual({ level: 'info', obj: { pid: k.p.pid }, msg: 'keepalived started' });
    expect(k.lines).toEqual(expect.arrayContaining(['VRRP_Instance(VI_1) auth_pass *** Entering MASTER STATE', 'stderr line']));
    expect(JSON.stringify(k.logs)).not.toContain('hunter2');
    expect(k.logs).toContainEqual({ level: 'debug', obj: { keepalived: 'stderr line' }, msg: 'keepalived' });
    k.p.reload();
    for (let i = 0; i < 50 && !existsSync(`${k.paths.config}.hup`); i++) await sleep(20);
    expect(readFileSync(`${k.paths.config}.hup`, 'utf8')).toBe('hup\n');
    await k.p.stop();
    await sleep(100);
    expect(k.exits).toEqual([]);
    expect(k.p.running).toBe(false);
  });

  it('an early exit on first start is an error with the redacted output', async () => {
    const k = make('b', ['env', 'LIFE=1']);
    const err = await k.p.start().catch((e: Error) => e);
    await k.p.stop();
    expect(String(err)).toMatch(/keepalived exited with code 5: VRRP_Instance\(VI_1\) auth_pass \*\*\* Entering MASTER STATE/);
    expect(String(err)).not.toContain('hunter2');
    expect(k.exits[0]).toEqual({ code: 5, signal: null, restartInMs: 30 });
  });

  it('a crash is restarted with the backoff', async () => {
    const k = make('c', ['env', 'LIFE=6']);
    await k.p.start();
    for (let i = 0; i < 150 && k.started.length < 3; i++) await sleep(20);
    await k.p.stop();
    expect(k.exits.slice(0, 2)).toEqual([{ code: 5, signal: null, restartInMs: 30 }, { code: 5, signal: null, restartInMs: 60 }]);
    expect(k.started.length).toBeGreaterThanOrEqual(3);
    expect(k.logs).toContainEqual({ level: 'warn', obj: { code: 5, signal: null, restartInMs: 30 }, msg: 'keepalived exited; restarting' });
  });

  it('killStale() stops a keepalived of ours left behind (found by pid file and command line)', async () => {
    const k = make('d');
    const p = k.paths;
    const orphan = spawn(fake, ['--dont-fork', '-f', p.config, '-p', p.pid, '-r', p.vrrpPid], { stdio: 'ignore' });
    for (let i = 0; i < 50 && staleKeepalived(p).length === 0; i++) await sleep(20);
    expect(staleKeepalived(p)).toEqual([orphan.pid]);
    const gone = new Promise((r) => orphan.once('exit', (_c, s) => r(s)));
    await k.p.killStale();
    expect(await gone).toBe('SIGTERM');
    expect(k.logs).toContainEqual({ level: 'warn', obj: { pids: [orphan.pid] }, msg: 'ha: stopping keepalived processes left by an earlier run' });
    expect(staleKeepalived(p)).toEqual([]);
  });
});
