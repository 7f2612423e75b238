/**
 * Reassembly of IKEv2 fragment messages, RFC 7383 §2.6. One Reassembler per IKE SA, built with
 * the SA's inbound SkCipher (the peer's SK_e/SK_a); a rekeyed IKE SA gets a new one. Sans-IO:
 * no timers; `now` is only recorded, so the engine can report or discard idle sets.
 *
 * What it enforces, in this order (cheap checks first, crypto before any state change):
 *  1. the message is one SKF payload, Total Fragments ≤ limits.maxFragments;
 *  2. per direction (requests and responses are separate slots, so a fragmented request from the
 *     peer and a fragmented response to our own request can be in flight together) at most one
 *     message is being reassembled; a fragment of an older Message ID than the set in progress,
 *     or of a Message ID already reassembled, is dropped ('stale': the §2.6 replay check);
 *  3. same Message ID: a smaller Total Fragments than the set's is dropped, a Fragment Number
 *     already held is dropped as a duplicate — both without decrypting (§2.6);
 *  4. the ICV is verified (openFragment); a forged or corrupted fragment is dropped and changes
 *     nothing, so one unauthenticated datagram can never evict or poison a set (§2.6);
 *  5. a newer Message ID, or a larger Total Fragments (the sender re-fragmented smaller after
 *     PMTU trouble, §2.5.2), discards the set in progress and starts afresh with this fragment;
 *  6. header fields other than the lengths must match the set's (they are authenticated per
 *     fragment, so a mismatch is a peer bug: dropped);
 *  7. the decrypted octets of one message may not exceed limits.maxBytes: the set is discarded.
 *
 * The RFC 7296 message-ID window check (is this the request we expect, or a response to a
 * request we have outstanding?) belongs to the engine and runs BEFORE accept(), as for any
 * protected message; so does retransmitted-request handling (§2.6.1).
 */
import { PayloadType } from '../constants.js';
import type { SkCipher } from '../crypto/types.js';
import { openFragment, sameMessage } from './fragments.js';
import { decodePayloads, isEncrypted, payloadTypeOf } from './payload-chain.js';
import { DecodeError, type DecodeResult, type IkeHeader, type IkeMessage, type Payload } from './types.js';

export interface ReassemblyLimits {
  /** Largest Total Fragments accepted (larger is dropped before decrypting). */
  maxFragments: number;
  /** Largest sum of decrypted fragment contents of one message. */
  maxBytes: number;
}

/**
 * 64 fragments: at the smallest fragment size anyone uses (576-octet IPv4 packets, ~490 octets
 * of content) that is ~31 KB, more than an IKE_AUTH with a certificate chain; libreswan had to
 * raise a limit of 16 for Windows clients fragmenting at 626 octets (libreswan PR #311).
 * 64 KiB: the merged content stands for one SK payload, whose Payload Length is 16 bits, so no
 * message that could have been sent unfragmented is larger (strongSwan is stricter: charon.max_packet,
 * 10000 octets by default, bounds a reassembled message). Worst case per SA: two sets (one per
 * direction) of 64 KiB, and only ever filled by fragments that passed the ICV check.
 */
export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = { maxFragments: 64, maxBytes: 64 * 1024 };

export type FragmentDropReason =
  | 'malformed' // not a lone SKF payload, or SKF does not match the bytes (see `error`)
  | 'too-many-fragments' // Total Fragments > limits.maxFragments
  | 'stale' // Message ID older than the set in progress, or already reassembled
  | 'smaller-total' // Total Fragments below the set's (§2.6)
  | 'duplicate' // Fragment Number already held
  | 'integrity' // ICV did not verify (§2.6: silently discard)
  | 'header-mismatch' // authenticated, but exchange type / flags / SPIs differ from the set's
  | 'too-large'; // the set would exceed limits.maxBytes; the whole set was discarded

export type FragmentResult =
  | { status: 'dropped'; reason: FragmentDropReason; error?: DecodeError }
  | { status: 'pending'; messageId: number; received: number; total: number }
  | {
      status: 'complete';
      /** Header of the set's first accepted fragment; `length` is that fragment's, not meaningful. */
      header: IkeHeader;
      /** Next Payload of fragment 1 = type of the first inner payload (§2.5). */
      innerNext: number;
      /** Decrypted fragment contents in Fragment Number order: an SK payload's plaintext. */
      plaintext: Uint8Array;
      fragments: number;
    };

export interface PendingSet {
  response: boolean;
  messageId: number;
  total: number;
  received: number;
  bytes: number;
  startedAt: number;
  updatedAt: number;
}

interface Assembly {
  header: IkeHeader;
  total: number;
  parts: Map<number, Uint8Array>;
  bytes: number;
  innerNext: number;
  startedAt: number;
  updatedAt: number;
}

