/**
 * The TUN device, through the native addon in native/ (found and loaded by src/native/addon-file.ts).
 *
 * Why native: Node has no ioctl, so creating the device needs C anyway, and the measured read
 * paths (docs/performance.md, "Why the hot path looks the way it does") favour a non-blocking fd drained in batches into one slab
 * (1.78 M pkt/s) over fs.read on the threadpool (133 k pkt/s).
 *
 * Read path: libuv reports readiness -> onReadable drains up to MAX_BATCHES_PER_WAKEUP batches
 * of `slots` packets with readBatch into the same preallocated slab -> the handler sees
 * (slab, lengths, count, slotSize); packet i is slab[i*slotSize, i*slotSize + lengths[i]).
 * Nothing is allocated per packet or per batch. The slab is reused on the next wake-up: a
 * handler that keeps a packet must copy it.
 */
import { loadAddonFile } from '../native/addon-file.js';

/** The handle returned by the addon's watch(); opaque apart from the fd it watches. */
export interface NativeWatch {
  readonly fd: number;
}

/** The addon's exports (native/src/tun.c documents each one). */
export interface NativeTun {
  open(name: string, mtu: number): { fd: number; name: string };
  /** Returns packets read (0 if none ready); stats[0], when given, counts packets too big for a slot (dropped). */
  readBatch(fd: number, slab: Uint8Array, slotSize: number, lengths: Uint32Array, stats?: Uint32Array): number;
  /** Returns packets written; count minus that were dropped (queue full, link down, not IP). */
  writeBatch(fd: number, slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number;
  /** onReadable gets an Error only when the poll itself failed (libuv then stops polling). */
  watch(fd: number, onReadable: (pollError?: Error) => void): NativeWatch;
  unwatch(handle: NativeWatch): void;
  close(fd: number): void;
}

export interface NativeLoad {
  api: NativeTun | null;
  /** Why it is (not) loaded; names the file when it is. */
  reason: string;
  path: string | null;
}

const EXPORTS = ['open', 'readBatch', 'writeBatch', 'watch', 'unwatch', 'close'] as const;

let loaded: NativeLoad | undefined;

/**
 * Load the addon once. Never throws: a missing or broken addon is a reason, so `branchgate
 * version` and the status document can say why the fast path is off.
 * BRANCHGATE_NO_NATIVE=1 forces the fallback (checked on every call, so tests can flip it).
 */
export function loadNative(): NativeLoad {
  if (process.env.BRANCHGATE_NO_NATIVE === '1') {
    return { api: null, reason: 'native TUN addon disabled by BRANCHGATE_NO_NATIVE=1', path: null };
  }
  if (loaded === undefined) loaded = tryLoad();
  return loaded;
}

function tryLoad(): NativeLoad {
  if (process.platform !== 'linux') {
    return { api: null, reason: `native TUN addon is Linux-only (this is ${process.platform})`, path: null };
  }
  const load = loadAddonFile('native TUN addon', EXPORTS);
  if (!load.ok) return { api: null, reason: load.reason, path: load.path };
  return { api: load.mod as unknown as NativeTun, reason: `native TUN addon loaded (${load.path})`, path: load.path };
}

/** Packets per readBatch call: 64 makes the JS<->C crossing negligible (perf.md §4.4). */
export const BATCH_SLOTS = 64;
/**
 * Batches drained per readiness event before yielding to the event loop, so a flood on the TUN
 * cannot starve the UDP socket and timers. Polling is level-triggered: whatever is left makes
 * the fd ready again on the next loop turn.
 */
export const MAX_BATCHES_PER_WAKEUP = 4;

/**
 * One slot per packet: the MTU rounded up to a 64-byte multiple, so every slot starts on a
 * cache line. Without offloads (no IFF_VNET_HDR) the kernel never hands a TUN a packet larger
 * than its MTU: it fragments or answers "fragmentation needed" first. If the MTU is raised behind
 * our back, readBatch drops (never truncates) the packets that do not fit and counts them.
 */
export function slotSizeFor(mtu: number): number {
  return Math.ceil(mtu / 64) * 64;
}

export type PacketBatchHandler = (slab: Buffer, lengths: Uint32Array, count: number, slotSize: number) => void;

export interface TunCounters {
  /** readBatch calls that returned at least one packet. */
  batchesIn: number;
  packetsIn: number;
  packetsOut: number;
  /** Packets handed to write/writeBatch that the kernel did not take (queue full, link down, not IP). */
  dropsOut: number;
}

export interface TunOpenOptions {
  /** Inject the addon (tests, fakes); default: loadNative(). */
  api?: NativeTun;
  /** Slots per batch; default BATCH_SLOTS. */
  slots?: number;
}

export class TunDevice {
  readonly counters: TunCounters = { batchesIn: 0, packetsIn: 0, packetsOut: 0, dropsOut: 0 };
  readonly slotSize: number;

