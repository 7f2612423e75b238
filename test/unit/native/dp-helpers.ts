/**
 * Shared by the native dataplane tests: IPv4 packets, Child SA specs, a NativeDataplane on a
 * loopback UdpTransport with a socketpair as its TUN twin, and the twin's test end.
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { TrafficSelector } from '../../../src/ike/codec/types.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import type { ChildSaSpec, EspSaParams } from '../../../src/dataplane/types.js';
import { NativeDataplane } from '../../../src/dataplane/native-dataplane.js';
import { TsDataplane } from '../../../src/dataplane/ts-dataplane.js';
import { MemoryTun, MemoryWire } from '../../../src/dataplane/memory.js';
import { loadNativeDataplane, type NativeAddon } from '../../../src/native/esp-native.js';
import { UdpTransport } from '../../../src/net/udp.js';
import type { Arrival } from '../../../src/ike/actions.js';

/** Fail loudly, never skip (CI=true or not). */
export function addon(): NativeAddon {
  const n = loadNativeDataplane();
  if (n.api === null) throw new Error(`native dataplane tests cannot run: ${n.reason}${process.env.CI === 'true' ? ' (CI=true: the addon is required)' : ''}`);
  return n.api;
}

function addr(a: string): number[] {
  return a.split('.').map(Number);
}

