/**
 * The native dataplane (src/dataplane/native-dataplane.ts, native/src/dp*.c) end to end in one
 * process: two engines, each sharing a real loopback UdpTransport's port-4500 socket, each with a
 * socketpair as its TUN twin. Packets written into one twin come out of the other as the same
 * bytes, through ESP carried by the engines' own I/O threads; IKE on port 4500 still reaches
 * UdpTransport; the Dataplane seam's lifecycle semantics hold (make-before-break, fallback on
 * delete, updateRemote, NAT mapping learning, rekey-needed); hostile datagrams are counted drops.
 *
 * Needs the built addon; without it every test FAILS with the reason, never skips.
 */
import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import type { DataplaneEvent } from '../../../src/dataplane/types.js';
import { addon, drain, hex, inject, receive, side, specPair, SUITES, udp, until, type Side } from './dp-helpers.js';

const open: (Side | dgram.Socket)[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) {
    if (o instanceof dgram.Socket) o.close();
    else await o.close();
  }
});

async function pair(suite = SUITES[0]!, opts: { mtu?: number; mss?: number; esn?: boolean } = {}): Promise<{ a: Side; b: Side; spiA: number; spiB: number }> {
  const a = await side(opts.mtu, opts.mss);
  open.push(a);
  const b = await side(opts.mtu, opts.mss);
  open.push(b);
  const spiA = 0x1000_0000 + (Math.random() * 0xffff | 0);
  const spiB = 0x2000_0000 + (Math.random() * 0xffff | 0);
  const [sa, sb] = specPair(suite, spiA, spiB, { address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: b.port }, opts.esn);
  b.dp.addChildSa(sb);
  a.dp.addChildSa(sa);
  return { a, b, spiA, spiB };
}

function sink(): Promise<{ s: dgram.Socket; got: Buffer[]; port: number }> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    s.bind(0, '127.0.0.1', () => {
      open.push(s);
      resolve({ s, got, port: s.address().port });
    });
  });
}

function sendFrom(s: dgram.Socket, port: number, bytes: Uint8Array): Promise<void> {
  return new Promise((r) => s.send(bytes, port, '127.0.0.1', () => r()));
}

const SIZES = [28, 29, 64, 100, 511, 1000, 1399, 1400];

