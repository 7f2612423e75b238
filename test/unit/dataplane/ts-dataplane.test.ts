/**
 * The TypeScript datapath between two engines' real Child SAs: packets injected into one
 * MemoryTun come out of the other as the same bytes, through real ESP on a MemoryWire; replays,
 * forgeries, unknown SPIs and policy violations are dropped and counted.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, expectEstablishedPair, initiatorTunnel, responderTunnel } from '../../exchange/harness.js';
import { TsDataplane } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun, MemoryWire } from '../../../src/dataplane/memory.js';
import { childSpec } from '../../../src/dataplane/spec.js';
import type { Action } from '../../../src/ike/actions.js';

/** An IPv4/UDP packet (RFC 791/768) with a valid header checksum. */
function udp(src: string, dst: string, payload: number[], proto = 17): Uint8Array {
  const b = new Uint8Array(28 + payload.length);
  b[0] = 0x45;
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[8] = 64;
  b[9] = proto;
  b.set(src.split('.').map(Number), 12);
  b.set(dst.split('.').map(Number), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const ck = ~sum & 0xffff;
  b[10] = ck >> 8;
  b[11] = ck & 0xff;
  b[20] = 0x30; b[21] = 0x39; b[22] = 0x00; b[23] = 0x35; // ports 12345 -> 53
  b[24] = (8 + payload.length) >> 8;
  b[25] = (8 + payload.length) & 0xff;
  b.set(payload, 28);
  return b;
}

interface Side {
  dp: TsDataplane;
  tun: MemoryTun;
  spiIn: number;
}

async function pair(esp: string, extraR: Record<string, unknown> = {}): Promise<{ a: Side; b: Side; wire: MemoryWire }> {
  const net = new Net();
  const installs = new Map<string, Extract<Action, { kind: 'install-child' }>>();
  for (const [addr, t] of [[I, initiatorTunnel({ ike: ['aes256gcm16-prfsha384-ecp256'], esp: [esp] })], [R, responderTunnel({ ike: ['aes256gcm16-prfsha384-ecp256'], esp: [esp], ...extraR })]] as const) {
    const node = net.add(addr, [t], { udpEncapsulationOnly: true });
    const perform = net.perform.bind(net);
    net.perform = (n, actions) => {
      for (const x of actions) if (x.kind === 'install-child') installs.set(n.address, x);
      perform(n, actions);
    };
    void node;
  }
  net.start(I);
  expectEstablishedPair(net);
  const wire = new MemoryWire();
  const side = async (addr: string): Promise<Side> => {
    const act = installs.get(addr)!;
    let tun!: MemoryTun;
    const dp = new TsDataplane({ openTun: (name, mtu) => (tun = new MemoryTun(name, mtu)), sender: wire.sender() });
    await dp.attachTunnel(act.child.tunnel, { name: 'bg0', mtu: 1380, mssClamp: 1340 });
    dp.addChildSa(childSpec(act));
    wire.listen(addr, (bytes, from) => dp.receiveEsp(bytes, from));
    return { dp, tun, spiIn: act.child.spiIn };
  };
  return { a: await side(I), b: await side(R), wire };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TsDataplane', () => {
  for (const esp of ['aes256gcm16', 'aes128gcm16', 'aes256-sha256', 'null-sha256']) {
    it(`carries packets both ways with ${esp}`, async () => {
      const { a, b, wire } = await pair(esp);
      const p1 = udp('100.64.10.2', '100.64.20.2', [1, 2, 3, 4, 5]);
      const p2 = udp('100.64.10.2', '100.64.20.3', Array.from({ length: 1000 }, (_, i) => i & 0xff));
      a.tun.inject([p1, p2]);
      expect(wire.queue.length).toBe(2);
      // What travels is ESP, not the plaintext.
      expect(Buffer.from(wire.queue[1]!.bytes).includes(Buffer.from(p2.subarray(28, 60)))).toBe(esp.startsWith('null'));
      wire.deliver();
      await tick();
      expect(b.tun.written).toEqual([p1, p2]);
      b.tun.inject([udp('100.64.20.2', '100.64.10.2', [9])]);
      wire.deliver();
      await tick();
      expect(a.tun.written.length).toBe(1);
      expect(a.dp.counters(a.spiIn)).toMatchObject({ packetsOut: 2, packetsIn: 1, bytesOut: p1.length + p2.length, replayDrops: 0, authFailures: 0 });
      expect(b.dp.counters(b.spiIn)).toMatchObject({ packetsIn: 2, packetsOut: 1 });
    });
  }

  it('drops and counts replayed, forged and unknown-SPI ESP', async () => {
    const { a, b, wire } = await pair('aes256gcm16');
    a.tun.inject([udp('100.64.10.2', '100.64.20.2', [1])]);
    const [d] = wire.queue;
    wire.deliver((x) => [x, x]); // replay
    const forged = Uint8Array.from(d!.bytes);
    forged[forged.length - 1]! ^= 1;
    b.dp.receiveEsp(forged, d!.from);
    const unknown = Uint8Array.from(d!.bytes);
    unknown[0]! ^= 0xff;
    b.dp.receiveEsp(unknown, d!.from);
    await tick();
    expect(b.tun.written.length).toBe(1);
    expect(b.dp.counters(b.spiIn)).toMatchObject({ packetsIn: 1, replayDrops: 2, authFailures: 0 });
    expect(b.dp.unknownSpi).toBe(1);
    // The forged copy is a replay of a seen sequence number: the window rejects it before the ICV.
    const fresh = udp('100.64.10.2', '100.64.20.2', [2]);
    a.tun.inject([fresh]);
    const f2 = Uint8Array.from(wire.queue[0]!.bytes);
    f2[f2.length - 1]! ^= 1;
    wire.queue.length = 0;
    b.dp.receiveEsp(f2, d!.from);
    expect(b.dp.counters(b.spiIn)!.authFailures).toBe(1);
  });

  it('enforces the negotiated selectors on inbound packets (RFC 4301 §5.2)', async () => {
    // The responder allows only 100.64.10.0/24 from the branch.
    const { a, b, wire } = await pair('aes128gcm16', { remoteTs: ['100.64.10.0/24'] });
    a.tun.inject([udp('100.64.10.2', '100.64.20.2', [1]), udp('198.51.100.7', '100.64.20.2', [2])]);
    // The initiator's outbound policy is narrowed too, so the spoofed source never leaves.
    expect(a.dp.counters(a.spiIn)!.policyDrops).toBe(1);
    wire.deliver();
    await tick();
    expect(b.tun.written.length).toBe(1);
  });

  it('packets with no Child SA installed are counted, not sent', async () => {
    let tun!: MemoryTun;
    const wire = new MemoryWire();
    const dp = new TsDataplane({ openTun: (n, m) => (tun = new MemoryTun(n, m)), sender: wire.sender() });
    await dp.attachTunnel('t', { name: 'bg0', mtu: 1380, mssClamp: 0 });
    tun.inject([udp('100.64.10.2', '100.64.20.2', [1])]);
    expect(wire.queue.length).toBe(0);
    expect(dp.drops()['tx-no-sa']).toBe(1);
  });

  it('clamps the MSS of a TCP SYN on the way into the tunnel', async () => {
    const { a, b, wire } = await pair('aes256gcm16');
    // IPv4 + TCP SYN with MSS option 1460 (RFC 793 §3.1, RFC 6691).
    const syn = udp('100.64.10.2', '100.64.20.2', [], 6);
    const tcp = new Uint8Array(24);
    tcp[12] = 6 << 4; tcp[13] = 0x02; tcp[20] = 2; tcp[21] = 4; tcp[22] = 1460 >> 8; tcp[23] = 1460 & 0xff;
    const pkt = new Uint8Array(20 + 24);
    pkt.set(syn.subarray(0, 20));
    pkt[3] = 44;
    pkt.set(tcp, 20);
    a.tun.inject([pkt]);
    wire.deliver();
    await tick();
    const got = b.tun.written[0]!;
    expect((got[42]! << 8) | got[43]!).toBe(1340);
  });
});

