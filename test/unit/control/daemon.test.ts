import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigLoadError, startDaemon, type Daemon } from '../../../src/daemon.js';
import { request } from '../../../src/control/client.js';
import type { StatusDocument, ListSasDocument } from '../../../src/control/status.js';
import { CONFIG_YAML, FakeEngine, LineSink, memoryDatapath } from './fake-engine.js';

let dir: string;
let daemon: Daemon | undefined;
let engine: FakeEngine | undefined;
let sink: LineSink;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bg-daemon-'));
  sink = new LineSink();
});
afterEach(async () => {
  await daemon?.stop();
  daemon = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function start(yaml = CONFIG_YAML): Promise<{ d: Daemon; e: FakeEngine; sock: string }> {
  const configPath = join(dir, 'bg.yaml');
  writeFileSync(configPath, yaml);
  const sock = join(dir, 'control.sock');
  daemon = await startDaemon({
    configPath, socketPath: sock, logStream: sink, ports: { ike: 0, natT: 0 }, handleSignals: false,
    engineFactory: (tunnels) => (engine = new FakeEngine(tunnels)), datapath: memoryDatapath(),
  });
  return { d: daemon, e: engine!, sock };
}

async function ok(sock: string, cmd: Parameters<typeof request>[1], name?: string): Promise<unknown> {
  const r = await request(sock, cmd, name === undefined ? undefined : { name });
  if (!r.ok) throw new Error(r.error);
  return r.result;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('daemon with a fake engine', () => {
  it('starts the engine and round-trips status, up, list-sas and down over the socket', async () => {
    const { e, sock } = await start();
    expect(e.calls).toEqual(['start']);
    const s0 = (await ok(sock, 'status')) as StatusDocument;
    expect(s0).toEqual({ version: '0.1.0', nativeFastPath: true, tunnels: [
      { name: 't1', state: 'down', local: null, remote: null, natDetected: false, ike: null, children: [], routes: ['10.0.0.0/8'] }] });

    expect(await ok(sock, 'up', 't1')).toEqual({ tunnel: 't1', requested: 'up', state: 'established' });
    const s1 = (await ok(sock, 'status')) as StatusDocument;
    expect(s1.tunnels[0]).toMatchObject({ state: 'established', local: '127.0.0.1:4500', remote: '127.0.0.2:4500',
      ike: { spiI: '0123456789abcdef', encr: 'AES_GCM_16_256' }, children: [{ spiIn: 'c0ffee01', spiOut: 'beef0002', bytesIn: 0 }] });
    expect(daemon!.installed().map((c) => c.info.spiIn)).toEqual([0xc0ffee01]);

    const l = (await ok(sock, 'list-sas')) as ListSasDocument;
    expect(l.tunnels[0]!.ike!.initiator).toBe(true);
    expect(l.tunnels[0]!.children[0]).toMatchObject({ encap: true, localTs: ['0.0.0.0/0'] });
    expect(l.udp).toMatchObject({ espDropped: 0 });
    expect(JSON.stringify(l)).not.toContain('90,90'); // key bytes (0x5a) never leave the daemon

    expect(await ok(sock, 'down', 't1')).toMatchObject({ state: 'down' });
    expect(daemon!.installed()).toEqual([]);
    expect(e.calls).toEqual(['start', 'up t1', 'down t1']);
  });

  it('answers an unknown tunnel with a usage-class error naming the configured ones', async () => {
    const { sock } = await start();
    const r = await request(sock, 'up', { name: 'gsa' });
    expect(r).toMatchObject({ ok: false, code: 'unknown-tunnel' });
    if (!r.ok) expect(r.error).toMatch(/no tunnel named 'gsa'; configured: t1 — see `branchgate status`/);
    expect(await ok(sock, 'version')).toMatchObject({ version: '0.1.0', nativeFastPath: true });
  });

  it('feeds datagrams to the engine and sends its answers; engine exceptions are contained', async () => {
    const { d, e, sock } = await start();
    const ep = d.transport.endpoints()[0]!;
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const rx: Buffer[] = [];
    peer.on('message', (m) => rx.push(m));
    try {
      peer.send(Buffer.from([0, 0, 0, 0, 1, 2, 3, 4]), ep.natT, '127.0.0.1');
      for (let i = 0; i < 200 && rx.length === 0; i++) await sleep(5);
      expect(e.datagrams[0]!.arrival.natT).toBe(true);
      expect([...rx[0]!]).toEqual([0, 0, 0, 0, 9, 9, 9, 9, 1, 2, 3, 4]); // marker added on the way out
      e.throwOnDatagram = true;
      peer.send(Buffer.from([5, 5, 5, 5]), ep.ike, '127.0.0.1');
      for (let i = 0; i < 200 && d.transport.counters.handlerErrors === 0; i++) await sleep(5);
      expect(d.transport.counters.handlerErrors).toBe(1);
      expect(await ok(sock, 'status')).toBeTruthy(); // still alive
    } finally {
      peer.close();
    }
  });

  it('arms one timer at nextWakeup() and does not poll', async () => {
    const { e, sock } = await start();
    e.wakeAt = Date.now() + 40;
    await ok(sock, 'up', 't1'); // any engine call re-arms the timer
    expect(e.ticks).toBe(0);
    await sleep(120);
    expect(e.ticks).toBe(1);
    await sleep(100);
    expect(e.ticks).toBe(1); // nextWakeup() is null now: nothing fires
  });

  it('logs events and engine log actions as JSON, never the PSK or key bytes', async () => {
    const { sock } = await start();
    await ok(sock, 'up', 't1');
    const recs = sink.records();
    expect(recs.find((r) => r.msg === 'fake engine started')).toMatchObject({ level: 'info', now: expect.any(Number) });
    expect(recs.find((r) => r.event === 'child-up')).toMatchObject({ tunnel: 't1', spiIn: 'c0ffee01', level: 'info' });
    const all = sink.lines.join('\n');
    expect(all).not.toContain('correct horse');
    expect(all).not.toContain('90,90');
  });

  it('stop() takes tunnels down, closes the sockets and removes the control socket', async () => {
    const { d, e, sock } = await start();
    await ok(sock, 'up', 't1');
    const ep = d.transport.endpoints()[0]!;
    await d.stop();
    expect(e.calls.at(-1)).toBe('down t1');
    expect(existsSync(sock)).toBe(false);
    await expect(d.closed).resolves.toBeUndefined();
    // The UDP port is free again.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r, j) => { s.once('error', j); s.bind(ep.ike, '127.0.0.1', () => r()); });
    s.close();
  });

  it('throws ConfigLoadError with FILE:LINE:COL lines for a bad config', async () => {
    const err = await start('tunnels:\n  - name: t1\n    remoteAddress: 300.1.2.3\n').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(ConfigLoadError);
    expect((err as ConfigLoadError).issues.some((l) => /bg\.yaml:3:20: tunnels\.0\.remoteAddress: /.test(l))).toBe(true);
  });
});