describe('NativeDataplane', () => {
  it('adopts the port-4500 socket with content steering (ESP to the engine, IKE to UdpTransport)', async () => {
    const { a } = await pair();
    expect(a.dp.sockets).toEqual([{ address: '127.0.0.1', port: a.port, mode: 'steered', reason: '' }]);
  });

  for (const suite of SUITES) {
    it(`carries packets both ways with ${suite.name}, byte for byte, without the event loop`, async () => {
      const { a, b, spiA, spiB } = await pair(suite);
      const ab = Array.from({ length: 200 }, (_, i) => udp('100.64.10.2', '100.64.20.2', SIZES[i % SIZES.length]!, i));
      const ba = Array.from({ length: 120 }, (_, i) => udp('100.64.20.2', '100.64.10.2', SIZES[(i * 3) % SIZES.length]!, i));
      inject(a.twin, ab);
      inject(b.twin, ba);
      const atB = await receive(b.twin, ab.length);
      const atA = await receive(a.twin, ba.length);
      expect(atB.map(hex)).toEqual(ab.map(hex));
      expect(atA.map(hex)).toEqual(ba.map(hex));
      expect(a.espViaJs + b.espViaJs, 'ESP that went through UdpTransport.onEsp').toBe(0);
      const bytes = (ps: Uint8Array[]): number => ps.reduce((n, p) => n + p.length, 0);
      expect(a.dp.counters(spiA)).toMatchObject({ packetsOut: 200, bytesOut: bytes(ab), packetsIn: 120, bytesIn: bytes(ba), replayDrops: 0, authFailures: 0 });
      expect(b.dp.counters(spiB)).toMatchObject({ packetsOut: 120, packetsIn: 200, bytesIn: bytes(ab) });
      expect(a.dp.tunnelStats('gw')).toMatchObject({ tunPacketsIn: 200, espPacketsIn: 120 });
      expect(a.dp.drops()).toMatchObject({ 'tx-no-sa': 0, 'tx-send-error': 0, 'tx-queue-full': 0, 'tun-write': 0 });
    });
  }

  it('ESN and a jumbo MTU', async () => {
    const { a, b } = await pair(SUITES[0]!, { mtu: 9000, esn: true });
    const ps = [udp('100.64.10.2', '100.64.20.9', 9000), udp('100.64.10.2', '100.64.20.9', 28), udp('100.64.10.2', '100.64.20.9', 8999)];
    inject(a.twin, ps);
    expect((await receive(b.twin, 3)).map(hex)).toEqual(ps.map(hex));
  });

  it('IKE (non-ESP marker) and NAT-keepalives on port 4500 still reach UdpTransport', async () => {
    const { a } = await pair();
    const { s } = await sink();
    const ikeMsg = Buffer.concat([Buffer.alloc(4), Buffer.from('0123456789abcdef0000000000000000212022080000000000000024', 'hex')]);
    for (let i = 0; i < 20; i++) await sendFrom(s, a.port, ikeMsg);
    await sendFrom(s, a.port, Uint8Array.of(0xff));
    await until('20 IKE messages at UdpTransport', () => a.ike.length === 20);
    expect(hex(a.ike[0]!.bytes)).toBe(hex(ikeMsg.subarray(4)));
    expect(a.ike[0]!.arrival.natT).toBe(true);
    await until('the keepalive counted by UdpTransport', () => a.transport.counters.natKeepalives === 1);
    expect(a.dp.drops()['non-esp']).toBe(0);
  });

  it('make-before-break: the new SA sends at once, the old inbound keeps accepting until deleted; delete falls back', async () => {
    const { a, b, spiA, spiB } = await pair();
    const [na, nb] = specPair(SUITES[0]!, spiA + 1, spiB + 1, { address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: b.port });
    // Rekey as the initiator side sees it: b installs first (inbound first), a then switches.
    b.dp.addChildSa(nb);
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100)]); // still on the old SA
    await receive(b.twin, 1);
    a.dp.addChildSa(na);
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 200)]);
    await receive(b.twin, 1);
    expect(b.dp.counters(spiB)?.packetsIn, 'old inbound SA').toBe(1);
    expect(b.dp.counters(spiB + 1)?.packetsIn, 'new inbound SA').toBe(1);
    // b sends on its newest SA.
    inject(b.twin, [udp('100.64.20.2', '100.64.10.2', 60)]);
    await receive(a.twin, 1);
    expect(a.dp.counters(spiA + 1)?.packetsIn).toBe(1);
    // Delete a's newest child: a falls back to the old one (only because it was the sender).
    a.dp.deleteChildSa(spiA + 1);
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 90)]);
    await receive(b.twin, 1);
    expect(b.dp.counters(spiB)?.packetsIn, 'a fell back to its old child').toBe(2);
    // Delete the last one: packets count as noSa, nothing is sent.
    a.dp.deleteChildSa(spiA);
    expect(a.dp.counters(spiA)).toBeNull();
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 90), udp('100.64.10.2', '100.64.20.2', 91)]);
    await until('noSa drops', () => a.dp.drops()['tx-no-sa'] === 2);
    expect(drain(b.twin)).toEqual([]);
  });

  it('deleting a child that is not the sender leaves the sender alone', async () => {
    const { a, b, spiA, spiB } = await pair();
    const [na, nb] = specPair(SUITES[0]!, spiA + 1, spiB + 1, { address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: b.port });
    b.dp.addChildSa(nb);
    a.dp.addChildSa(na);
    a.dp.deleteChildSa(spiA); // the old one
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100)]);
    await receive(b.twin, 1);
    expect(b.dp.counters(spiB + 1)?.packetsIn).toBe(1);
    expect(b.dp.counters(spiB)?.packetsIn).toBe(0);
  });

  it('updateRemote moves every outbound SA of the tunnel', async () => {
    const { a, spiA } = await pair();
    const { port, got } = await sink();
    a.dp.updateRemote('gw', { address: '127.0.0.1', port });
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100), udp('100.64.10.2', '100.64.20.2', 100)]);
    await until('2 ESP datagrams at the new remote', () => got.length === 2);
    expect(got[0]!.readUInt32BE(0), 'SPI of the datagram').not.toBe(0);
    expect(a.dp.counters(spiA)?.packetsOut).toBe(2);
  });

  it('learns a moved NAT mapping from authenticated ESP (RFC 7296 §2.23), not from forged ESP', async () => {
    const { a, b, spiB } = await pair();
    // Capture a genuine ESP datagram a sends, and replay it to b from another port (a NAT rebinding).
    const { port: capPort, got: cap } = await sink();
    a.dp.updateRemote('gw', { address: '127.0.0.1', port: capPort });
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100)]);
    await until('captured ESP', () => cap.length === 1);
    const { s: nat, port: natPort, got: atNat } = await sink();
    // A forged copy first (one flipped octet): must not move b's remote.
    const forged = Buffer.from(cap[0]!);
    forged[forged.length - 1]! ^= 1;
    await sendFrom(nat, b.port, forged);
    await until('auth failure counted', () => b.dp.counters(spiB)!.authFailures === 1);
    await sendFrom(nat, b.port, cap[0]!);
    await receive(b.twin, 1);
    inject(b.twin, [udp('100.64.20.2', '100.64.10.2', 70)]);
    await until('b answers to the new mapping', () => atNat.length === 1);
    expect(b.dp.counters(spiB)?.packetsIn).toBe(1);
  });

  it('sequence-number soft limit and exhaustion emit rekey-needed; exhausted SAs send nothing', async () => {
    const { a, b, spiA } = await pair();
    const events: DataplaneEvent[] = [];
    a.dp.onEvent((e) => events.push(e));
    expect(a.dp.setSeqForTest(spiA, 0, 0xfeff_fffe)).toBe(true);
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100), udp('100.64.10.2', '100.64.20.2', 100)]);
    await until('rekey-needed', () => events.length === 1);
    expect(events[0]).toEqual({ type: 'rekey-needed', tunnel: 'gw', spiIn: spiA, reason: 'seq-exhausted' });
    await receive(b.twin, 2);
    a.dp.setSeqForTest(spiA, 0, 0xffff_ffff);
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100)]);
    await until('second rekey-needed', () => events.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    expect(drain(b.twin)).toEqual([]);
    expect(a.dp.counters(spiA)?.packetsOut).toBe(2);
  });

  it('drops and counts what the selectors, IPv4 parsing, unknown SPIs and forgeries say', async () => {
    const { a, b, spiA, spiB } = await pair();
    inject(a.twin, [udp('100.64.99.2', '100.64.20.2', 100), udp('100.64.10.2', '203.0.113.1', 100), Uint8Array.of(0x60, 0, 0, 0), new Uint8Array(40)]);
    await until('outbound policy and not-IPv4 drops', () => {
      const s = a.dp.tunnelStats('gw')!;
      return s.tunPacketsIn === 4 && a.dp.drops()['tx-not-ipv4'] === 2 ? s : undefined;
    });
    expect(a.dp.counters(spiA)?.policyDrops).toBe(2);
    const { s } = await sink();
    for (let n = 1; n < 64; n++) await sendFrom(s, b.port, Buffer.alloc(n, 0x41)); // foreign SPIs, all lengths
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(spiB);
    for (let n = 0; n < 60; n += 3) await sendFrom(s, b.port, Buffer.concat([spi, Buffer.alloc(n, 7)])); // b's SPI, garbage
    await until('unknown SPIs counted', () => (b.dp.unknownSpi === 60 ? true : undefined));
    // Short ones are malformed (not in SaCounters), seq 0x07070707 passes the window, the tag fails.
    await until('forgeries counted', () => (b.dp.counters(spiB)!.authFailures >= 10 ? true : undefined));
    // Still alive: traffic flows.
    inject(a.twin, [udp('100.64.10.2', '100.64.20.2', 100)]);
    await receive(b.twin, 1);
  });

  it('MSS clamping on SYNs both ways', async () => {
    const { a, b } = await pair(SUITES[0]!, { mss: 1300 });
    const syn = udp('100.64.10.2', '100.64.20.2', 44, 0, 6);
    syn[32] = 0x60; // data offset 24
    syn[33] = 0x02; // SYN
    syn.set([2, 4, 0x05, 0xb4], 40); // MSS 1460
    inject(a.twin, [syn]);
    const [got] = await receive(b.twin, 1);
    expect((got![42]! << 8) | got![43]!).toBe(1300);
  });

  it('receiveEsp: ESP arriving through UdpTransport (send-only mode) opens the same way', async () => {
    const { a, b, spiB } = await pair();
    const { port: capPort, got: cap } = await sink();
    a.dp.updateRemote('gw', { address: '127.0.0.1', port: capPort });
    const inner = udp('100.64.10.2', '100.64.20.2', 400);
    inject(a.twin, [inner]);
    await until('captured ESP', () => cap.length === 1);
    b.dp.receiveEsp(cap[0]!, { address: '127.0.0.1', port: a.port });
    expect((await receive(b.twin, 1)).map(hex)).toEqual([hex(inner)]);
    b.dp.receiveEsp(cap[0]!, { address: '127.0.0.1', port: a.port }); // replayed
    expect(b.dp.counters(spiB)?.replayDrops).toBe(1);
    b.dp.receiveEsp(cap[0]!, { address: 'not-an-address', port: 1 });
    expect(b.dp.badSource).toBe(1);
  });

  it('rejects children for unknown tunnels and mismatched transforms; close is idempotent', async () => {
    const s = await side();
    open.push(s);
    const [x] = specPair(SUITES[0]!, 5, 6, { address: '127.0.0.1', port: s.port }, { address: '127.0.0.1', port: 9 });
    expect(() => s.dp.addChildSa({ ...x, tunnel: 'nope' })).toThrow(/no tunnel interface/);
    expect(() => s.dp.addChildSa({ ...x, outbound: { ...x.outbound, esn: true } })).toThrow(/same transforms/);
    expect(() => s.dp.addChildSa({ ...x, inbound: { ...x.inbound, encrKey: new Uint8Array(3) } })).toThrow(RangeError);
    await s.dp.close();
    await s.dp.close();
    expect(addon().opensslVersion()).toMatch(/OpenSSL/);
  });
});
