/**
 * TUN offloads in the native engine (native/src/dp_io.c), through the socketpair TUN twin speaking
 * virtio_net_hdr as an IFF_VNET_HDR fd does:
 *   - TX: a TCP super-packet (VIRTIO_NET_HDR_GSO_TCPV4, the kernel's TSO) is cut into gso_size
 *     segments with correct IPv4 and TCP checksums, consecutive sequence numbers, IP IDs + 1,
 *     PSH/FIN on the last segment only; a NEEDS_CSUM packet gets its checksum completed;
 *   - RX: consecutive in-order segments of one flow are written back as one super-packet
 *     (GSO_TCPV4, NEEDS_CSUM with the pseudo-header sum), anything else one packet each.
 * The payload must come out byte for byte. Needs the built addon (fails, never skips).
 */
import { readSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { inject, receive, side, specPair, SUITES, until, type Side } from './dp-helpers.js';

const open: Side[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

async function pair(aOffload: boolean, bOffload: boolean): Promise<{ a: Side; b: Side }> {
  const a = await side(1400, 0, { offload: aOffload });
  const b = await side(1400, 0, { offload: bOffload });
  open.push(a, b);
  const [sa, sb] = specPair(SUITES[0]!, 0x1100_0001, 0x2200_0002, { address: '127.0.0.1', port: a.port }, { address: '127.0.0.1', port: b.port });
  b.dp.addChildSa(sb);
  a.dp.addChildSa(sa);
  return { a, b };
}

function sum16(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const ipOk = (p: Uint8Array): boolean => sum16(p.subarray(0, (p[0]! & 15) * 4)) === 0xffff;
function tcpOk(p: Uint8Array): boolean {
  const ihl = (p[0]! & 15) * 4;
  const tcp = p.subarray(ihl);
  const ph = new Uint8Array(12);
  ph.set(p.subarray(12, 20));
  ph[9] = 6;
  ph[10] = tcp.length >> 8;
  ph[11] = tcp.length & 0xff;
  return sum16(tcp, sum16(ph)) === 0xffff;
}

const OPTS = [1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]; // NOP NOP timestamps
const HLEN = 20 + 32;

/** An IPv4/TCP packet 100.64.10.2:40000 → 100.64.20.2:5201 with timestamps; checksum left 0. */
function tcp(payload: Uint8Array, seq: number, flags: number, id = 0x1234, sport = 40000): Uint8Array {
  const p = new Uint8Array(HLEN + payload.length);
  p.set([0x45, 0, (p.length >> 8) & 0xff, p.length & 0xff, id >> 8, id & 0xff, 0x40, 0, 64, 6], 0);
  p.set([100, 64, 10, 2, 100, 64, 20, 2], 12);
  p.set([sport >> 8, sport & 0xff, 0x14, 0x51], 20);
  new DataView(p.buffer).setUint32(24, seq);
  new DataView(p.buffer).setUint32(28, 0xabcdef01);
  p[32] = 8 << 4;
  p[33] = flags;
  p[34] = 0x01;
  p[35] = 0xf6;
  p.set(OPTS, 40);
  p.set(payload, HLEN);
  return p;
}
function withIpCsum(p: Uint8Array): Uint8Array {
  p[10] = p[11] = 0;
  const c = ~sum16(p.subarray(0, 20)) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}
function withTcpCsum(p: Uint8Array): Uint8Array {
  p[36] = p[37] = 0;
  const ph = new Uint8Array(12);
  ph.set(p.subarray(12, 20));
  ph[9] = 6;
  ph[10] = (p.length - 20) >> 8;
  ph[11] = (p.length - 20) & 0xff;
  const c = ~sum16(p.subarray(20), sum16(ph)) & 0xffff;
  p[36] = c >> 8;
  p[37] = c & 0xff;
  return p;
}

/** struct virtio_net_hdr (little-endian fields) before the packet. */
function vnet(p: Uint8Array, h: { flags?: number; gso?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOffset?: number }): Uint8Array {
  const b = new Uint8Array(10 + p.length);
  const v = new DataView(b.buffer);
  b[0] = h.flags ?? 0;
  b[1] = h.gso ?? 0;
  v.setUint16(2, h.hdrLen ?? 0, true);
  v.setUint16(4, h.gsoSize ?? 0, true);
  v.setUint16(6, h.csumStart ?? 0, true);
  v.setUint16(8, h.csumOffset ?? 0, true);
  b.set(p, 10);
  return b;
}
const NEEDS_CSUM = 1;
const GSO_TCPV4 = 1;
const seqOf = (p: Uint8Array): number => new DataView(p.buffer, p.byteOffset).getUint32(24);

function pattern(n: number, k = 7): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * k + (i >> 8)) & 0xff);
}