/** An IPv4/UDP packet (RFC 791/768) with a valid header checksum and `size` octets in total. */
export function udp(src: string, dst: string, size: number, fill = 0, proto = 17): Uint8Array {
  const b = new Uint8Array(Math.max(28, size));
  b[0] = 0x45;
  b[2] = b.length >> 8;
  b[3] = b.length & 0xff;
  b[8] = 64;
  b[9] = proto;
  b.set(addr(src), 12);
  b.set(addr(dst), 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  const ck = ~sum & 0xffff;
  b[10] = ck >> 8;
  b[11] = ck & 0xff;
  b[20] = 0x30; b[21] = 0x39; b[22] = 0x00; b[23] = 0x35;
  b[24] = (b.length - 20) >> 8;
  b[25] = (b.length - 20) & 0xff;
  for (let i = 28; i < b.length; i++) b[i] = (i + fill) & 0xff;
  return b;
}

export function ts(start: string, end: string): TrafficSelector {
  return { tsType: 7, ipProtocol: 0, startPort: 0, endPort: 0xffff, startAddr: Uint8Array.from(addr(start)), endAddr: Uint8Array.from(addr(end)) };
}

export const LAN_A = ts('100.64.10.0', '100.64.10.255');
export const LAN_B = ts('100.64.20.0', '100.64.20.255');

export interface SuiteSpec {
  name: string;
  encrId: number;
  keyBits: number;
  integId: number;
  keyBytes: number;
  integBytes: number;
}

export const SUITES: SuiteSpec[] = [
  { name: 'aes256gcm16', encrId: EncrId.AES_GCM_16, keyBits: 256, integId: IntegId.NONE, keyBytes: 36, integBytes: 0 },
  { name: 'aes128gcm16', encrId: EncrId.AES_GCM_16, keyBits: 128, integId: IntegId.NONE, keyBytes: 20, integBytes: 0 },
  { name: 'aes256-sha256', encrId: EncrId.AES_CBC, keyBits: 256, integId: IntegId.HMAC_SHA2_256_128, keyBytes: 32, integBytes: 32 },
  { name: 'null-sha256', encrId: EncrId.NULL, keyBits: 0, integId: IntegId.HMAC_SHA2_256_128, keyBytes: 0, integBytes: 32 },
  { name: 'chacha20poly1305', encrId: EncrId.CHACHA20_POLY1305, keyBits: 0, integId: IntegId.NONE, keyBytes: 36, integBytes: 0 },
];

export function saParams(s: SuiteSpec, spi: number, esn = false): EspSaParams {
  return { spi, encrId: s.encrId, encrKeyBits: s.keyBits, integId: s.integId, encrKey: randomBytes(s.keyBytes), integKey: randomBytes(s.integBytes), esn };
}

/** Mirrored specs for two peers: a's outbound is b's inbound and vice versa. */
export function specPair(s: SuiteSpec, spiA: number, spiB: number, a: { address: string; port: number }, b: { address: string; port: number }, esn = false): [ChildSaSpec, ChildSaSpec] {
  const inA = saParams(s, spiA, esn);
  const inB = saParams(s, spiB, esn);
  return [
    { tunnel: 'gw', inbound: inA, outbound: inB, localTs: [LAN_A], remoteTs: [LAN_B], local: a, remote: b },
    { tunnel: 'gw', inbound: inB, outbound: inA, localTs: [LAN_B], remoteTs: [LAN_A], local: b, remote: a },
  ];
}

export interface Side {
  dp: NativeDataplane;
  transport: UdpTransport;
  /** The test's end of the TUN twin. */
  twin: number;
  port: number;
  ike: { bytes: Uint8Array; arrival: Arrival }[];
  /** ESP datagrams that reached UdpTransport.onEsp (should be none when steered). */
  espViaJs: number;
  close(): Promise<void>;
}

/**
 * offload: the TUN twin speaks virtio_net_hdr as an offload TUN fd does (TSO in, GSO out).
 * refuseWrites: the twin's test end is closed at once, so every write the engine makes to its
 * "TUN" fails (EPIPE), as writes to a TUN whose queue is full or whose link is down do.
 */
export async function side(mtu = 1400, mssClamp = 0, opts: { offload?: boolean; refuseWrites?: boolean } = {}): Promise<Side> {
  const api = addon();
  const ike: Side['ike'] = [];
  let dp: NativeDataplane | undefined;
  const s: Partial<Side> = { ike, espViaJs: 0 };
  const transport = await UdpTransport.open({
    addresses: ['127.0.0.1'], ports: { ike: 0, natT: 0 },
    onIke: (bytes, arrival) => void ike.push({ bytes: Uint8Array.from(bytes), arrival }),
    onEsp: (d, arrival) => {
      s.espViaJs! += 1;
      dp?.receiveEsp(d, arrival.from);
    },
  });
  const [engineEnd, testEnd] = api.socketpairForTest();
  if (opts.refuseWrites) closeSync(testEnd);
  dp = NativeDataplane.create({ sender: transport, api, openTun: (name) => ({ fd: engineEnd, name, offload: opts.offload === true, close: () => closeSync(engineEnd) }) });
  await dp.attachTunnel('gw', { name: 'twin', mtu, mssClamp });
  Object.assign(s, {
    dp, transport, twin: testEnd, port: transport.endpoints()[0]!.natT,
    async close() {
      await dp!.close();
      await transport.close();
      if (!opts.refuseWrites) closeSync(testEnd);
    },
  });
  return s as Side;
}

/** Hand packets to the engine as if the kernel had routed them into the TUN. */
export function inject(twin: number, packets: Uint8Array[]): void {
  for (const p of packets) writeSync(twin, p);
}

/** Everything the engine wrote to the TUN so far. */
export function drain(twin: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const buf = Buffer.alloc(70_000);
  for (;;) {
    let n: number;
    try {
      n = readSync(twin, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
    out.push(Uint8Array.from(buf.subarray(0, n)));
  }
}

export async function until<T>(what: string, f: () => T | undefined | false, ms = 3000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Collect packets from a twin until `n` arrived. */
export async function receive(twin: number, n: number, ms = 3000): Promise<Uint8Array[]> {
  const got: Uint8Array[] = [];
  await until(`${n} packets on the TUN twin (have ${got.length})`, () => {
    got.push(...drain(twin));
    return got.length >= n ? true : undefined;
  }, ms);
  return got;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * The reference and the native dataplane side by side: a TsDataplane on a MemoryTun and a
 * MemoryWire, a NativeDataplane on a loopback UdpTransport with a socketpair TUN twin; both with
 * tunnel 'gw' attached and (when given) the same Child SA installed. close() takes both down.
 */
export async function dataplanePair(spec: ChildSaSpec | null, mtu: number, mssClamp: number, port = spec?.local.port ?? 4500): Promise<{ ts: TsDataplane; tun: MemoryTun; wire: MemoryWire; nat: Side; close(): Promise<void> }> {
  const wire = new MemoryWire();
  let tun!: MemoryTun;
  const ts = new TsDataplane({ openTun: (name, m) => (tun = new MemoryTun(name, m)), sender: wire.sender(port) });
  await ts.attachTunnel('gw', { name: 'bg0', mtu, mssClamp });
  if (spec) ts.addChildSa(spec);
  const nat = await side(mtu, mssClamp);
  if (spec) nat.dp.addChildSa(spec);
  return { ts, tun, wire, nat, close: async () => { await nat.close(); await ts.close(); } };
}
