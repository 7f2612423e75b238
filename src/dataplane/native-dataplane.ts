/**
 * The native fast path behind the Dataplane seam (src/dataplane/types.ts): the same contract as
 * TsDataplane (the reference), with the per-packet work in C on two I/O threads of its own
 * (native/src/dp.h): the TX thread reads the tunnels' TUN devices in batches, seals and sends with
 * sendmmsg / UDP GSO; the RX thread receives ESP with recvmmsg / UDP GRO, opens it and writes the
 * TUN. The Node event loop does control only, so IKE, the control socket and status stay
 * responsive at full load.
 *
 * Port 4500 stays UdpTransport's: the engine joins its socket in an SO_REUSEPORT group and a BPF
 * program steers ESP to the engine and IKE/keepalives to UdpTransport (native/src/dp_sock.c).
 * Where that cannot be set up, the engine sends from a dup of UdpTransport's socket and ESP
 * arrives the old way, through UdpTransport.onEsp → receiveEsp → the same C receive path.
 *
 * Lifecycle semantics are TsDataplane's, kept by the C side (native/src/dp.c): addChildSa
 * installs the inbound SA, then the new outbound SA becomes the sender (or, with activate: false,
 * waits for activateChildSa); deleteChildSa falls back
 * to the newest remaining child only if the deleted one was the sender; updateRemote moves every
 * outbound SA of the tunnel; sequence-number exhaustion emits 'rekey-needed'.
 */
import type { Endpoint } from '../ike/actions.js';
import type { TrafficSelector } from '../ike/codec/types.js';
import { TS_IPV4_ADDR_RANGE } from '../esp/inner.js';
import { DEFAULT_REPLAY_WINDOW } from '../esp/replay.js';
import { TunDevice } from '../net/tun.js';
import { DP_COUNTERS, DP_GLOBAL_STATS, DP_TUNNEL_STATS, DpEventKind, DpSocketMode, type NativeDpHandle } from '../native/dp-api.js';
import { loadNativeDataplane, type NativeAddon } from '../native/esp-native.js';
import type { EspSender } from './ts-dataplane.js';
import { DROP, ESP_DROP_REASONS, fromArray, type EspDropCounts } from './drops.js';
import { positions } from '../native/tables-check.js';
import type { ChildSaSpec, Dataplane, DataplaneEvent, SaCounters, TunnelInterface } from './types.js';

/** What the engine needs of a TUN device: a non-blocking fd it may read and write from its threads. */
export interface TunFd {
  readonly fd: number;
  readonly name: string;
  /** The fd carries a virtio_net_hdr per packet (TUN offloads on); default false. */
  readonly offload?: boolean;
  close(): void;
}

/** The part of UdpTransport the engine needs to find the port-4500 sockets it shares. */
export interface EndpointSource {
  endpoints(): { address: string; natT: number }[];
}

export interface NativeDataplaneOptions {
  /** UdpTransport: the engine shares its port-4500 sockets (found through endpoints()). */
  sender: EspSender & EndpointSource;
  /**
   * Default: the native TUN addon's open with offloads (TCP super-packets in, coalesced TCP out;
   * BRANCHGATE_TUN_OFFLOAD=0 opens it plain); tests pass other fds (socketpairs).
   */
  openTun?(name: string, mtu: number): TunFd;
  replayWindow?: number;
  /** A tunnel's TUN failed (the device was deleted); its traffic stops. */
  onError?(tunnel: string, err: Error): void;
  /** Inject the addon (tests); default: loadNativeDataplane(). */
  api?: NativeAddon;
}

/** How one port-4500 socket is shared (status, tests, the benchmark's report). */
export interface NativeSocketInfo {
  address: string;
  port: number;
  mode: 'steered' | 'send-only';
  /** Why steering was not possible (send-only). */
  reason: string;
}

export type NativeTunnelStats = Record<(typeof DP_TUNNEL_STATS)[number], number>;

const MAX_TUNNELS = 64;

export function ipv4ToU32(a: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (!m) throw new RangeError(`not an IPv4 address: ${a}`);
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) throw new RangeError(`not an IPv4 address: ${a}`);
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

/** RFC 7296 §3.13.1 IPv4 ranges as 5 u32 each (start, end, protocol, startPort, endPort); other types never match, as in src/esp/inner.ts. */
export function encodeSelectors(list: readonly TrafficSelector[]): Uint32Array {
  const v4 = list.filter((t) => t.tsType === TS_IPV4_ADDR_RANGE && t.startAddr.length === 4 && t.endAddr.length === 4);
  const out = new Uint32Array(v4.length * 5);
  v4.forEach((t, i) => {
    const rd = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    out.set([rd(t.startAddr), rd(t.endAddr), t.ipProtocol, t.startPort, t.endPort], i * 5);
  });
  return out;
}

interface Tunnel {
  name: string;
  id: number;
  tun: TunFd;
  children: Set<number>;
}

