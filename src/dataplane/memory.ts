/**
 * In-memory twins of the TUN device and the port-4500 socket (wireguard-go's tuntest/bindtest
 * idea): two TsDataplanes joined by a MemoryWire exchange real ESP bytes with no kernel, so the
 * datapath and the daemon's wiring can be tested anywhere.
 */
import type { Endpoint } from '../ike/actions.js';
import type { EspSender, TunLike } from './ts-dataplane.js';

export class MemoryTun implements TunLike {
  /** Packets the datapath wrote towards the kernel (decrypted inbound traffic). */
  readonly written: Uint8Array[] = [];
  private handler: ((slab: Buffer, lengths: Uint32Array, count: number, slotSize: number) => void) | null = null;
  closed = false;

  constructor(
    readonly name: string,
    readonly mtu: number,
    private readonly slotSize = Math.ceil(mtu / 64) * 64,
  ) {}

  onPackets(handler: (slab: Buffer, lengths: Uint32Array, count: number, slotSize: number) => void): void {
    this.handler = handler;
  }

  /** Pretend the kernel routed these packets into the TUN: delivered as one batch. */
  inject(packets: Uint8Array[]): void {
    if (!this.handler) throw new Error(`MemoryTun ${this.name}: nobody reads it`);
    const slab = Buffer.alloc(packets.length * this.slotSize);
    const lengths = new Uint32Array(packets.length);
    packets.forEach((p, i) => {
      if (p.length > this.slotSize) throw new RangeError(`packet larger than the MTU of ${this.name}`);
      slab.set(p, i * this.slotSize);
      lengths[i] = p.length;
    });
    this.handler(slab, lengths, packets.length, this.slotSize);
  }

  writeBatch(slab: Uint8Array, offsets: Uint32Array, lengths: Uint32Array, count: number): number {
    for (let i = 0; i < count; i++) this.written.push(Uint8Array.from(slab.subarray(offsets[i]!, offsets[i]! + lengths[i]!)));
    return count;
  }

  close(): void {
    this.closed = true;
  }
}

export interface WireDatagram {
  from: Endpoint;
  to: Endpoint;
  bytes: Uint8Array;
}

/** A port-4500 "socket" per address; datagrams queue until deliver() hands them on. */
export class MemoryWire {
  readonly queue: WireDatagram[] = [];
  private readonly receivers = new Map<string, (bytes: Uint8Array, from: Endpoint) => void>();

  sender(port = 4500): EspSender {
    return {
      sendEsp: (from, buf, offset, length, to, done) => {
        this.queue.push({ from: { address: from, port }, to, bytes: Uint8Array.from(buf.subarray(offset, offset + length)) });
        queueMicrotask(() => done(null));
        return true;
      },
    };
  }

  listen(address: string, fn: (bytes: Uint8Array, from: Endpoint) => void): void {
    this.receivers.set(address, fn);
  }

  /** Deliver everything queued (optionally transformed: drop, replay, corrupt). */
  deliver(filter: (d: WireDatagram) => WireDatagram[] = (d) => [d]): number {
    let n = 0;
    while (this.queue.length > 0) {
      const d = this.queue.shift()!;
      for (const x of filter(d)) {
        this.receivers.get(x.to.address)?.(x.bytes, x.from);
        n++;
      }
    }
    return n;
  }
}
