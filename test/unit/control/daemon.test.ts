import { readFileSync } from 'node:fs';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../../src/daemon.js';
import { ConfigLoadError } from '../../../src/config-file.js';
import { monitor, request } from '../../../src/control/client.js';
import type { MonitorEvent } from '../../../src/control/protocol.js';
import type { StatusDocument, ListSasDocument } from '../../../src/control/status.js';
import type { DatapathOptions } from '../../../src/datapath.js';
import type { DataplaneEvent } from '../../../src/dataplane/types.js';
import { OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { sealEsp } from '../../../src/esp/seal.js';
import { CONFIG_YAML, FakeEngine, LineSink, memoryDatapath, RecordingRoutes } from './fake-engine.js';

/** The package's own version, as the daemon reports it. */
const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

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

async function start(yaml = CONFIG_YAML, datapath: DatapathOptions = memoryDatapath()): Promise<{ d: Daemon; e: FakeEngine; sock: string }> {
  const configPath = join(dir, 'bg.yaml');
  writeFileSync(configPath, yaml);
  const sock = join(dir, 'control.sock');
  daemon = await startDaemon({
    configPath, socketPath: sock, logStream: sink, ports: { ike: 0, natT: 0 }, handleSignals: false,
    engineFactory: (tunnels) => (engine = new FakeEngine(tunnels)), datapath,
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
    expect(s0).toEqual({ version: VERSION, nativeFastPath: true, tunnels: [
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
    expect(await ok(sock, 'version')).toMatchObject({ version: VERSION, nativeFastPath: true });
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

  it('rekey: unknown tunnel, tunnel not up, then a Child SA rekey that never blinks the routes', async () => {
    const routes = new RecordingRoutes();
    const { d, e, sock } = await start(CONFIG_YAML, memoryDatapath(routes));
    expect(await request(sock, 'rekey', { name: 'gsa' })).toMatchObject({ ok: false, code: 'unknown-tunnel' });
    const down = await request(sock, 'rekey', { name: 't1' });
    expect(down).toMatchObject({ ok: false, code: 'failed' });
    if (!down.ok) expect(down.error).toBe("tunnel 't1' is down, so there is no Child SA to rekey — bring it up with `branchgate up t1` and wait for `branchgate status` to say established");
    expect(e.rekeys).toEqual([]);

    await ok(sock, 'up', 't1');
    expect(await ok(sock, 'rekey', 't1')).toEqual({ tunnel: 't1', requested: 'rekey-child', state: 'established' });
    expect(e.rekeys).toEqual(['child t1']);
    expect(d.installed().map((c) => c.info.spiIn)).toEqual([0xc0ffee02]);
    const r = await request(sock, 'rekey', { name: 't1', ike: true });
    expect(r).toMatchObject({ ok: true, result: { requested: 'rekey-ike' } });
    expect(e.rekeys).toEqual(['child t1', 'ike t1']);
    await (d as unknown as { datapath: { settle(): Promise<void> } }).datapath.settle();
    // start: down; first child: up; the rekey (install new, remove old) changes nothing.
    expect(routes.calls).toEqual(['t1 down', 't1 up']);
    const line = sink.records().find((x) => x.event === 'child-rekeyed');
    expect(line).toMatchObject({ level: 'info', tunnel: 't1', peer: '127.0.0.2:4500', reason: 'rekey started by us',
      oldSpiIn: 'c0ffee01', spiIn: 'c0ffee02', msg: 'Child SA rekeyed: in c0ffee01 -> c0ffee02 (out beef0003); we started it' });
  });

  it('rekey with wait answers when the tunnel reports the rekey, and fails on a timeout-free ike-down', async () => {
    const { e, sock } = await start();
    await ok(sock, 'up', 't1');
    const ev = { type: 'child-rekeyed' as const, tunnel: 't1', oldSpiIn: 'c0ffee01', spiIn: 'c0ffee09', spiOut: 'beef0009', initiator: false };
    e.onRekey = () => {
      e.next = [{ kind: 'event', event: ev }];
      e.wakeAt = Date.now() + 30;
      return [];
    };
    const t0 = Date.now();
    expect(await request(sock, 'rekey', { name: 't1', wait: 5 })).toEqual({ id: 1, ok: true,
      result: { tunnel: 't1', requested: 'rekey-child', completed: true, event: ev, state: 'established' } });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    e.onRekey = () => {
      e.next = [{ kind: 'event', event: { type: 'ike-down', tunnel: 't1', reason: 'peer not responding' } }];
      e.wakeAt = Date.now() + 10;
      return [];
    };
    const failed = await request(sock, 'rekey', { name: 't1', ike: true, wait: 5 });
    expect(failed).toMatchObject({ ok: false, code: 'failed' });
    if (!failed.ok) expect(failed.error).toMatch(/^the IKE SA rekey of 't1' did not complete: IKE SA gone: peer not responding — see `branchgate status`$/);
  });

  it('monitor streams engine events with time, source and peer', async () => {
    const { sock } = await start();
    const got: MonitorEvent[] = [];
    const ac = new AbortController();
    const done = monitor(sock, (ev) => {
      got.push(ev);
      ac.abort();
    }, { signal: ac.signal });
    await sleep(50); // subscribed
    await ok(sock, 'up', 't1');
    expect(await done).toEqual({ reason: 'aborted' });
    expect(got).toEqual([{ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), source: 'ike', type: 'child-up', tunnel: 't1',
      spiIn: 'c0ffee01', spiOut: 'beef0002', peer: '127.0.0.2:4500' }]);
  });

  it('logs one line per lifecycle event with tunnel, peer and reason', async () => {
    const { e, sock } = await start();
    await ok(sock, 'up', 't1');
    e.onRekey = () => [
      { kind: 'event', event: { type: 'dpd-dead', tunnel: 't1', silentMs: 7200 } },
      { kind: 'event', event: { type: 'reconnect', tunnel: 't1', attempt: 2, inMs: 1500, reason: 'peer dead (DPD)' } },
      { kind: 'event', event: { type: 'remote-moved', tunnel: 't1', from: '127.0.0.2:4500', to: '127.0.0.2:40001' } },
      { kind: 'event', event: { type: 'ike-rekeyed', tunnel: 't1', oldSpiI: 'a', oldSpiR: 'b', spiI: 'c', spiR: 'd', initiator: false } },
    ];
    await ok(sock, 'rekey', 't1');
    const by = (t: string) => sink.records().find((x) => x.event === t);
    expect(by('dpd-dead')).toMatchObject({ level: 'warn', tunnel: 't1', peer: '127.0.0.2:4500', silentMs: 7200,
      reason: 'no answer to liveness checks; nothing heard for 7.2 s', msg: 'peer declared dead: no answer to liveness checks; nothing heard for 7.2 s' });
    expect(by('reconnect')).toMatchObject({ level: 'info', attempt: 2, reason: 'peer dead (DPD)', msg: 'reconnecting in 1.5 s (attempt 2): peer dead (DPD)' });
    expect(by('remote-moved')).toMatchObject({ reason: "peer's NAT mapping moved from 127.0.0.2:4500 to 127.0.0.2:40001", msg: 'remote endpoint moved: 127.0.0.2:4500 -> 127.0.0.2:40001' });
    expect(by('ike-rekeyed')).toMatchObject({ reason: 'rekey started by the peer', msg: 'IKE SA rekeyed: a_i b_r -> c_i d_r; the peer started it' });
  });

  it('performs activate-child, update-remote and keepalive actions', async () => {
    const dp = memoryDatapath();
    const { d, e, sock } = await start(CONFIG_YAML, dp);
    await ok(sock, 'up', 't1');
    const plane = dp.dataplanes[0]!;
    const calls: string[] = [];
    const activate = plane.activateChildSa.bind(plane);
    const update = plane.updateRemote.bind(plane);
    plane.activateChildSa = (spi) => (calls.push(`activate ${spi.toString(16)}`), activate(spi));
    plane.updateRemote = (t, r) => (calls.push(`remote ${t} ${r.address}:${r.port}`), update(t, r));
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    const rx: { msg: Buffer; port: number }[] = [];
    peer.on('message', (msg, rinfo) => rx.push({ msg, port: rinfo.port }));
    try {
      const to = { address: '127.0.0.1', port: peer.address().port };
      e.onRekey = () => [
        { kind: 'activate-child', tunnel: 't1', spiIn: 0xc0ffee01 },
        { kind: 'update-remote', tunnel: 't1', remote: { address: '127.0.0.2', port: 40001 } },
        { kind: 'keepalive', from: { address: '127.0.0.1', port: 4500 }, to },
      ];
      await ok(sock, 'rekey', 't1'); // the way to make the fake engine return arbitrary actions
      for (let i = 0; i < 200 && rx.length === 0; i++) await sleep(5);
      expect(calls).toEqual(['activate c0ffee01', 'remote t1 127.0.0.2:40001']);
      expect(rx.map((x) => [...x.msg])).toEqual([[0xff]]);
      expect(rx[0]!.port).toBe(d.transport.endpoints()[0]!.natT);
      expect(d.transport.counters.natKeepalivesOut).toBe(1);
      expect(d.installed()[0]!.info.remote).toEqual({ address: '127.0.0.2', port: 40001 });
      expect(sink.records().find((x) => x.msg === "ESP and IKE now go to the peer's new endpoint")).toMatchObject({ tunnel: 't1', peer: '127.0.0.2:40001' });
    } finally {
      peer.close();
    }
  });

  it('the counter poll asks for a volume rekey once, forwards seq exhaustion, and reports inbound ESP', async () => {
    const dp = memoryDatapath();
    const { d, e, sock } = await start(CONFIG_YAML.replace('    routes:', '    childLifetimePackets: 3\n    routes:'), dp);
    const poll = (): void => (d as unknown as { pollCounters(): void }).pollCounters();
    await ok(sock, 'up', 't1');
    const tun = [...dp.tuns.values()][0]!;
    const pkt = ipv4('10.0.0.1', '10.9.9.9');
    tun.inject([pkt, pkt]);
    poll();
    expect(e.volume).toEqual([]);
    expect(e.inbound).toEqual([]);
    tun.inject([pkt]);
    poll();
    poll();
    expect(e.volume).toEqual([{ tunnel: 't1', spiIn: 0xc0ffee01, reason: 'packets' }]);
    expect(sink.records().find((x) => x.msg === 'Child SA reached 3 packets: rekeying')).toMatchObject({ tunnel: 't1', spiIn: 'c0ffee01' });

    // ESP from the peer (the fake engine's keys are the same both ways) advances packetsIn.
    const sa = new OutboundEspSa({ spi: 0xc0ffee01, encrId: 20, encrKeyBits: 256, integId: 0, encrKey: new Uint8Array(36).fill(0x5a), integKey: new Uint8Array(), esn: false });
    const out = new Uint8Array(256);
    const n = sealEsp(sa, pkt, pkt.length, 4, out, 0);
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', () => r()));
    try {
      peer.send(out.subarray(0, n), d.transport.endpoints()[0]!.natT, '127.0.0.1');
      for (let i = 0; i < 200 && tun.written.length === 0; i++) await sleep(5);
      poll();
      expect(e.inbound).toEqual(['t1']);
      poll();
      expect(e.inbound).toEqual(['t1']); // nothing new arrived
    } finally {
      peer.close();
    }

    // The datapath's own seq-exhausted request goes the same way, once, and only for installed SAs.
    await ok(sock, 'rekey', 't1');
    const ev = (spiIn: number): DataplaneEvent => ({ type: 'rekey-needed', tunnel: 't1', spiIn, reason: 'seq-exhausted' });
    const fire = (x: DataplaneEvent): void => (d as unknown as { onDataplaneEvent(x: DataplaneEvent): void }).onDataplaneEvent(x);
    fire(ev(0xc0ffee02));
    fire(ev(0xc0ffee02));
    fire(ev(0x12345678));
    expect(e.volume.slice(1)).toEqual([{ tunnel: 't1', spiIn: 0xc0ffee02, reason: 'seq-exhausted' }]);
  });
});

/** A minimal IPv4/UDP packet with a valid header checksum. */
function ipv4(src: string, dst: string): Uint8Array {
  const b = new Uint8Array(32);
  b[0] = 0x45;
  b[3] = b.length;
  b[8] = 64;
  b[9] = 17;
  b.set(src.split('.').map(Number), 12);
  b.set(dst.split('.').map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  b[10] = (~sum >> 8) & 0xff;
  b[11] = ~sum & 0xff;
  b[21] = 7; b[23] = 9; b[25] = 12;
  return b;
}
