/**
 * BirdProcess against a fake `bird` (a Node script that greets on -s SOCK like BIRD does and
 * logs to stderr): readiness is the greeting, <WARN>/<ERR> lines log as warn, a ready BIRD that
 * dies is restarted with the backoff, a first start that fails is not retried. Real BIRD runs in
 * test/interop/bgp-bird.test.ts.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BirdProcess, type BgpLog } from '../../../src/bgp/bird-process.js';
import { sleep } from '../../../src/supervise/child-process.js';

const dir = mkdtempSync(join(tmpdir(), 'bgt-birdproc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Greets every connection, logs one info and one warning line, exits with code 7 after LIFE ms.
const fake = join(dir, 'fake-bird');
writeFileSync(fake, `#!${process.execPath}
const net = require('node:net');
const sock = process.argv[process.argv.indexOf('-s') + 1];
try { require('node:fs').unlinkSync(sock); } catch {}
net.createServer((c) => c.end('0001 BIRD 2.0.99 ready.\\n')).listen(sock, () => {
  process.stderr.write('<INFO> Started\\n<WARN> bgp1: something odd\\n');
});
setTimeout(() => process.exit(7), Number(process.env.LIFE ?? 1e9));
`);
chmodSync(fake, 0o755);

function make(tag: string, wrap: string[] = []) {
  const logs: { level: string; obj: object; msg: string }[] = [];
  const rec = (level: string) => (obj: object, msg: string) => void logs.push({ level, obj, msg });
  const log: BgpLog = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') };
  const started: number[] = [];
  const exits: { code: number | null; signal: string | null; restartInMs: number }[] = [];
  const p = new BirdProcess({
    binary: fake, config: join(dir, `${tag}.conf`), socket: join(dir, `${tag}.ctl`), wrap, log,
    backoff: { initialMs: 30, maxMs: 1000, stableMs: 60_000 },
    onStarted: (pid) => started.push(pid), onExited: (i) => exits.push(i),
  });
  return { p, logs, started, exits };
}

describe('BirdProcess', () => {
  it('is ready when the socket greets; maps <WARN> to warn; restarts a BIRD that died with the backoff', async () => {
    const b = make('a', ['env', 'LIFE=400']);
    await b.p.start();
    expect(b.started).toHaveLength(1);
    expect(b.p.running).toBe(true);
    expect(b.logs).toContainEqual({ level: 'info', obj: { pid: b.started[0], socket: join(dir, 'a.ctl') }, msg: 'bird started' });
    for (let i = 0; i < 100 && b.started.length < 3; i++) await sleep(20);
    await b.p.stop();
    expect(b.exits.slice(0, 2)).toEqual([{ code: 7, signal: null, restartInMs: 30 }, { code: 7, signal: null, restartInMs: 60 }]);
    expect(b.started.length).toBeGreaterThanOrEqual(3);
    expect(b.logs).toContainEqual({ level: 'warn', obj: { bird: '<WARN> bgp1: something odd' }, msg: 'bird' });
    expect(b.logs).toContainEqual({ level: 'info', obj: { bird: '<INFO> Started' }, msg: 'bird' });
    expect(b.logs).toContainEqual({ level: 'warn', obj: { code: 7, signal: null, restartInMs: 30 }, msg: 'bird exited; restarting' });
    expect(b.p.running).toBe(false);
  });

  it('a first start that fails rejects with the reason and is not retried', async () => {
    const b = make('b', ['env', 'LIFE=0']);
    await expect(b.p.start()).rejects.toThrow(/fake-bird exited with code 7 before its control socket .*b\.ctl answered/);
    await sleep(150);
    expect(b.exits).toEqual([]);
    expect(b.started).toEqual([]);
    expect(b.p.running).toBe(false);
  });

  it('stop() takes BIRD down with SIGTERM and no restart follows', async () => {
    const b = make('c');
    await b.p.start();
    await b.p.stop();
    await sleep(100);
    expect(b.exits).toEqual([]);
    expect(b.started).toHaveLength(1);
    expect(b.p.pid).toBeUndefined();
  });
});
