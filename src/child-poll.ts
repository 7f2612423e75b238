/**
 * The daemon's one periodic job: about once a second, while a Child SA is installed, read every
 * installed Child SA's datapath counters. Two things only exist there, because they change per
 * packet and so are never pushed to the engine:
 *  - inbound ESP: a tunnel whose packetsIn advanced heard its peer, so DPD stays quiet
 *    (RFC 7296 §2.4: liveness checks only when nothing authenticated arrived);
 *  - volume lifetimes: childLifetimeBytes / childLifetimePackets, asked for once per Child SA.
 * The datapath's own "sequence space nearly exhausted" event takes the same once-per-SA path.
 * The timer is unref'd: it never keeps the process alive.
 */
import type { SaCounters } from './dataplane/types.js';
import type { TunnelConfig } from './config/types.js';
import type { Logger } from './log.js';

/** Why a Child SA must be rekeyed before its time lifetime: a volume lifetime or the ESP sequence space. */
export type VolumeReason = 'bytes' | 'packets' | 'seq-exhausted';

/** How often installed Child SAs' counters are read. */
export const COUNTER_POLL_MS = 1000;

export interface PollTarget {
  /** The installed Child SAs: key (tunnel/spiIn) → tunnel and our inbound SPI. */
  children(): Iterable<[string, { tunnel: string; spiIn: number }]>;
  counters(spiIn: number): SaCounters | null;
  tunnel(name: string): TunnelConfig | undefined;
  noteInboundEsp(tunnel: string, now: number): void;
  /** Start the rekey (the daemon logs it and calls the engine). */
  volumeExceeded(tunnel: string, spiIn: number, reason: VolumeReason): void;
  /** A DPD wake-up may have moved later: re-arm the engine timer. */
  rearm(): void;
  logger: Logger;
}

export class ChildCounterPoll {
  #timer: NodeJS.Timeout | undefined;
  /** Per installed child: packetsIn at the last pass, and whether a volume rekey was asked. */
  readonly #lastPacketsIn = new Map<string, number>();
  readonly #asked = new Set<string>();
  readonly #failed = new Set<string>();

  constructor(private readonly t: PollTarget) {}

  /** A Child SA was installed under `key`: start counting it (and the timer). */
  added(key: string): void {
    this.#lastPacketsIn.set(key, 0);
    this.#asked.delete(key);
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.poll(), COUNTER_POLL_MS);
    this.#timer.unref();
  }

  /** The Child SA under `key` is gone; `remaining` are still installed (0 stops the timer). */
  removed(key: string, remaining: number): void {
    this.#lastPacketsIn.delete(key);
    this.#asked.delete(key);
    if (remaining === 0) this.stop();
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass over the installed Child SAs' counters. */
  poll(): void {
    try {
      const now = Date.now();
      const inbound = new Set<string>();
      const exceeded: [string, number, VolumeReason][] = [];
      for (const [key, c] of this.t.children()) {
        const n = this.t.counters(c.spiIn);
        if (!n) continue;
        if (n.packetsIn > (this.#lastPacketsIn.get(key) ?? 0)) inbound.add(c.tunnel);
        this.#lastPacketsIn.set(key, n.packetsIn);
        if (this.#asked.has(key)) continue;
        const t = this.t.tunnel(c.tunnel);
        if (!t) continue;
        const reason: VolumeReason | null =
          t.childLifetimeBytes > 0 && n.bytesIn + n.bytesOut >= t.childLifetimeBytes ? 'bytes'
            : t.childLifetimePackets > 0 && n.packetsIn + n.packetsOut >= t.childLifetimePackets ? 'packets' : null;
        if (reason === null) continue;
        this.#asked.add(key);
        exceeded.push([c.tunnel, c.spiIn, reason]);
      }
      for (const tunnel of inbound) this.#guard(() => this.t.noteInboundEsp(tunnel, now), 'noteInboundEsp');
      for (const [tunnel, spiIn, reason] of exceeded) this.#guard(() => this.t.volumeExceeded(tunnel, spiIn, reason), 'childVolumeExceeded');
      if (inbound.size > 0) this.t.rearm();
    } catch (err) {
      this.#error('counters', err);
    }
  }

  /** The datapath asks for a rekey (sequence numbers near exhaustion): once per installed SA. */
  seqExhausted(key: string, tunnel: string, spiIn: number, installed: boolean): void {
    if (this.#asked.has(key) || !installed) return;
    this.#asked.add(key);
    try {
      this.t.volumeExceeded(tunnel, spiIn, 'seq-exhausted');
    } catch (err) {
      this.t.logger.error({ err, tunnel }, 'engine failed to start a rekey for sequence-number exhaustion');
    }
  }

  #guard(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      this.#error(what, err);
    }
  }

  /** Logged once per kind: a poll that fails every second must not flood the log. */
  #error(what: string, err: unknown): void {
    if (this.#failed.has(what)) return;
    this.#failed.add(what);
    this.t.logger.error({ err, what }, 'Child SA counter poll: the engine call failed (logged once; volume lifetimes or ESP liveness may go unseen)');
  }
}
