/**
 * The pure TypeScript datapath (the reference implementation of the Dataplane seam): packets the
 * kernel routes into a tunnel's TUN leave as ESP-in-UDP (RFC 4303, RFC 3948) from our port-4500
 * socket; ESP from the peer is checked, decrypted, policy-checked (RFC 4301 §5.2) and written to
 * the TUN. Work is batch-shaped on both sides: TUN reads arrive in batches, decrypted packets are
 * written to the TUN in batches once per event-loop turn. Buffers and views are made once.
 */
import type { Endpoint } from '../ike/actions.js';
import type { TrafficSelector } from '../ike/codec/types.js';
import { InboundEspSa, OutboundEspSa } from '../esp/esp-sa.js';
import { sealEsp } from '../esp/seal.js';
import { openEsp, peekSpi } from '../esp/open.js';
import { matchesSelectors, newIpv4Info, parseIpv4 } from '../esp/inner.js';
import { clampMss } from '../esp/mss.js';
import { SendRing } from './send-ring.js';
import { DROP, DropCounters, ESP_IN_SLACK, OPEN_DROP, type EspDropCounts } from './drops.js';
import { SealError } from '../esp/seal.js';
import type { ChildSaSpec, Dataplane, DataplaneEvent, SaCounters, TunnelInterface } from './types.js';

/** What the datapath needs of a TUN device (TunDevice in production, MemoryTun in tests). */
export interface TunLike {
  onPackets(handler: (slab: Buffer, lengths: Uint32Array, count: number, slotSize: number) => void, onError?: (err: Error) => void): void;
  writeBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  close(): void;
}

/** What the datapath needs of the port-4500 socket (UdpTransport in production). */
export interface EspSender {
  sendEsp(from: string, buf: Uint8Array, offset: number, length: number, to: Endpoint, done: (err: Error | null) => void): boolean;
}

/** ESP overhead bound: SPI+seq 8, IV ≤ 16, padding ≤ 17, ICV ≤ 32; plus slack. */
const ESP_OVERHEAD = 96;
/**
 * The send ring's bound: ESP datagrams handed to the socket and not yet confirmed, per tunnel.
 * 256 × (MTU + 96) ≈ 370 KiB at MTU 1380 covers a few TUN batches in flight; beyond it packets
 * are dropped as tx-queue-full instead of queueing in libuv without limit.
 */
const SEND_SLOTS = 256;
const WRITE_SLOTS = 64;
const IPPROTO_IPV4 = 4;

interface Outbound {
  spiIn: number;
  sa: OutboundEspSa;
  local: Endpoint;
  remote: Endpoint;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  rekeyAsked: boolean;
}

interface Tunnel {
  name: string;
  iface: TunnelInterface;
  tun: TunLike;
  out: Outbound | null;
  ring: SendRing;
  /** Decrypted packets waiting for the next batched TUN write. */
  wslab: Buffer;
  /** Octets per write slot: MTU + ESP_IN_SLACK, so any ESP datagram that passes the size check fits. */
  wslot: number;
  wviews: Uint8Array[];
  woffsets: Uint32Array;
  wlengths: Uint32Array;
  wcount: number;
  flushScheduled: boolean;
  /** Views of the TUN read slab, one per slot, cached per slab. */
  rviews: Uint8Array[];
  rslab: Buffer | null;
}

interface Child {
  tunnel: Tunnel;
  inbound: InboundEspSa;
  outbound: Outbound;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
}

export interface TsDataplaneOptions {
  openTun(name: string, mtu: number): TunLike;
  sender: EspSender;
  replayWindow?: number;
  onError?: (tunnel: string, err: Error) => void;
}

export class TsDataplane implements Dataplane {
  private readonly tunnels = new Map<string, Tunnel>();
  private readonly children = new Map<number, Child>();
  private readonly listeners: ((e: DataplaneEvent) => void)[] = [];
  private readonly info = newIpv4Info();
  /** Drops by reason (drops.ts), datapath-wide and cumulative. */
  private readonly dropCounts = new DropCounters();

  constructor(private readonly opts: TsDataplaneOptions) {}

  /** ESP for no SPI of ours (deleted, never ours, or too short to name one), as NativeDataplane.unknownSpi. */
  get unknownSpi(): number {
    return this.dropCounts.v[DROP['unknown-spi']]! + this.dropCounts.v[DROP['non-esp']]!;
  }

  drops(): EspDropCounts {
    return this.dropCounts.snapshot();
  }