export class NativeDataplane implements Dataplane {
  readonly sockets: NativeSocketInfo[] = [];
  private readonly api: NativeAddon;
  private readonly dp: NativeDpHandle;
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly byId = new Map<number, Tunnel>();
  private readonly childTunnel = new Map<number, Tunnel>();
  private readonly listeners: ((e: DataplaneEvent) => void)[] = [];
  private readonly counterBuf = new Float64Array(DP_COUNTERS.length);
  private readonly statsBuf = new Float64Array(DP_TUNNEL_STATS.length);
  private readonly dropsBuf = new Float64Array(ESP_DROP_REASONS.length);
  /** Where each TypeScript name sits in the C arrays (the loader checked the sets are equal). */
  private readonly counterAt: Uint16Array;
  private readonly statAt: Uint16Array;
  private readonly dropAt: Uint16Array;
  private closed = false;
  /** Datagrams handed to receiveEsp that were not valid IPv4 endpoints (never from UdpTransport). */
  badSource = 0;

  /** Throws (with the reason) when the addon is missing or no port-4500 socket can be shared. */
  static create(opts: NativeDataplaneOptions): NativeDataplane {
    const api = opts.api ?? loadNativeDataplane().api;
    if (!api) throw new Error(loadNativeDataplane().reason);
    if (typeof opts.sender.endpoints !== 'function') throw new Error('the native dataplane needs a UdpTransport (endpoints()) to share port 4500 with');
    return new NativeDataplane(api, opts);
  }

  private constructor(api: NativeAddon, private readonly opts: NativeDataplaneOptions) {
    this.api = api;
    const names = api.dpNames();
    this.counterAt = positions(names.counters, DP_COUNTERS);
    this.statAt = positions(names.tunnelStats, DP_TUNNEL_STATS);
    this.dropAt = positions(names.drops, ESP_DROP_REASONS);
    this.dp = api.dpCreate((kind, a, b) => this.onNativeEvent(kind, a, b));
    try {
      const eps = opts.sender.endpoints();
      if (eps.length === 0) throw new Error('UdpTransport has no port-4500 socket bound');
      for (const ep of eps) {
        const addr = ipv4ToU32(ep.address);
        const fd = api.findUdpSocket(addr, ep.natT);
        if (fd < 0) throw new Error(`no UDP socket bound to ${ep.address}:${ep.natT} in this process to share`);
        const r = api.dpAddSocket(this.dp, addr, ep.natT, fd);
        this.sockets.push({ address: ep.address, port: ep.natT, mode: r.mode === DpSocketMode.STEERED ? 'steered' : 'send-only', reason: r.reason });
      }
    } catch (err) {
      api.dpClose(this.dp);
      throw err;
    }
  }

  async attachTunnel(name: string, iface: TunnelInterface): Promise<void> {
    if (this.closed) throw new Error('the native dataplane is closed');
    if (this.tunnels.has(name)) return;
    let id = 0;
    while (this.byId.has(id)) id++;
    if (id >= MAX_TUNNELS) throw new Error(`the native dataplane carries at most ${MAX_TUNNELS} tunnels`);
    const tun = this.opts.openTun ? this.opts.openTun(iface.name, iface.mtu) : this.openTun(iface.name, iface.mtu);
    try {
      this.api.dpAttachTunnel(this.dp, id, tun.fd, iface.mtu, iface.mssClamp, tun.offload === true);
    } catch (err) {
      tun.close();
      throw err;
    }
    const t: Tunnel = { name, id, tun, children: new Set() };
    this.tunnels.set(name, t);
    this.byId.set(id, t);
  }

  /** Whether tunnel `name` runs with TUN offloads (status, the benchmark's report). */
  tunOffload(name: string): boolean | null {
    const t = this.tunnels.get(name);
    return t ? t.tun.offload === true : null;
  }

  private openTun(name: string, mtu: number): TunFd {
    if (process.env.BRANCHGATE_TUN_OFFLOAD === '0') return TunDevice.open(name, mtu);
    const r = this.api.open(name, mtu, true);
    let open = true;
    return {
      fd: r.fd, name: r.name, offload: r.offload === true,
      close: () => {
        if (open) this.api.close(r.fd);
        open = false;
      },
    };
  }

  async detachTunnel(name: string): Promise<void> {
    const t = this.tunnels.get(name);
    if (!t) return;
    this.api.dpDetachTunnel(this.dp, t.id); // the TX thread lets go of the fd before it is closed
    for (const spi of t.children) this.childTunnel.delete(spi);
    this.tunnels.delete(name);
    this.byId.delete(t.id);
    t.tun.close();
  }