  private fdOrClosed: number;
  private readonly slab: Buffer;
  private readonly lengths: Uint32Array;
  /** stats[0]: packets too big for a slot, dropped by readBatch. */
  private readonly stats = new Uint32Array(1);
  private readonly oneOffset = new Uint32Array(1);
  private readonly oneLength = new Uint32Array(1);
  private watchHandle: NativeWatch | null = null;
  private handler: PacketBatchHandler | null = null;
  private errorHandler: ((err: Error) => void) | undefined;

  private constructor(
    private readonly api: NativeTun,
    fd: number,
    /** The kernel's name for the device (it picks one when asked for ""). */
    readonly name: string,
    readonly mtu: number,
    slots: number,
  ) {
    this.fdOrClosed = fd;
    this.slotSize = slotSizeFor(mtu);
    // allocUnsafeSlow: a dedicated, never-pooled ArrayBuffer, so the slab starts aligned and
    // nothing else shares its memory. Its contents are only read up to lengths[i].
    this.slab = Buffer.allocUnsafeSlow(slots * this.slotSize);
    this.lengths = new Uint32Array(slots);
  }

  /** Create (or attach to) TUN device `name`, set its MTU and bring it up. Throws with a remedy. */
  static open(name: string, mtu: number, options: TunOpenOptions = {}): TunDevice {
    const slots = options.slots ?? BATCH_SLOTS;
    if (!Number.isInteger(slots) || slots < 1 || slots > 1024) {
      throw new RangeError(`TunDevice.open: slots must be an integer from 1 to 1024 (got ${slots})`);
    }
    let api = options.api;
    if (api === undefined) {
      const n = loadNative();
      if (n.api === null) throw new Error(`cannot open TUN device ${name}: ${n.reason}`);
      api = n.api;
    }
    const { fd, name: real } = api.open(name, mtu);
    return new TunDevice(api, fd, real, mtu, slots);
  }

  get fd(): number {
    return this.fdOrClosed;
  }

  get closed(): boolean {
    return this.fdOrClosed < 0;
  }

  /** Packets dropped on read because they did not fit a slot (the MTU was raised under us). */
  get oversizeDrops(): number {
    return this.stats[0] ?? 0;
  }

  /**
   * Deliver received packets in batches. The handler runs synchronously inside the readiness
   * callback and must not keep references into the slab. A read error (the device was deleted)
   * stops the reading and goes to onError; without onError it is thrown as an uncaught exception.
   */
  onPackets(handler: PacketBatchHandler, onError?: (err: Error) => void): void {
    if (this.closed) throw new Error(`TUN device ${this.name} is closed`);
    this.handler = handler;
    this.errorHandler = onError;
    if (this.watchHandle === null) this.watchHandle = this.api.watch(this.fdOrClosed, this.onReadable);
  }

  /** Write packet i = slab[offsets[i], offsets[i] + lengths[i]) for i < count; returns how many were taken. */
  writeBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    if (this.closed) throw new Error(`TUN device ${this.name} is closed`);
    const n = this.api.writeBatch(this.fdOrClosed, slab, offsets, lengths, count);
    this.counters.packetsOut += n;
    this.counters.dropsOut += count - n;
    return n;
  }

  /** One packet (control path, tests). False when the kernel did not take it. */
  write(packet: Uint8Array): boolean {
    this.oneLength[0] = packet.length;
    return this.writeBatch(packet, this.oneOffset, this.oneLength, 1) === 1;
  }

  /** Stop reading and close the fd; a non-persistent device then disappears. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.stopWatching();
    const fd = this.fdOrClosed;
    this.fdOrClosed = -1;
    this.api.close(fd); // also stops a watch the addon still has on this fd
  }

  private stopWatching(): void {
    if (this.watchHandle !== null) {
      const h = this.watchHandle;
      this.watchHandle = null;
      this.api.unwatch(h);
    }
  }

  /** An arrow function property: created once, so a wake-up allocates nothing. */
  private readonly onReadable = (pollError?: Error): void => {
    for (let b = 0; b < MAX_BATCHES_PER_WAKEUP && !this.closed; b++) {
      let n: number;
      try {
        n = this.api.readBatch(this.fdOrClosed, this.slab, this.slotSize, this.lengths, this.stats);
      } catch (err) {
        this.fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (n === 0) break;
      this.counters.batchesIn++;
      this.counters.packetsIn += n;
      this.handler?.(this.slab, this.lengths, n, this.slotSize);
      if (n < this.lengths.length) break; // drained
    }
    // libuv stopped polling after a poll error; if reading did not explain it, say so now.
    if (pollError !== undefined && !this.closed) this.fail(pollError);
  };

  private fail(err: Error): void {
    this.stopWatching(); // an error fd stays "ready": keep polling and we would spin
    if (this.errorHandler) this.errorHandler(err);
    else throw err;
  }
}