  async attachTunnel(name: string, iface: TunnelInterface): Promise<void> {
    if (this.tunnels.has(name)) return;
    const tun = this.opts.openTun(iface.name, iface.mtu);
    const slot = iface.mtu + ESP_OVERHEAD;
    const wslot = iface.mtu + ESP_IN_SLACK;
    const wslab = Buffer.allocUnsafeSlow(WRITE_SLOTS * wslot);
    const d = this.dropCounts;
    const t: Tunnel = {
      name, iface, tun, out: null, ring: new SendRing(SEND_SLOTS, slot, () => d.add(DROP['tx-send-error'])),
      wslab, wslot, wviews: Array.from({ length: WRITE_SLOTS }, (_, i) => wslab.subarray(i * wslot, (i + 1) * wslot)),
      woffsets: new Uint32Array(WRITE_SLOTS), wlengths: new Uint32Array(WRITE_SLOTS), wcount: 0, flushScheduled: false,
      rviews: [], rslab: null,
    };
    this.tunnels.set(name, t);
    tun.onPackets((slab, lengths, count, slotSize) => this.outbound(t, slab, lengths, count, slotSize), (err) => this.opts.onError?.(name, err));
  }

  async detachTunnel(name: string): Promise<void> {
    const t = this.tunnels.get(name);
    if (!t) return;
    for (const [spi, c] of this.children) if (c.tunnel === t) this.children.delete(spi);
    this.tunnels.delete(name);
    t.tun.close();
  }

  addChildSa(spec: ChildSaSpec, opts: { activate?: boolean } = {}): void {
    const t = this.tunnels.get(spec.tunnel);
    if (!t) throw new Error(`no tunnel interface attached for '${spec.tunnel}'`);
    // Inbound first, then the sender switches (make-before-break, RFC 7296 §2.8).
    const inbound = new InboundEspSa(spec.inbound, this.opts.replayWindow ? { replayWindow: this.opts.replayWindow } : {});
    const out: Outbound = {
      spiIn: spec.inbound.spi, sa: new OutboundEspSa(spec.outbound), local: { ...spec.local }, remote: { ...spec.remote },
      localTs: spec.localTs, remoteTs: spec.remoteTs, rekeyAsked: false,
    };
    this.children.set(spec.inbound.spi, { tunnel: t, inbound, outbound: out, localTs: spec.localTs, remoteTs: spec.remoteTs });
    if (opts.activate !== false || t.out === null) t.out = out;
  }

  activateChildSa(spiIn: number): void {
    const c = this.children.get(spiIn);
    if (c) c.tunnel.out = c.outbound;
  }

  deleteChildSa(spiIn: number): void {
    const c = this.children.get(spiIn);
    if (!c) return;
    this.children.delete(spiIn);
    if (c.tunnel.out === c.outbound) {
      let next: Outbound | null = null;
      for (const o of this.children.values()) if (o.tunnel === c.tunnel) next = o.outbound;
      c.tunnel.out = next;
    }
  }

  updateRemote(tunnel: string, remote: Endpoint): void {
    for (const c of this.children.values()) if (c.tunnel.name === tunnel) c.outbound.remote = { ...remote };
  }

  counters(spiIn: number): SaCounters | null {
    const c = this.children.get(spiIn);
    if (!c) return null;
    const i = c.inbound.counters;
    const o = c.outbound.sa.counters;
    return {
      bytesIn: i.bytes, packetsIn: i.packets, bytesOut: o.bytes, packetsOut: o.packets,
      replayDrops: i.replayDrops, authFailures: i.authFailures, policyDrops: i.policyDrops + o.policyDrops,
    };
  }

  /** Test hook (as NativeDataplane.setSeqForTest): the outbound SA of child spiIn continues after hi:lo. */
  setSeqForTest(spiIn: number, hi: number, lo: number): boolean {
    const c = this.children.get(spiIn);
    if (!c) return false;
    c.outbound.sa.setSeqForTest(hi, lo);
    c.outbound.rekeyAsked = false;
    return true;
  }

  onEvent(fn: (e: DataplaneEvent) => void): void {
    this.listeners.push(fn);
  }

  async close(): Promise<void> {
    for (const name of [...this.tunnels.keys()]) await this.detachTunnel(name);
  }

