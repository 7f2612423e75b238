import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlError, ControlServer, ControlServerError, MAX_BACKLOG } from '../../../src/control/server.js';
import { ControlClientError, monitor, request } from '../../../src/control/client.js';
import { MAX_LINE, type MonitorEvent } from '../../../src/control/protocol.js';

let dir: string;
const servers: ControlServer[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bg-ctl-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(path: string): Promise<ControlServer> {
  const s = await ControlServer.listen({
    path,
    handle: (req) => {
      if (req.cmd === 'up' && req.args?.name === 'nope') throw new ControlError('unknown-tunnel', "no tunnel named 'nope'");
      if (req.cmd === 'down') throw new Error('boom');
      return { echo: req.cmd, name: req.args?.name ?? null };
    },
  });
  servers.push(s);
  return s;
}

/** Raw line-level conversation, to send things the real client never would. */
function raw(path: string, data: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let buf = '';
    s.on('data', (d) => (buf += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(buf.split('\n').filter(Boolean)));
    s.write(data);
    setTimeout(() => s.end(), 150);
  });
}

describe('ControlServer', () => {
  it('creates the socket 0600 and a missing parent directory 0700', async () => {
    const path = join(dir, 'run', 'branchgate', 'control.sock');
    await serve(path);
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'run', 'branchgate')).mode & 0o777).toBe(0o700);
  });

  it('answers requests through the client, with typed errors', async () => {
    const path = join(dir, 'c.sock');
    await serve(path);
    expect(await request(path, 'status')).toEqual({ id: 1, ok: true, result: { echo: 'status', name: null } });
    expect(await request(path, 'up', { name: 'gsa' })).toMatchObject({ ok: true, result: { name: 'gsa' } });
    expect(await request(path, 'up', { name: 'nope' })).toEqual({ id: 1, ok: false, code: 'unknown-tunnel', error: "no tunnel named 'nope'" });
    const failed = await request(path, 'down', { name: 'x' });
    expect(failed).toMatchObject({ ok: false, code: 'failed' });
    if (!failed.ok) expect(failed.error).toMatch(/^down failed: boom — see the daemon log$/);
  });

  it('survives junk lines and keeps the connection usable', async () => {
    const path = join(dir, 'c.sock');
    await serve(path);
    const lines = await raw(path, 'not json\n\n{"id":2}\n\u0000\u00ff\n{"id":5,"cmd":"version"}\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0]!)).toMatchObject({ id: null, ok: false, code: 'bad-request' });
    expect(JSON.parse(lines[1]!)).toMatchObject({ id: 2, ok: false });
    expect(JSON.parse(lines[3]!)).toEqual({ id: 5, ok: true, result: { echo: 'version', name: null } });
  });

  it('drops a connection whose line is too long, and keeps serving others', async () => {
    const path = join(dir, 'c.sock');
    await serve(path);
    const lines = await raw(path, 'x'.repeat(MAX_LINE + 10));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ ok: false, error: expect.stringContaining('longer than 65536 bytes') });
    expect(await request(path, 'status')).toMatchObject({ ok: true });
  });

  it('refuses to start when another server answers on the socket', async () => {
    const path = join(dir, 'c.sock');
    await serve(path);
    const err = await ControlServer.listen({ path, handle: () => null }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlServerError);
    expect((err as Error).message).toMatch(/another branchgate is already running on .*--socket PATH/);
    expect(await request(path, 'status')).toMatchObject({ ok: true }); // the first one is untouched
  });

  it('removes a stale socket left by a killed daemon', async () => {
    const path = join(dir, 'c.sock');
    // A process that listens and dies by SIGKILL leaves the socket file behind.
    try {
      execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    } catch {
      // killed: expected
    }
    expect(statSync(path).isSocket()).toBe(true);
    await serve(path);
    expect(await request(path, 'status')).toMatchObject({ ok: true });
  });

  it('never deletes a regular file in the way', async () => {
    const path = join(dir, 'c.sock');
    writeFileSync(path, 'precious');
    await expect(ControlServer.listen({ path, handle: () => null })).rejects.toThrow(/exists and is not a socket — remove it/);
    expect(existsSync(path)).toBe(true);
  });

  it('removes its socket on close', async () => {
    const path = join(dir, 'c.sock');
    const s = await serve(path);
    await s.close();
    expect(existsSync(path)).toBe(false);
  });
});

