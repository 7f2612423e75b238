/**
 * Why the datapath dropped a packet: one name per reason, shared by both datapaths and shown as
 * `list-sas --json` `dataplane.drops` and `branchgate_esp_datagrams_dropped_total{reason}`. This
 * is the one drop table: TsDataplane counts here; the native engine counts in native/src/dp.h
 * DP_DROP_LIST, whose names the loader checks against these (src/native/tables-check.ts) and which
 * NativeDataplane reads by name. Receive reasons are bare (`oversize`), transmit ones start with
 * `tx-` (`tx-oversize`): a name means one direction only.
 *
 * Every ESP datagram the receive path rejects, and every inner packet the send path does not send,
 * is counted under exactly one reason. The counts are datapath-wide and cumulative: they survive
 * Child SA deletion, rekeys and tunnel reloads (the per-SA counters of the status document do not).
 *
 * Receive order (RFC 4303 §3.4): ESP? → SPI known? → size → the ESP checks of src/esp/open.ts
 * (short, seq-zero, replay, auth, padding, dummy) → inner packet IPv4? → selectors → TUN.
 */
import type { OpenFailReason } from '../esp/open.js';

/** Reason → what it means (the help text of the metric names these). */
export const ESP_DROP_HELP = {
  // ---- receive: ESP-in-UDP datagrams from port 4500
  'non-esp': 'shorter than 4 octets or SPI 0 on the ESP path (RFC 3948 §2.2: not ESP)',
  'unknown-spi': 'SPI of no installed Child SA: never ours, or an SA already deleted (rekeyed away, expired); RFC 4303 §3.4.2',
  oversize: 'longer than the tunnel MTU + 128 octets (checked before any crypto)',
  short: 'truncated: too short for the suite\'s header, IV, trailer and ICV, or CBC ciphertext not whole blocks',
  'seq-zero': 'sequence number 0 without ESN (never sent, RFC 4303 §3.3.3)',
  replay: 'already received or older than the anti-replay window (RFC 4303 §3.4.3)',
  auth: 'ICV / AEAD tag did not verify (RFC 4303 §3.4.4)',
  padding: 'authentic, but Pad Length or the padding octets are wrong (RFC 4303 §2.4)',
  dummy: 'authentic dummy packet, Next Header 59, discarded as RFC 4303 §2.6 says',
  'not-ipv4': 'authentic, but the inner packet is not IPv4 (Next Header or IP version)',
  'bad-length': 'authentic IPv4, but its header or total length does not fit the decrypted payload',
  policy: 'inner packet outside the Child SA traffic selectors (RFC 4301 §5.2)',
  'tun-write': 'the TUN device refused the decrypted packet (queue full, link down)',
  // ---- transmit: inner packets read from the TUN
  'tx-no-sa': 'routed into the tunnel while it has no Child SA',
  'tx-not-ipv4': 'not an IPv4 packet (only IPv4 is carried)',
  'tx-oversize': 'larger than the tunnel MTU',
  'tx-policy': 'outside the Child SA traffic selectors (RFC 4301 §5.1)',
  'tx-seq-exhausted': 'the sequence number would cycle: the SA must be rekeyed first (RFC 4303 §3.3.3)',
  'tx-send-error': 'the UDP send failed (no socket, no route, error from the kernel)',
  'tx-queue-full': 'the send queue stayed full (TypeScript: its send ring; native: the socket buffer): a bounded queue, not buffering',
} as const;

export type EspDropReason = keyof typeof ESP_DROP_HELP;

/** Every reason (the order of ESP_DROP_HELP; the native engine's order may differ: it is read by name). */
export const ESP_DROP_REASONS = Object.keys(ESP_DROP_HELP) as EspDropReason[];

export type EspDropCounts = Record<EspDropReason, number>;

/** The reason's index: the counters are a Float64Array so the hot path only increments a slot. */
export const DROP = Object.fromEntries(ESP_DROP_REASONS.map((r, i) => [r, i])) as Readonly<Record<EspDropReason, number>>;

/**
 * An inbound ESP datagram longer than the tunnel MTU plus this is `oversize` (native/src/dp.h
 * DP_IN_SLACK, the same rule): a round bound above the largest ESP overhead of any suite (73
 * octets), so a peer with a slightly larger MTU still gets through.
 */
export const ESP_IN_SLACK = 128;

/** Allocation-free counters for one datapath: add(DROP.x), read with snapshot(). */
export class DropCounters {
  readonly v = new Float64Array(ESP_DROP_REASONS.length);

  /** Count n packets under reason index i (a DROP value). */
  add(i: number, n = 1): void {
    this.v[i]! += n;
  }

  snapshot(): EspDropCounts {
    return fromArray(this.v);
  }
}

/**
 * Reason → count from an array: in ESP_DROP_REASONS order, or, with `at` (the native engine's,
 * src/native/tables-check.ts positions), v[at[i]] is the count of ESP_DROP_REASONS[i].
 */
export function fromArray(v: ArrayLike<number>, at?: ArrayLike<number>): EspDropCounts {
  const out = {} as EspDropCounts;
  ESP_DROP_REASONS.forEach((r, i) => (out[r] = v[at ? at[i]! : i] ?? 0));
  return out;
}

/** openEsp's failure → drop reason (native/src/dp_io.c open_reason is the same mapping). */
export const OPEN_DROP: Readonly<Record<OpenFailReason, number>> = {
  short: DROP.short,
  spi: DROP['unknown-spi'], // the SA was looked up by this SPI: cannot happen
  'seq-zero': DROP['seq-zero'],
  replay: DROP.replay,
  auth: DROP.auth,
  padding: DROP.padding,
  dummy: DROP.dummy,
  'too-big': DROP.oversize,
};
