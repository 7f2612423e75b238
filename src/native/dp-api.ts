/**
 * The dataplane exports of branchgate_native.node (native/src/dp_napi.c documents each one).
 * Addresses are IPv4 as unsigned 32-bit numbers in host order (192.0.2.1 = 0xc0000201).
 */

/** Opaque engine handle made by dpCreate (type-tagged in C). */
export interface NativeDpHandle {
  readonly __nativeDp: unique symbol;
}

/** Event kinds the I/O threads report (numbers, so the threadsafe call allocates no strings). */
export const DpEventKind = {
  /** An outbound SA passed its sequence-number soft limit or ran out (RFC 4303 §3.3.3). */
  REKEY_NEEDED: 1,
  /** A fatal I/O error on a tunnel's TUN fd (the device was deleted); b = errno. */
  TUN_ERROR: 2,
} as const;

/** How a port-4500 socket was adopted (dpAddSocket's result). */
export const DpSocketMode = {
  /**
   * The engine's own socket joined the existing one in an SO_REUSEPORT group, and a classic BPF
   * program steers by content (RFC 3948 §2.2): ESP to the engine's receive thread, IKE (non-ESP
   * marker) and NAT-keepalives to the existing socket, i.e. to UdpTransport as before.
   */
  STEERED: 1,
  /** Send-only on a dup of the existing socket; ESP still arrives through JS and dpInject. */
  SEND_ONLY: 2,
} as const;

/**
 * The names of dpCounters' output (SaCounters plus the inbound/outbound detail). The C order is
 * dpNames().counters (native/src/dp.h DP_COUNTER_LIST); the loader checks both name the same set
 * and NativeDataplane reads by name.
 */
export const DP_COUNTERS = [
  'bytesIn', 'packetsIn', 'bytesOut', 'packetsOut', 'replayDrops', 'authFailures', 'policyDropsIn', 'policyDropsOut',
  'malformedIn', 'dummyIn', 'seqRefusals',
] as const;

/**
 * The names of dpTunnelStats' output: what a tunnel's I/O did (batching, offloads), in
 * dpNames().tunnelStats order in C (DP_STAT_LIST). Drops are not here: every dropped packet is
 * counted once, in dpDrops (src/dataplane/drops.ts names them).
 */
export const DP_TUNNEL_STATS = [
  'tunPacketsIn', 'tunBatchesIn', 'espPacketsIn', 'espBatchesIn', 'gsoSends', 'tunReadErrors', 'tsoReads', 'groWrites',
] as const;

/** dpTunnelStats' tunnel id for the engine-wide counters (espBatchesIn). */
export const DP_GLOBAL_STATS = 0xffff_ffff;

/** dpNames(): each output array's names in C order (native/src/dp.h X-macro lists). */
export interface NativeDpNames {
  counters: string[];
  tunnelStats: string[];
  drops: string[];
}

export interface NativeDataplaneApi {
  /** The names of the counter arrays below, in the order C fills them. */
  dpNames(): NativeDpNames;
  /** onEvent(kind, a, b): REKEY_NEEDED → a = tunnel id, b = spiIn. Called on the main thread. */
  dpCreate(onEvent: (kind: number, a: number, b: number) => void): NativeDpHandle;
  /**
   * Adopt the port-4500 socket bound to addr:port (existingFd: the fd already bound there, from
   * findUdpSocket). mode is a DpSocketMode; reason says why steering failed when mode is
   * SEND_ONLY. Throws when neither mode is possible.
   */
  dpAddSocket(dp: NativeDpHandle, addr: number, port: number, existingFd: number): { mode: number; reason: string };
  /** vnet: the fd was opened with offload (virtio_net_hdr on every packet; TSO reads, GSO writes). */
  dpAttachTunnel(dp: NativeDpHandle, tunnelId: number, tunFd: number, mtu: number, mssClamp: number, vnet?: boolean): void;
  /**
   * The TUN addon's open (native/src/tun.c), with offload: IFF_VNET_HDR and TUN_F_CSUM|TSO4, so
   * the kernel hands over TCP super-packets; offload in the result says whether that took.
   */
  open(name: string, mtu: number, offload?: boolean): { fd: number; name: string; offload?: boolean };
  close(fd: number): void;
  dpDetachTunnel(dp: NativeDpHandle, tunnelId: number): void;
  /**
   * Install a Child SA (inbound first, then the outbound becomes the tunnel's sender, unless
   * activate is false and the tunnel already has a sender: see dpActivateChild). Selectors:
   * 5 u32 per selector (start, end, protocol, startPort, endPort), host order.
   */
  dpAddChild(
    dp: NativeDpHandle, tunnelId: number, spiIn: number, spiOut: number, esn: boolean, encrId: number, keyBits: number,
    integId: number, encrKeyIn: Uint8Array, integKeyIn: Uint8Array, encrKeyOut: Uint8Array, integKeyOut: Uint8Array,
    replayWindow: number, localTs: Uint32Array, remoteTs: Uint32Array, localAddr: number, remoteAddr: number, remotePort: number,
    activate?: boolean,
  ): void;
  /** Make an installed child the tunnel's outbound sender (deferred activation); false when unknown. */
  dpActivateChild(dp: NativeDpHandle, spiIn: number): boolean;
  /** Remove by inbound SPI; false when unknown. */
  dpDeleteChild(dp: NativeDpHandle, spiIn: number): boolean;
  dpUpdateRemote(dp: NativeDpHandle, tunnelId: number, addr: number, port: number): void;
  /** Fills out (dpNames().counters order); false when spiIn is unknown. */
  dpCounters(dp: NativeDpHandle, spiIn: number, out: Float64Array): boolean;
  /** Fills out (dpNames().tunnelStats order); false when the tunnel is unknown. */
  dpTunnelStats(dp: NativeDpHandle, tunnelId: number, out: Float64Array): boolean;
  /** Fills out (dpNames().drops order, at least that long) with the drop counters by reason. */
  dpDrops(dp: NativeDpHandle, out: Float64Array): void;
  /** Open one ESP datagram that reached JS (SEND_ONLY mode or a stray); returns the inner length or a negative code. */
  dpInject(dp: NativeDpHandle, datagram: Uint8Array, fromAddr: number, fromPort: number): number;
  /** Test hook: the outbound SA of child spiIn continues after hi:lo. */
  dpSetSeq(dp: NativeDpHandle, spiIn: number, hi: number, lo: number): boolean;
  /** Stop the I/O threads and close the engine's sockets (TUN fds stay the caller's). Idempotent. */
  dpClose(dp: NativeDpHandle): void;
  /** The fd of this process's UDP socket bound to addr:port (getsockname over /proc/self/fd), or -1. */
  findUdpSocket(addr: number, port: number): number;
  /** Tests: a non-blocking SOCK_SEQPACKET pair, the TUN twin ([engine end, test end]). */
  socketpairForTest(): [number, number];
}