describe('monitor subscriptions', () => {
  /** A server whose subscribe hook records subscribers; emit() pushes to all of them. */
  async function streaming(path: string) {
    const subs = new Set<(e: MonitorEvent) => void>();
    const s = await ControlServer.listen({
      path, handle: (req) => ({ echo: req.cmd }),
      subscribe: (push) => {
        subs.add(push);
        return () => subs.delete(push);
      },
    });
    servers.push(s);
    const ev = (n: number): MonitorEvent => ({ time: 't', source: 'ike', type: 'child-rekeyed', tunnel: 'gw', n });
    return { subs, emit: (n: number) => { for (const f of subs) f(ev(n)); }, ev };
  }
  const until = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(cond()).toBe(true);
  };

  it('acknowledges, streams events in order until the client aborts, then unsubscribes', async () => {
    const path = join(dir, 'm.sock');
    const { subs, emit, ev } = await streaming(path);
    const got: MonitorEvent[] = [];
    const ac = new AbortController();
    const done = monitor(path, (e) => {
      got.push(e);
      if (got.length === 3) ac.abort();
    }, { signal: ac.signal });
    await until(() => subs.size === 1);
    for (let n = 1; n <= 3; n++) emit(n);
    expect(await done).toEqual({ reason: 'aborted' });
    expect(got).toEqual([ev(1), ev(2), ev(3)]);
    await until(() => subs.size === 0);
    // the same connection style still answers plain requests
    expect(await request(path, 'status')).toMatchObject({ ok: true, result: { echo: 'status' } });
  });

  it('reports the daemon closing the stream, and a server without subscriptions refuses', async () => {
    const path = join(dir, 'm.sock');
    const { subs } = await streaming(path);
    const done = monitor(path, () => undefined);
    await until(() => subs.size === 1);
    await servers.pop()!.close();
    expect(await done).toEqual({ reason: 'closed' });
    const plain = join(dir, 'p.sock');
    await serve(plain);
    const r = await monitor(plain, () => undefined);
    expect(r).toMatchObject({ reason: 'refused', response: { ok: false, code: 'failed', error: expect.stringContaining('does not stream events') } });
    await expect(monitor(join(dir, 'none.sock'), () => undefined)).rejects.toThrow(/no such file — is `branchgate run` running/);
  });

  it('disconnects a subscriber that stops reading once its backlog passes the cap', async () => {
    const path = join(dir, 'm.sock');
    const { subs } = await streaming(path);
    const sock = net.connect(path);
    await new Promise((r) => sock.once('connect', r));
    sock.write('{"id":9,"cmd":"monitor"}\n');
    await until(() => subs.size === 1);
    sock.pause(); // never reads again
    const big: MonitorEvent = { time: 't', source: 'ike', type: 'x', pad: 'y'.repeat(64 * 1024) };
    for (let i = 0; i < 4 * (MAX_BACKLOG / (64 * 1024)) && subs.size > 0; i++) {
      for (const f of subs) f(big);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => subs.size === 0);
    sock.destroy();
  });
});

describe('control client errors', () => {
  it('says how to fix a missing socket', async () => {
    const path = join(dir, 'missing.sock');
    const err = await request(path, 'status').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ControlClientError);
    expect((err as Error).message).toBe(
      `cannot reach branchgate at ${path}: no such file — is \`branchgate run\` running? (use --socket PATH)`);
  });

  it('times out on a silent server', async () => {
    const path = join(dir, 'silent.sock');
    const srv = net.createServer(() => {}).listen(path);
    await new Promise((r) => srv.once('listening', r));
    try {
      await expect(request(path, 'status', undefined, { timeoutMs: 200 })).rejects.toThrow(
        /no answer from branchgate at .* within 0.2 s — the daemon may be stuck/);
    } finally {
      srv.close();
    }
  });
});
