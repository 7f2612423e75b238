import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { Arrival } from '../../../src/ike/actions.js';
import { MAX_PENDING_SENDS, resolveLocal, routeLookup, UdpBindError, UdpTransport, type IkeHandler } from '../../../src/net/udp.js';
import { parseConfig } from '../../../src/config/load.js';
import { createLogger } from '../../../src/log.js';

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function peer(): Promise<dgram.Socket> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.bind(0, '127.0.0.1', () => resolve(s));
  });
}

function sendTo(s: dgram.Socket, port: number, bytes: number[] | Buffer): Promise<void> {
  return new Promise((r) => s.send(Buffer.from(bytes), port, '127.0.0.1', () => r()));
}

const IKE = Buffer.from('0123456789abcdef0000000000000000212022080000000000000024', 'hex');

describe('UdpTransport', () => {
  const open: { t?: UdpTransport; p?: dgram.Socket }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0)) {
      await o.t?.close();
      o.p?.close();
    }
  });

  async function setup(handler?: IkeHandler) {
    const got: { bytes: Uint8Array; arrival: Arrival }[] = [];
    const t = await UdpTransport.open({
      addresses: ['127.0.0.1', '127.0.0.1'], // duplicates are bound once
      ports: { ike: 0, natT: 0 },
      onIke: handler ?? ((bytes, arrival) => void got.push({ bytes: Uint8Array.from(bytes), arrival })),
    });
    const p = await peer();
    open.push({ t, p });
    const ep = t.endpoints();
    expect(ep).toHaveLength(1);
    return { t, p, got, ep: ep[0]! };
  }

  it('strips the non-ESP marker on 4500 and hands the IKE message over with natT true', async () => {
    const { t, p, got, ep } = await setup();
    await sendTo(p, ep.natT, Buffer.concat([Buffer.alloc(4), IKE]));
    await waitFor(() => got.length === 1);
    expect(Buffer.from(got[0]!.bytes).equals(IKE)).toBe(true);
    expect(got[0]!.arrival).toEqual({
      from: { address: '127.0.0.1', port: p.address().port },
      to: { address: '127.0.0.1', port: ep.natT },
      natT: true,
    });
    expect(t.counters.ikeIn4500).toBe(1);
  });

  it('counts and drops NAT keepalives, ESP and runts on 4500', async () => {
    const { t, p, got, ep } = await setup();
    await sendTo(p, ep.natT, [0xff]);
    await sendTo(p, ep.natT, [0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1, 0xaa, 0xbb]); // SPI 0x1001
    await sendTo(p, ep.natT, [0x00, 0x00]);
    await sendTo(p, ep.natT, [0xfe]); // one octet that is not a keepalive
    await waitFor(() => t.counters.natKeepalives + t.counters.espDropped + t.counters.malformed === 4);
    expect(t.counters).toMatchObject({ natKeepalives: 1, espDropped: 1, malformed: 2, ikeIn4500: 0 });
    expect(got).toHaveLength(0);
  });

  it('delivers port-500 datagrams as-is with natT false and drops a marker there', async () => {
    const { t, p, got, ep } = await setup();
    await sendTo(p, ep.ike, Buffer.concat([Buffer.alloc(4), IKE]));
    await sendTo(p, ep.ike, IKE);
    await waitFor(() => got.length === 1 && t.counters.malformed === 1);
    expect(Buffer.from(got[0]!.bytes).equals(IKE)).toBe(true);
    expect(got[0]!.arrival.natT).toBe(false);
    expect(got[0]!.arrival.to.port).toBe(ep.ike);
    expect(t.counters.ikeIn500).toBe(1);
  });

  it('send() prefixes the marker and uses the 4500 socket when natT, else 500 unchanged', async () => {
    const { t, p, ep } = await setup();
    const rx: { msg: Buffer; port: number }[] = [];
    p.on('message', (msg, rinfo) => rx.push({ msg, port: rinfo.port }));
    const to = { address: '127.0.0.1', port: p.address().port };
    const from = { address: '127.0.0.1', port: 4500 };
    await t.send({ kind: 'send', from, to, natT: true, bytes: new Uint8Array(IKE) });
    await t.send({ kind: 'send', from, to, natT: false, bytes: new Uint8Array(IKE) });
    await waitFor(() => rx.length === 2);
    const natT = rx.find((r) => r.port === ep.natT)!;
    const plain = rx.find((r) => r.port === ep.ike)!;
    expect(natT.msg.equals(Buffer.concat([Buffer.alloc(4), IKE]))).toBe(true);
    expect(plain.msg.equals(IKE)).toBe(true);
    expect(t.counters.ikeOut).toBe(2);
  });

  it('sendKeepalive() sends the one octet 0xFF from the 4500 socket (RFC 3948 §2.3)', async () => {
    const { t, p, ep } = await setup();
    const rx: { msg: Buffer; port: number }[] = [];
    p.on('message', (msg, rinfo) => rx.push({ msg, port: rinfo.port }));
    await t.sendKeepalive({ address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: p.address().port });
    await waitFor(() => rx.length === 1);
    expect([...rx[0]!.msg]).toEqual([0xff]);
    expect(rx[0]!.port).toBe(ep.natT);
    expect(t.counters).toMatchObject({ natKeepalivesOut: 1, ikeOut: 0, sendErrors: 0 });
    await t.close();
    await t.sendKeepalive({ address: '127.0.0.1', port: 4500 }, { address: '127.0.0.1', port: p.address().port });
    expect(t.counters).toMatchObject({ natKeepalivesOut: 1, sendErrors: 1 }); // closed: counted, never thrown
  });

  it(`bounds the sends waiting for the kernel at MAX_PENDING_SENDS (${MAX_PENDING_SENDS}); the rest are dropped and counted`, async () => {
    const { t, p } = await setup();
    let got = 0;
    p.on('message', () => got++);
    const to = { address: '127.0.0.1', port: p.address().port };
    const from = { address: '127.0.0.1', port: 500 };
    // All handed over in one turn: no completion can come back before the last call.
    const sends = Array.from({ length: MAX_PENDING_SENDS + 300 }, (_, i) =>
      i % 2 ? t.send({ kind: 'send', from, to, natT: false, bytes: new Uint8Array(IKE) }) : t.sendKeepalive({ address: '127.0.0.1', port: 4500 }, to));
    expect(t.pendingSends).toBe(MAX_PENDING_SENDS);
    expect(t.counters.sendQueueFull).toBe(300);
    await Promise.all(sends);
    expect(t.pendingSends).toBe(0);
    expect(t.counters.ikeOut + t.counters.natKeepalivesOut).toBe(MAX_PENDING_SENDS);
    // Once they completed, sending works again.
    await t.send({ kind: 'send', from, to, natT: false, bytes: new Uint8Array(IKE) });
    expect(t.counters.sendQueueFull).toBe(300);
    await waitFor(() => got >= 1);
  });

  it('counts a throwing or rejecting handler and keeps serving', async () => {
    let n = 0;
    const { t, p, ep } = await setup((bytes) => {
      n++;
      if (bytes[0] === 1) throw new Error('hostile input');
      if (bytes[0] === 2) return Promise.reject(new Error('async hostile input'));
    });
    await sendTo(p, ep.ike, [1, 1, 1, 1, 1]);
    await sendTo(p, ep.natT, [0, 0, 0, 0, 2, 2, 2, 2]);
    await sendTo(p, ep.ike, [3, 3, 3, 3]);
    await waitFor(() => n === 3 && t.counters.handlerErrors === 2);
    expect(t.counters.ikeIn500 + t.counters.ikeIn4500).toBe(3);
  });

  it('explains a port conflict', async () => {
    const { ep } = await setup();
    const err = await UdpTransport.open({
      addresses: ['127.0.0.1'], ports: { ike: ep.ike, natT: 0 }, onIke: () => {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UdpBindError);
    expect((err as UdpBindError).code).toBe('EADDRINUSE');
    expect((err as Error).message).toMatch(new RegExp(`^cannot bind UDP 127\\.0\\.0\\.1:${ep.ike}: address in use — .*stop it`));
  });

  it('explains an address that is not configured here', async () => {
    const err = await UdpTransport.open({ addresses: ['192.0.2.123'], ports: { ike: 0, natT: 0 }, onIke: () => {} })
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/cannot bind UDP 192\.0\.2\.123:0: address not available — .*fix localAddress/);
  });
});