interface Slot {
  current: Assembly | undefined;
  /** Highest Message ID reassembled in this direction; -1 before the first. */
  lastCompleted: number;
}

export class Reassembler {
  private readonly slots: { requests: Slot; responses: Slot } = {
    requests: { current: undefined, lastCompleted: -1 },
    responses: { current: undefined, lastCompleted: -1 },
  };
  private readonly limits: ReassemblyLimits;

  constructor(private readonly cipher: SkCipher, limits: Partial<ReassemblyLimits> = {}) {
    this.limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...limits };
  }

  /** Takes one received fragment message (`msg` decoded from exactly `bytes`). Never throws. */
  accept(bytes: Uint8Array, msg: IkeMessage, now: number): FragmentResult {
    const skf = msg.payloads[0];
    if (msg.payloads.length !== 1 || skf === undefined || skf.type !== PayloadType.SKF) {
      return drop('malformed', new DecodeError('bad-field', 'a fragment message carries exactly one payload, SKF', 28));
    }
    const total = skf.totalFragments;
    const num = skf.fragmentNumber;
    if (total > this.limits.maxFragments) return drop('too-many-fragments');
    const id = msg.header.messageId;
    const slot = msg.header.response ? this.slots.responses : this.slots.requests;
    let set = slot.current;
    if (id <= slot.lastCompleted || (set !== undefined && id < set.header.messageId)) return drop('stale');
    if (set !== undefined && id === set.header.messageId) {
      if (total < set.total) return drop('smaller-total');
      if (total === set.total && set.parts.has(num)) return drop('duplicate');
    }

    const opened = openFragment(bytes, msg, this.cipher);
    if (!opened.ok) return opened.error === 'integrity' ? drop('integrity') : drop('malformed', opened.error);
    const { plaintext } = opened.value;

    if (set === undefined || id > set.header.messageId || total > set.total) {
      set = { header: msg.header, total, parts: new Map(), bytes: 0, innerNext: 0, startedAt: now, updatedAt: now };
      slot.current = set;
    } else if (!sameMessage(set.header, msg.header)) {
      return drop('header-mismatch');
    }
    if (set.bytes + plaintext.length > this.limits.maxBytes) {
      slot.current = undefined;
      return drop('too-large');
    }
    set.parts.set(num, plaintext);
    set.bytes += plaintext.length;
    set.updatedAt = now;
    // §2.5: only fragment 1 names the first inner payload; the others' field is ignored.
    if (num === 1) set.innerNext = skf.innerNext;
    if (set.parts.size < set.total) return { status: 'pending', messageId: id, received: set.parts.size, total: set.total };

    const merged = new Uint8Array(set.bytes);
    let at = 0;
    for (let n = 1; n <= set.total; n++) {
      const part = set.parts.get(n) ?? new Uint8Array(0); // all numbers 1..total are present here
      merged.set(part, at);
      at += part.length;
    }
    slot.current = undefined;
    slot.lastCompleted = id;
    return { status: 'complete', header: set.header, innerNext: set.innerNext, plaintext: merged, fragments: set.total };
  }

  /** Sets in progress, for status output. */
  pending(): PendingSet[] {
    const out: PendingSet[] = [];
    for (const [response, slot] of [[false, this.slots.requests], [true, this.slots.responses]] as const) {
      const s = slot.current;
      if (s === undefined) continue;
      out.push({
        response, messageId: s.header.messageId, total: s.total, received: s.parts.size, bytes: s.bytes,
        startedAt: s.startedAt, updatedAt: s.updatedAt,
      });
    }
    return out;
  }

  /**
   * Discards sets that received nothing since `cutoff` (optional: a set is also replaced by the
   * next Message ID, so memory stays bounded without it). Returns how many were discarded.
   */
  discardIdleSince(cutoff: number): number {
    let n = 0;
    for (const slot of [this.slots.requests, this.slots.responses]) {
      if (slot.current !== undefined && slot.current.updatedAt < cutoff) {
        slot.current = undefined;
        n++;
      }
    }
    return n;
  }
}

function drop(reason: FragmentDropReason, error?: DecodeError): FragmentResult {
  return error === undefined ? { status: 'dropped', reason } : { status: 'dropped', reason, error };
}

/**
 * Decodes the inner chain of a reassembled message exactly as openMessage does for an SK
 * payload's plaintext (§2.6: the merged content is processed as the content of one Encrypted
 * payload): the chain starts at `innerNext`, and SK/SKF may not appear inside.
 */
export function decodeReassembled(innerNext: number, plaintext: Uint8Array): DecodeResult<Payload[]> {
  const inner = decodePayloads(plaintext, innerNext);
  if (!inner.ok) return inner;
  if (inner.value.some((p) => isEncrypted(payloadTypeOf(p)))) {
    return { ok: false, error: new DecodeError('bad-field', 'SK/SKF inside a fragmented message', 0) };
  }
  return inner;
}