describe('native engine TUN offloads (virtio_net_hdr)', () => {
  it('TX: a TSO super-packet leaves as gso_size segments with valid checksums, in order, flags on the last', async () => {
    const { a, b } = await pair(true, false);
    const data = pattern(20_000);
    const mss = 1348;
    const sup = tcp(data, 0xfffff000, 0x18 | 0x01); // ACK PSH FIN; the sequence number wraps mid-run
    withIpCsum(sup);
    inject(a.twin, [vnet(sup, { flags: NEEDS_CSUM, gso: GSO_TCPV4, hdrLen: HLEN, gsoSize: mss, csumStart: 20, csumOffset: 16 })]);
    const n = Math.ceil(data.length / mss);
    const segs = await receive(b.twin, n);
    expect(segs.length).toBe(n);
    const joined = new Uint8Array(data.length);
    let off = 0;
    segs.forEach((s, i) => {
      expect(ipOk(s), `IP checksum of segment ${i}`).toBe(true);
      expect(tcpOk(s), `TCP checksum of segment ${i}`).toBe(true);
      expect((s[2]! << 8) | s[3]!).toBe(s.length);
      expect((s[4]! << 8) | s[5]!).toBe((0x1234 + i) & 0xffff);
      expect(seqOf(s)).toBe((0xfffff000 + off) >>> 0);
      expect(s[33], `flags of segment ${i}`).toBe(i === n - 1 ? 0x19 : 0x10);
      expect(s.length).toBe(HLEN + Math.min(mss, data.length - off));
      joined.set(s.subarray(HLEN), off);
      off += s.length - HLEN;
    });
    expect(Buffer.from(joined).equals(Buffer.from(data))).toBe(true);
    expect(a.dp.tunnelStats('gw')!.tsoReads).toBe(1);
  });

  it('TX: NEEDS_CSUM without GSO gets its checksum completed; plain vnet packets pass unchanged', async () => {
    const { a, b } = await pair(true, false);
    const p = withIpCsum(tcp(pattern(301, 3), 1000, 0x18));
    const want = withTcpCsum(Uint8Array.from(p));
    // What the kernel hands over: the pseudo-header sum (not complemented) in the checksum field.
    const ph = new Uint8Array(12);
    ph.set(p.subarray(12, 20));
    ph[9] = 6;
    ph[11] = p.length - 20;
    ph[10] = (p.length - 20) >> 8;
    const psum = sum16(ph);
    p[36] = psum >> 8;
    p[37] = psum & 0xff;
    const plain = withTcpCsum(withIpCsum(tcp(pattern(99, 5), 5000, 0x10)));
    inject(a.twin, [vnet(p, { flags: NEEDS_CSUM, csumStart: 20, csumOffset: 16 }), vnet(plain, {})]);
    const got = await receive(b.twin, 2);
    expect(Buffer.from(got[0]!).toString('hex')).toBe(Buffer.from(want).toString('hex'));
    expect(Buffer.from(got[1]!).toString('hex')).toBe(Buffer.from(plain).toString('hex'));
  });

  it('RX: in-order segments of one flow are written as one GSO super-packet; others one by one', async () => {
    const { a, b } = await pair(false, true);
    const mss = 1348;
    // Enough segments that the engine's TX thread reads several per batch (whether it does is up
    // to thread timing: a batch of one is written as it came, which is also correct).
    const data = pattern(mss * 60 + 100, 11);
    const segs: Uint8Array[] = [];
    for (let off = 0, i = 0; off < data.length; off += mss, i++) {
      const last = off + mss >= data.length;
      segs.push(withTcpCsum(withIpCsum(tcp(data.subarray(off, Math.min(off + mss, data.length)), 7000 + off, last ? 0x18 : 0x10, 0x100 + i))));
    }
    const syn = withTcpCsum(withIpCsum(tcp(new Uint8Array(0), 1, 0x02)));
    inject(a.twin, [...segs, syn]);
    const got: Uint8Array[] = [];
    await until('the coalesced write and the SYN', () => {
      const buf = Buffer.alloc(70_000);
      for (;;) {
        let n: number;
        try {
          n = readSync(b.twin, buf, 0, buf.length, null);
        } catch {
          break;
        }
        got.push(Uint8Array.from(buf.subarray(0, n)));
      }
      const pkts = got.reduce((k, g) => k + (g[1] === GSO_TCPV4 ? Math.ceil((g.length - 10 - HLEN) / mss) : 1), 0);
      return pkts >= segs.length + 1 ? true : undefined;
    });
    // The engine reads the twin in batches, so the run may arrive split; every write is either a
    // GSO_TCPV4 super-packet or a plain packet with an all-zero header.
    const payload: number[] = [];
    let gso = 0;
    for (const g of got) {
      const v = new DataView(g.buffer, g.byteOffset);
      const p = g.subarray(10);
      if (p[33] === 0x02) {
        expect(Array.from(g.subarray(0, 10))).toEqual(Array(10).fill(0));
        continue;
      }
      expect(ipOk(p)).toBe(true);
      expect((p[2]! << 8) | p[3]!).toBe(p.length);
      if (g[1] === GSO_TCPV4) {
        gso++;
        expect(g[0]).toBe(NEEDS_CSUM);
        expect([v.getUint16(2, true), v.getUint16(4, true), v.getUint16(6, true), v.getUint16(8, true)]).toEqual([HLEN, mss, 20, 16]);
      } else {
        expect(Array.from(g.subarray(0, 10))).toEqual(Array(10).fill(0));
        expect(tcpOk(p)).toBe(true);
      }
      payload.push(...p.subarray(HLEN));
    }
    expect(gso).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(payload).equals(Buffer.from(data))).toBe(true);
    expect(b.dp.tunnelStats('gw')!.groWrites).toBe(gso);
  });

  it('RX: interleaved flows are coalesced each on its own, every flow in order; a FIN follows its run', async () => {
    const { a, b } = await pair(false, true);
    const mss = 1348;
    const flows = [40001, 40002, 40003];
    const N = 30;
    const data = new Map(flows.map((f, k) => [f, pattern(mss * N, 3 + k)]));
    const pkts: Uint8Array[] = [];
    for (let i = 0; i < N; i++) {
      for (const f of flows) pkts.push(withTcpCsum(withIpCsum(tcp(data.get(f)!.subarray(i * mss, (i + 1) * mss), 1 + i * mss, 0x10, i, f))));
    }
    pkts.push(withTcpCsum(withIpCsum(tcp(new Uint8Array(0), 1 + N * mss, 0x11, 9, 40002)))); // FIN of one flow
    inject(a.twin, pkts);
    const got: Uint8Array[] = [];
    const perFlow = new Map<number, number[]>(flows.map((f) => [f, []]));
    let fin = -1;
    await until('all segments', () => {
      const buf = Buffer.alloc(70_000);
      for (;;) {
        let n: number;
        try {
          n = readSync(b.twin, buf, 0, buf.length, null);
        } catch {
          break;
        }
        got.push(Uint8Array.from(buf.subarray(0, n)));
      }
      const total = got.reduce((k, g) => k + Math.max(1, Math.ceil((g.length - 10 - HLEN) / mss)), 0);
      return total >= pkts.length ? true : undefined;
    });
    got.forEach((g, i) => {
      const p = g.subarray(10);
      const sport = (p[20]! << 8) | p[21]!;
      if (p[33] === 0x11) {
        fin = i;
        expect(perFlow.get(sport)!.length, 'the FIN comes after all of its flow').toBe(N * mss);
        return;
      }
      perFlow.get(sport)!.push(...p.subarray(HLEN));
    });
    expect(fin).toBeGreaterThan(-1);
    for (const f of flows) expect(Buffer.from(perFlow.get(f)!).equals(Buffer.from(data.get(f)!)), `flow ${f}`).toBe(true);
    expect(got.filter((g) => g[1] === GSO_TCPV4).length).toBeGreaterThanOrEqual(1);
  });

  it('RX: padding after the IP datagram (TFC padding) never becomes TCP payload when coalescing', async () => {
    const { a, b } = await pair(false, true);
    const mss = 1000;
    const data = pattern(mss * 3, 13);
    const pkts = [0, 1, 2].map((i) => {
      const p = withTcpCsum(withIpCsum(tcp(data.subarray(i * mss, (i + 1) * mss), 50 + i * mss, 0x10, i, 40100)));
      const padded = new Uint8Array(p.length + 24);
      padded.set(p);
      padded.fill(0xee, p.length);
      return padded;
    });
    inject(a.twin, pkts);
    const got: Uint8Array[] = [];
    await until('the segments', () => {
      const buf = Buffer.alloc(70_000);
      for (;;) {
        let n: number;
        try {
          n = readSync(b.twin, buf, 0, buf.length, null);
        } catch {
          break;
        }
        got.push(Uint8Array.from(buf.subarray(0, n)));
      }
      const payload = got.reduce((k, g) => k + ((g[12]! << 8) | g[13]!) - HLEN, 0);
      return payload >= data.length ? true : undefined;
    });
    const payload: number[] = [];
    for (const g of got) {
      const p = g.subarray(10);
      const total = (p[2]! << 8) | p[3]!;
      payload.push(...p.subarray(HLEN, total));
    }
    expect(Buffer.from(payload).equals(Buffer.from(data))).toBe(true);
  });
});