  /**
   * activate: false (the rekey responder's make-before-break) installs both SAs but keeps the
   * tunnel's current sender until activateChildSa, or until the sender is deleted (then the
   * newest remaining child takes over, as in TsDataplane). Without a sender it sends at once.
   */
  addChildSa(spec: ChildSaSpec, opts: { activate?: boolean } = {}): void {
    const t = this.tunnels.get(spec.tunnel);
    if (!t) throw new Error(`no tunnel interface attached for '${spec.tunnel}'`);
    const i = spec.inbound;
    const o = spec.outbound;
    if (i.encrId !== o.encrId || i.encrKeyBits !== o.encrKeyBits || i.integId !== o.integId || i.esn !== o.esn) {
      throw new RangeError('inbound and outbound SAs of one Child SA must use the same transforms');
    }
    this.api.dpAddChild(
      this.dp, t.id, i.spi, o.spi, i.esn, i.encrId, i.encrKeyBits, i.integId, i.encrKey, i.integKey, o.encrKey, o.integKey,
      this.opts.replayWindow ?? DEFAULT_REPLAY_WINDOW, encodeSelectors(spec.localTs), encodeSelectors(spec.remoteTs),
      ipv4ToU32(spec.local.address), ipv4ToU32(spec.remote.address), spec.remote.port, opts.activate !== false,
    );
    this.childTunnel.get(i.spi)?.children.delete(i.spi);
    t.children.add(i.spi);
    this.childTunnel.set(i.spi, t);
  }

  activateChildSa(spiIn: number): void {
    if (this.closed) return;
    this.api.dpActivateChild(this.dp, spiIn);
  }

  deleteChildSa(spiIn: number): void {
    this.api.dpDeleteChild(this.dp, spiIn);
    this.childTunnel.get(spiIn)?.children.delete(spiIn);
    this.childTunnel.delete(spiIn);
  }

  updateRemote(tunnel: string, remote: Endpoint): void {
    const t = this.tunnels.get(tunnel);
    if (t) this.api.dpUpdateRemote(this.dp, t.id, ipv4ToU32(remote.address), remote.port);
  }

  counters(spiIn: number): SaCounters | null {
    const o = this.counterBuf;
    if (!this.api.dpCounters(this.dp, spiIn, o)) return null;
    const v = (k: (typeof DP_COUNTERS)[number]): number => o[this.counterAt[DP_COUNTERS.indexOf(k)]!]!;
    return {
      bytesIn: v('bytesIn'), bytesOut: v('bytesOut'), packetsIn: v('packetsIn'), packetsOut: v('packetsOut'),
      replayDrops: v('replayDrops'), authFailures: v('authFailures'), policyDrops: v('policyDropsIn') + v('policyDropsOut'),
    };
  }

  /** The engine's drop counters by reason (native/src/dp.h DP_DROP_LIST); still readable after close. */
  drops(): EspDropCounts {
    this.api.dpDrops(this.dp, this.dropsBuf);
    return fromArray(this.dropsBuf, this.dropAt);
  }

  /** What one tunnel's I/O did (or, with no name, the engine-wide part); its drops are in drops(). */
  tunnelStats(name?: string): NativeTunnelStats | null {
    const id = name === undefined ? DP_GLOBAL_STATS : this.tunnels.get(name)?.id;
    if (id === undefined || !this.api.dpTunnelStats(this.dp, id, this.statsBuf)) return null;
    return Object.fromEntries(DP_TUNNEL_STATS.map((k, i) => [k, this.statsBuf[this.statAt[i]!]!])) as NativeTunnelStats;
  }

  /**
   * Datagrams on the ESP path that name none of our SPIs (deleted, never ours, or too short to
   * name one), counted as TsDataplane.unknownSpi counts them.
   */
  get unknownSpi(): number {
    this.api.dpDrops(this.dp, this.dropsBuf);
    return this.dropsBuf[this.dropAt[DROP['unknown-spi']]!]! + this.dropsBuf[this.dropAt[DROP['non-esp']]!]!;
  }

  /**
   * ESP that reached UdpTransport instead of the engine's socket (send-only mode, or a datagram
   * from before the steering program was in place): the same C receive path, synchronously.
   */
  receiveEsp(datagram: Uint8Array, from: Endpoint): void {
    if (this.closed) return;
    let addr: number;
    try {
      addr = ipv4ToU32(from.address);
    } catch {
      this.badSource++;
      return;
    }
    this.api.dpInject(this.dp, datagram, addr, from.port);
  }

  onEvent(fn: (e: DataplaneEvent) => void): void {
    this.listeners.push(fn);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const name of [...this.tunnels.keys()]) await this.detachTunnel(name);
    this.closed = true;
    this.api.dpClose(this.dp); // joins the I/O threads and closes the engine's sockets
  }

  /** Test hook: the outbound SA of child spiIn continues after hi:lo (sequence exhaustion tests). */
  setSeqForTest(spiIn: number, hi: number, lo: number): boolean {
    return this.api.dpSetSeq(this.dp, spiIn, hi, lo);
  }

  private onNativeEvent(kind: number, a: number, b: number): void {
    const t = this.byId.get(a);
    if (!t) return; // detached since the event was queued
    if (kind === DpEventKind.REKEY_NEEDED) {
      if (!t.children.has(b)) return;
      for (const fn of this.listeners) fn({ type: 'rekey-needed', tunnel: t.name, spiIn: b, reason: 'seq-exhausted' });
    } else if (kind === DpEventKind.TUN_ERROR) {
      this.opts.onError?.(t.name, new Error(`TUN device ${t.tun.name} of tunnel ${t.name} failed (errno ${b}); its traffic has stopped`));
    }
  }
}