describe('TsDataplane make-before-break and NAT mapping moves', () => {
  const any = { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) };
  const key = (b: number): Uint8Array => new Uint8Array(36).fill(b);
  const sa = (spi: number, k: number) => ({ spi, encrId: 20, encrKeyBits: 256, integId: 0, encrKey: key(k), integKey: new Uint8Array(), esn: false });
  /** Side x's half of a Child SA whose SPIs are (x inbound, y inbound) with keys kx (x receives) and ky. */
  const spec = (tunnel: string, spiIn: number, spiOut: number, kIn: number, kOut: number, local: string, remote: string) => ({
    tunnel, inbound: sa(spiIn, kIn), outbound: sa(spiOut, kOut), localTs: [any], remoteTs: [any],
    local: { address: local, port: 4500 }, remote: { address: remote, port: 4500 },
  });

  async function two() {
    const wire = new MemoryWire();
    const tuns: Record<string, MemoryTun> = {};
    const mk = async (addr: string) => {
      const dp = new TsDataplane({ openTun: (n, m) => (tuns[addr] = new MemoryTun(n, m)), sender: wire.sender() });
      await dp.attachTunnel('t', { name: 'bg0', mtu: 1380, mssClamp: 0 });
      wire.listen(addr, (bytes, from) => dp.receiveEsp(bytes, from));
      return dp;
    };
    const a = await mk('192.0.2.1');
    const b = await mk('198.51.100.2');
    // the old Child SA: a receives on 0xa0000001, b on 0xb0000001
    a.addChildSa(spec('t', 0xa0000001, 0xb0000001, 1, 2, '192.0.2.1', '198.51.100.2'));
    b.addChildSa(spec('t', 0xb0000001, 0xa0000001, 2, 1, '198.51.100.2', '192.0.2.1'));
    return { a, b, wire, ta: tuns['192.0.2.1']!, tb: tuns['198.51.100.2']! };
  }
  const spiOf = (d: { bytes: Uint8Array }): number => new DataView(d.bytes.buffer, d.bytes.byteOffset).getUint32(0);

  it('activate: false accepts on the new SA at once but keeps sending on the old one until activateChildSa', async () => {
    const { a, b, wire, ta, tb } = await two();
    const p = udp('100.64.10.2', '100.64.20.2', [1]);
    // rekey: b is the responder (inbound only), a the initiator (switches at once)
    b.addChildSa(spec('t', 0xb0000002, 0xa0000002, 4, 3, '198.51.100.2', '192.0.2.1'), { activate: false });
    tb.inject([p]);
    expect(wire.queue.map(spiOf)).toEqual([0xa0000001]); // b still sends on the old SA: a has not installed the new one
    wire.deliver();
    a.addChildSa(spec('t', 0xa0000002, 0xb0000002, 3, 4, '192.0.2.1', '198.51.100.2'));
    ta.inject([p]);
    expect(wire.queue.map(spiOf)).toEqual([0xb0000002]); // a's new outbound, accepted by b's new inbound
    wire.deliver();
    b.activateChildSa(0xb0000002);
    b.activateChildSa(0x12345678); // unknown: no-op
    tb.inject([p]);
    expect(wire.queue.map(spiOf)).toEqual([0xa0000002]);
    wire.deliver();
    // the old inbound SAs still accept until deleted (late packets of the old SA)
    b.deleteChildSa(0xb0000001);
    a.deleteChildSa(0xa0000001);
    ta.inject([p]);
    tb.inject([p]);
    wire.deliver();
    await tick();
    expect(ta.written.length).toBe(3);
    expect(tb.written.length).toBe(2);
    for (const [dp, spi] of [[a, 0xa0000002], [b, 0xb0000002]] as const) {
      expect(dp.counters(spi)).toMatchObject({ authFailures: 0, replayDrops: 0 });
    }
    expect(a.unknownSpi + b.unknownSpi).toBe(0);
  });

  it('updateRemote sends every outbound SA of the tunnel to the new endpoint', async () => {
    const { a, wire, ta } = await two();
    a.addChildSa(spec('t', 0xa0000002, 0xb0000002, 3, 4, '192.0.2.1', '198.51.100.2'), { activate: false });
    a.updateRemote('t', { address: '198.51.100.2', port: 61000 });
    ta.inject([udp('100.64.10.2', '100.64.20.2', [1])]);
    a.activateChildSa(0xa0000002);
    ta.inject([udp('100.64.10.2', '100.64.20.2', [2])]);
    expect(wire.queue.map((d) => [spiOf(d), d.to.port])).toEqual([[0xb0000001, 61000], [0xb0000002, 61000]]);
    a.updateRemote('other', { address: '203.0.113.1', port: 1 }); // another tunnel's move changes nothing here
    ta.inject([udp('100.64.10.2', '100.64.20.2', [3])]);
    expect(wire.queue.at(-1)!.to).toEqual({ address: '198.51.100.2', port: 61000 });
  });
});
