/**
 * A bounded ring of preallocated output slots for ESP datagrams in flight to the UDP socket.
 * dgram.send is asynchronous and must not see its buffer change before its callback, so each
 * slot stays busy until then; when every slot is busy the packet is dropped and counted
 * (a bounded queue with a drop policy, never unbounded buffering — strongSwan#2930 lessons).
 */
export class SendRing {
  readonly buf: Buffer;
  /** One view per slot, made once, so the hot path creates no typed-array objects. */
  readonly views: Uint8Array[];
  private readonly busy: Uint8Array;
  private next = 0;
  /** Completion callbacks, one per slot, made once. */
  readonly release: ((err: Error | null) => void)[];
  sendErrors = 0;
  lastError: Error | null = null;

  /** onSendError: a send completed with an error (the datapath counts it as tx-send-error). */
  constructor(
    readonly slots: number,
    readonly slotSize: number,
    onSendError: (err: Error) => void = () => undefined,
  ) {
    this.buf = Buffer.allocUnsafeSlow(slots * slotSize);
    this.views = Array.from({ length: slots }, (_, i) => this.buf.subarray(i * slotSize, (i + 1) * slotSize));
    this.busy = new Uint8Array(slots);
    this.release = Array.from({ length: slots }, (_, i) => (err: Error | null) => {
      this.busy[i] = 0;
      if (err) {
        this.sendErrors++;
        this.lastError = err;
        onSendError(err);
      }
    });
  }

  /** A free slot index, marked busy, or -1 when all are in flight. */
  acquire(): number {
    for (let k = 0; k < this.slots; k++) {
      const i = (this.next + k) % this.slots;
      if (this.busy[i] === 0) {
        this.busy[i] = 1;
        this.next = (i + 1) % this.slots;
        return i;
      }
    }
    return -1;
  }

  /** Give a slot back without sending (e.g. sealing failed). */
  abandon(i: number): void {
    this.busy[i] = 0;
  }
}
