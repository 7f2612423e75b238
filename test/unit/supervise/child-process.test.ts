/**
 * SupervisedChild with real (tiny shell) child processes: backoff numbers, reset after a stable
 * run, no restart after stop(), SIGKILL for a child that ignores SIGTERM, and readLines' tail.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readLines, sleep, SupervisedChild, type ChildLog, type ExitInfo } from '../../../src/supervise/child-process.js';

function recorder() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  const log: ChildLog = {
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
  return { lines, log };
}

/** A supervised `sh -c SCRIPT` restarted by the supervisor; exits are collected. */
function shChild(script: string, backoff: { initialMs: number; maxMs: number; stableMs: number }) {
  const { lines, log } = recorder();
  const exits: ExitInfo[] = [];
  let starts = 0;
  const run = (restart: boolean) => {
    starts++;
    const child = sup.spawn(['sh', '-c', script], 'ignore', restart);
    child.once('exit', (code, signal) => {
      sup.forget(child);
      sup.exited(code, signal);
    });
    return Promise.resolve();
  };
  const sup: SupervisedChild = new SupervisedChild({ name: 'fake', log, backoff, onExited: (i) => exits.push(i), restart: () => run(true) });
  return { sup, lines, exits, start: () => run(false), starts: () => starts };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(10);
  }
}

describe('SupervisedChild', () => {
  it('restarts with doubling delays capped at maxMs, and logs each exit', async () => {
    const c = shChild('exit 3', { initialMs: 20, maxMs: 80, stableMs: 60_000 });
    await c.start();
    await until(() => c.exits.length >= 5);
    await c.sup.stop();
    expect(c.exits.slice(0, 5).map((e) => e.restartInMs)).toEqual([20, 40, 80, 80, 80]);
    expect(c.exits[0]).toEqual({ code: 3, signal: null, restartInMs: 20 });
    expect(c.lines.find((l) => l.msg === 'fake exited; restarting')).toEqual({ level: 'warn', obj: { code: 3, signal: null, restartInMs: 20 }, msg: 'fake exited; restarting' });
  });

  it('goes back to initialMs once a run lasted stableMs', async () => {
    const c = shChild('sleep 0.15; exit 1', { initialMs: 10, maxMs: 1000, stableMs: 100 });
    await c.start();
    await until(() => c.exits.length >= 3);
    await c.sup.stop();
    expect(c.exits.slice(0, 3).map((e) => e.restartInMs)).toEqual([10, 10, 10]);
  });

  it('stop() cancels a pending restart, and an exit after stop() is not restarted', async () => {
    const c = shChild('exit 1', { initialMs: 200, maxMs: 200, stableMs: 60_000 });
    await c.start();
    await until(() => c.exits.length === 1);
    await c.sup.stop();
    await sleep(300);
    expect(c.starts()).toBe(1);
    expect(c.sup.running).toBe(false);
  });

  it('stop() sends SIGTERM, then SIGKILL to a child that ignores it', async () => {
    const c = shChild("trap '' TERM; echo; while :; do sleep 0.05; done", { initialMs: 10, maxMs: 10, stableMs: 60_000 });
    await c.start();
    const child = c.sup.current!;
    await sleep(200); // let sh install its trap
    const t0 = Date.now();
    await c.sup.stop(300);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(child.signalCode).toBe('SIGKILL');
    expect(c.exits).toEqual([]);
  });

  it('a child that leaves on SIGTERM is stopped without waiting for the grace period', async () => {
    const c = shChild('exec sleep 30', { initialMs: 10, maxMs: 10, stableMs: 60_000 });
    await c.start();
    expect(c.sup.pid).toBeTypeOf('number');
    const child = c.sup.current!;
    const t0 = Date.now();
    await c.sup.stop(5000);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(child.signalCode).toBe('SIGTERM');
  });
});

describe('readLines', () => {
  it('splits chunks into lines after the transform and keeps a 2000-character tail', async () => {
    const a = new PassThrough();
    const b = new PassThrough();
    const got: string[] = [];
    const tail = readLines([a, b], (l) => got.push(l), (c) => c.replaceAll('secret', '***'));
    a.write('one\ntwo secret\n');
    b.write('\nthree\n');
    await sleep(10);
    expect(got).toEqual(['one', 'two ***', 'three']);
    expect(tail()).toBe('one\ntwo ***\n\nthree\n');
    a.write('x'.repeat(3000));
    await sleep(10);
    expect(tail()).toBe('x'.repeat(2000));
  });
});