  /** TUN → ESP: one batch from the kernel. */
  private outbound(t: Tunnel, slab: Buffer, lengths: Uint32Array, count: number, slotSize: number): void {
    if (t.rslab !== slab || t.rviews.length < count) {
      t.rslab = slab;
      t.rviews = Array.from({ length: Math.floor(slab.length / slotSize) }, (_, i) => slab.subarray(i * slotSize, (i + 1) * slotSize));
    }
    const out = t.out;
    const d = this.dropCounts;
    if (!out) {
      d.add(DROP['tx-no-sa'], count);
      return;
    }
    for (let i = 0; i < count; i++) {
      const len = lengths[i]!;
      const pkt = t.rviews[i]!;
      if (!parseIpv4(pkt, 0, len, this.info)) {
        d.add(DROP['tx-not-ipv4']);
        continue;
      }
      // RFC 4301 §5.1: the source must be in our selectors and the destination in the peer's.
      if (!matchesSelectors(this.info, out.localTs, out.remoteTs)) {
        out.sa.counters.policyDrops++;
        d.add(DROP['tx-policy']);
        continue;
      }
      if (t.iface.mssClamp > 0) clampMss(pkt, 0, len, t.iface.mssClamp);
      const slot = t.ring.acquire();
      if (slot < 0) {
        d.add(DROP['tx-queue-full']);
        continue;
      }
      const n = sealEsp(out.sa, pkt, len, IPPROTO_IPV4, t.ring.views[slot]!, 0);
      if (n < 0) { // exhaustion is also on the SA (seqRefusals); the other errors cannot happen here
        t.ring.abandon(slot);
        d.add(n === SealError.SEQ_EXHAUSTED ? DROP['tx-seq-exhausted'] : DROP['tx-send-error']);
        continue;
      }
      if (!this.opts.sender.sendEsp(out.local.address, t.ring.buf, slot * t.ring.slotSize, n, out.remote, t.ring.release[slot]!)) {
        t.ring.abandon(slot);
        d.add(DROP['tx-send-error']);
      }
    }
    if (out.sa.rekeyNeeded && !out.rekeyAsked) {
      out.rekeyAsked = true;
      for (const fn of this.listeners) fn({ type: 'rekey-needed', tunnel: t.name, spiIn: out.spiIn, reason: 'seq-exhausted' });
    }
  }

  /** ESP → TUN: one datagram from port 4500 (non-ESP marker already ruled out). */
  receiveEsp(datagram: Uint8Array, from: Endpoint): void {
    const d = this.dropCounts;
    const spi = peekSpi(datagram, 0);
    if (spi <= 0) { // shorter than 4 octets, or SPI 0 (RFC 3948 §2.2: that is not ESP)
      d.add(DROP['non-esp']);
      return;
    }
    const c = this.children.get(spi);
    if (!c) { // never ours, or an SA deleted since (rekeyed away, expired): RFC 4303 §3.4.2
      d.add(DROP['unknown-spi']);
      return;
    }
    const t = c.tunnel;
    if (datagram.length > t.iface.mtu + ESP_IN_SLACK) { // drops.ts ESP_IN_SLACK, before any crypto
      c.inbound.counters.malformed++;
      d.add(DROP.oversize);
      return;
    }
    if (t.wcount === WRITE_SLOTS) this.flush(t);
    const k = t.wcount;
    const r = openEsp(c.inbound, datagram, 0, datagram.length, t.wviews[k]!);
    if (!r.ok) { // also counted on the SA
      d.add(OPEN_DROP[r.reason]);
      return;
    }
    const w = t.wviews[k]!;
    if (r.nextHeader !== IPPROTO_IPV4 || !parseIpv4(w, r.offset, r.length, this.info)) {
      c.inbound.counters.malformed++;
      // Claims IPv4 but its header lengths do not fit what was decrypted: bad-length.
      const v4 = r.nextHeader === IPPROTO_IPV4 && r.length > 0 && w[r.offset]! >> 4 === 4;
      d.add(v4 ? DROP['bad-length'] : DROP['not-ipv4']);
      return;
    }
    // RFC 4301 §5.2: the inner source must be in the peer's selectors, the destination in ours.
    if (!matchesSelectors(this.info, c.remoteTs, c.localTs)) {
      c.inbound.counters.policyDrops++;
      d.add(DROP.policy);
      return;
    }
    // Authenticated ESP from a new address or port: the peer's NAT mapping moved (RFC 7296 §2.23).
    const rem = c.outbound.remote;
    if (rem.address !== from.address || rem.port !== from.port) this.updateRemote(t.name, from);
    if (t.iface.mssClamp > 0) clampMss(t.wviews[k]!, r.offset, r.length, t.iface.mssClamp);
    t.woffsets[k] = k * t.wslot + r.offset;
    t.wlengths[k] = r.length;
    t.wcount = k + 1;
    if (!t.flushScheduled) {
      t.flushScheduled = true;
      setImmediate(() => this.flush(t));
    }
  }

  private flush(t: Tunnel): void {
    t.flushScheduled = false;
    const n = t.wcount;
    if (n === 0) return;
    t.wcount = 0;
    let lost: number;
    try {
      lost = n - t.tun.writeBatch(t.wslab, t.woffsets, t.wlengths, n);
    } catch (err) {
      lost = n;
      this.opts.onError?.(t.name, err as Error);
    }
    this.dropCounts.add(DROP['tun-write'], lost);
  }
}
