import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlError, ControlServer, ControlServerError, MAX_PENDING } from '../../../src/control/server.js';
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

  it('disconnects a subscriber that stops reading once its backlog passes the cap, with an error line, and counts it', async () => {
    const path = join(dir, 'm.sock');
    const limit = 256 * 1024;
    const subs = new Set<(e: MonitorEvent) => void>();
    const server = await ControlServer.listen({ path, handle: () => null, maxBacklog: limit,
      subscribe: (push) => (subs.add(push), () => subs.delete(push)) });
    servers.push(server);
    const sock = net.connect(path);
    await new Promise((r) => sock.once('connect', r));
    sock.write('{"id":9,"cmd":"monitor"}\n');
    await until(() => subs.size === 1);
    sock.pause(); // never reads (until the end of the test)
    const line = 16 * 1024;
    const ev: MonitorEvent = { time: 't', source: 'ike', type: 'x', pad: 'y'.repeat(line) };
    // Far more than the limit plus what the kernel's socket buffers hold: the daemon must stop queueing.
    let pushed = 0;
    for (let i = 0; i < 400 && subs.size > 0; i++) {
      for (const f of subs) f(ev);
      pushed++;
      await new Promise((r) => setImmediate(r));
    }
    expect(subs.size, 'unsubscribed').toBe(0);
    expect(pushed * line, 'it was pushed more than the limit').toBeGreaterThan(limit);
    expect(server.counters()).toMatchObject({ monitorDisconnects: 1 });
    // Reading again, it finds the events that were queued, then the error line, then the end.
    const lines: string[] = [];
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    sock.resume();
    await new Promise((r) => sock.once('close', r));
    const last = JSON.parse(lines.at(-1)!) as { id: number; ok: boolean; error: string };
    expect(last).toMatchObject({ id: 9, ok: false, code: 'failed' });
    expect(last.error).toMatch(/more than 262144 bytes of events were waiting for this client to read; disconnected/);
    // What was held for it: in the daemon at most the limit plus the event that crossed it; the
    // rest sat in the kernel's socket buffer (at most its default size, net.core.wmem_default).
    const kernel = Number(readFileSync('/proc/sys/net/core/wmem_default', 'utf8'));
    const events = lines.filter((l) => l.includes('"event"')).length;
    expect(events * line).toBeLessThanOrEqual(limit + 2 * line + kernel);
    expect(events).toBeLessThan(pushed);
  });
});

describe('control socket bounds', () => {
  it('refuses connections over maxConnections and counts them', async () => {
    const path = join(dir, 'b.sock');
    const s = await ControlServer.listen({ path, handle: () => 'ok', maxConnections: 2 });
    servers.push(s);
    const held = await Promise.all([0, 1].map(() => new Promise<net.Socket>((r) => { const c = net.connect(path, () => r(c)); })));
    const third = net.connect(path);
    third.on('error', () => undefined);
    await new Promise((r) => third.once('close', r)); // closed by the server at once
    expect(s.counters()).toEqual({ connectionsRefused: 1, requestsTooLarge: 0, requestsPipelined: 0, monitorDisconnects: 0 });
    for (const c of held) c.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(await request(path, 'status')).toMatchObject({ ok: true, result: 'ok' });
  });

  it('counts oversized request lines', async () => {
    const path = join(dir, 'b.sock');
    const s = await serve(path);
    await raw(path, 'x'.repeat(MAX_LINE + 1));
    expect(s.counters().requestsTooLarge).toBe(1);
  });

  it('a client pipelining more than MAX_PENDING unanswered requests is told so, dropped and counted', async () => {
    const path = join(dir, 'b.sock');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const s = await ControlServer.listen({ path, handle: async () => (await gate, 'late') });
    servers.push(s);
    const reqs = Array.from({ length: MAX_PENDING + 5 }, (_, i) => `{"id":${i + 1},"cmd":"status"}\n`).join('');
    const got = raw(path, reqs);
    await new Promise((r) => setTimeout(r, 30));
    release();
    const lines = (await got).map((l) => JSON.parse(l) as { id: number | null; ok: boolean; error?: string });
    expect(lines[0]).toMatchObject({ id: null, ok: false, error: expect.stringContaining(`more than ${MAX_PENDING} requests waiting`) });
    expect(s.counters().requestsPipelined).toBe(1);
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