describe('local address selection', () => {
  it('asks the routing table for the source address', async () => {
    expect(await routeLookup('127.0.0.1')).toBe('127.0.0.1');
  });

  it('fills in localAddress by route lookup and binds 0.0.0.0 for a %any responder', async () => {
    const yaml = `tunnels:
  - { name: a, localId: fqdn:a.example, remoteAddress: 127.0.0.1, psk: "correct horse battery staple", profile: gsa-default }
  - { name: b, localAddress: 127.0.0.1, remoteAddress: "%any", initiate: false, psk: "correct horse battery staple", profile: gsa-default }
  - { name: c, localAddress: 127.0.0.1, remoteAddress: 127.0.0.3, psk: "correct horse battery staple", profile: gsa-default }
`;
    const r = parseConfig(yaml, 'test.yaml', {});
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const lines: string[] = [];
    const log = createLogger({ level: 'info', stream: { write: (l: string) => void lines.push(l) } });
    // The loader insists on localAddress for responders; the daemon still copes if one has none.
    const input = r.config.tunnels.map((t) => (t.name === 'b' ? { ...t, localAddress: undefined } : t));
    const { tunnels, bind } = await resolveLocal(input, log);
    expect(tunnels.map((t) => t.localAddress)).toEqual(['127.0.0.1', undefined, '127.0.0.1']);
    expect(bind).toEqual(['127.0.0.1', '0.0.0.0', '127.0.0.1']);
    expect(lines.join('')).toContain('localAddress chosen by route lookup');
    expect(lines.join('')).toContain('listening on 0.0.0.0');
  });
});
