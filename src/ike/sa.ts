/**
 * IkeSa: the state of one IKE SA and the message-level machinery every task shares — message
 * IDs, the outstanding request and its retransmission, the cached last response (RFC 7296 §2.1,
 * §2.2). Tasks in tasks/ decide what to send; this module decides how.
 *
 *   initiator:  init-sent ──▶ auth-sent ──▶ established ──▶ deleting ──▶ (gone)
 *   responder:  half-open ──────────────▶ established ──▶ deleting ──▶ (gone)
 */
import type { Action, ChildSaInfo, ChildSaKeys, Endpoint, LogLevel } from './actions.js';
import type { TunnelConfig } from '../config/types.js';
import type { Payload, Proposal, TrafficSelector } from './codec/types.js';
import type { IkeKeys, KeyExchange, SkCipher } from './crypto/types.js';
import type { Suite } from './proposals.js';
import { encodeMessage } from './codec/message.js';
import { IKE_MAJOR_VERSION, IKE_MINOR_VERSION } from './constants.js';

/** strongSwan's defaults (charon.opt: retransmit_timeout 4.0, retransmit_base 1.8, retransmit_tries 5). */
export const RETRANSMIT_TIMEOUT_MS = 4000;
export const RETRANSMIT_BASE = 1.8;
export const RETRANSMIT_TRIES = 5;
/** A half-open responder SA that never completes is dropped after this long. */
export const HALF_OPEN_TIMEOUT_MS = 30_000;

export type IkeSaState = 'init-sent' | 'auth-sent' | 'half-open' | 'established' | 'deleting';

/** Everything the engine hands to a task: randomness, the clock, and where actions go. */
export interface EngineContext {
  now: number;
  /** The datapath carries ESP only in UDP 4500: always ask the peer to encapsulate. */
  udpEncapsulationOnly: boolean;
  random(n: number): Uint8Array;
  actions: Action[];
  log(level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>): void;
}

export interface ChildSa {
  info: ChildSaInfo;
  keys: ChildSaKeys;
  /** The negotiated selectors: the datapath enforces them on inbound packets. */
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
}

/** The Child SA the initiator asked for in IKE_AUTH, kept until the response arrives. */
export interface PendingChild {
  spiIn: Uint8Array;
  proposals: Proposal[];
  tsi: TrafficSelector[];
  tsr: TrafficSelector[];
}

interface Outstanding {
  messageId: number;
  exchange: number;
  bytes: Uint8Array;
  tries: number;
  nextAt: number;
}

let nextSaId = 1;

export class IkeSa {
  readonly id = nextSaId++;
  state: IkeSaState;
  local: Endpoint;
  remote: Endpoint;
  /** Messages go over port 4500 with the non-ESP marker (after a NAT float, RFC 7296 §2.23). */
  natT = false;
  natDetected = false;
  /** ESP must be UDP-encapsulated: NAT seen by either side, or forced. */
  encap = false;
  spiR: Uint8Array = new Uint8Array(8);
  nonceI: Uint8Array = new Uint8Array(0);
  nonceR: Uint8Array = new Uint8Array(0);
  ke: KeyExchange | null = null;
  cookie: Uint8Array | null = null;
  /** RFC 7296 §2.15 RealMessage1/2: the IKE_SA_INIT request and response as sent. */
  initRequest: Uint8Array = new Uint8Array(0);
  initResponse: Uint8Array = new Uint8Array(0);
  suite: Suite | null = null;
  keys: IkeKeys | null = null;
  /** Protects what we send, and checks what the peer sends. */
  cipherOut: SkCipher | null = null;
  cipherIn: SkCipher | null = null;
  nextRequestId = 0;
  expectedPeerRequestId = 0;
  outstanding: Outstanding | null = null;
  lastResponse: { messageId: number; bytes: Uint8Array; natT: boolean } | null = null;
  children: ChildSa[] = [];
  pendingChild: PendingChild | null = null;
  establishedAt = 0;
  createdAt: number;
  /** Responder only: tunnels whose addresses match, narrowed to one once IDi is known. */
  candidates: TunnelConfig[] = [];
  peerId = '';

  constructor(
    public tunnel: TunnelConfig,
    readonly initiator: boolean,
    readonly spiI: Uint8Array,
    local: Endpoint,
    remote: Endpoint,
    now: number,
  ) {
    this.state = initiator ? 'init-sent' : 'half-open';
    this.local = local;
    this.remote = remote;
    this.createdAt = now;
  }

  /** Our SPI: the one the peer puts in the header to reach us. */
  get ourSpi(): Uint8Array {
    return this.initiator ? this.spiI : this.spiR;
  }

  header(exchangeType: number, response: boolean, messageId: number) {
    return {
      spiI: this.spiI,
      spiR: this.spiR,
      majorVersion: IKE_MAJOR_VERSION,
      minorVersion: IKE_MINOR_VERSION,
      exchangeType,
      initiator: this.initiator,
      response,
      version: false,
      messageId,
    };
  }

  private sendAction(bytes: Uint8Array): Action {
    const port = this.natT ? 4500 : 500;
    return { kind: 'send', from: { address: this.local.address, port }, to: { ...this.remote }, natT: this.natT, bytes };
  }

  /** Send a new request with the next message ID; it is retransmitted until answered. */
  sendRequest(ctx: EngineContext, exchangeType: number, payloads: Payload[], protect: boolean): Uint8Array {
    const messageId = this.nextRequestId++;
    const bytes = encodeMessage(this.header(exchangeType, false, messageId), payloads, protect ? this.cipherOut! : undefined);
    this.outstanding = { messageId, exchange: exchangeType, bytes, tries: 0, nextAt: ctx.now + RETRANSMIT_TIMEOUT_MS };
    ctx.actions.push(this.sendAction(bytes));
    return bytes;
  }

  /** Re-send the outstanding request as it is (e.g. after the float to 4500 it keeps its bytes). */
  resendOutstanding(ctx: EngineContext): void {
    if (this.outstanding) ctx.actions.push(this.sendAction(this.outstanding.bytes));
  }

  /** Answer the peer's request `messageId` and cache the answer for duplicates (RFC 7296 §2.1). */
  sendResponse(ctx: EngineContext, exchangeType: number, messageId: number, payloads: Payload[], protect: boolean): Uint8Array {
    const bytes = encodeMessage(this.header(exchangeType, true, messageId), payloads, protect ? this.cipherOut! : undefined);
    this.lastResponse = { messageId, bytes, natT: this.natT };
    this.expectedPeerRequestId = messageId + 1;
    ctx.actions.push(this.sendAction(bytes));
    return bytes;
  }

  resendLastResponse(ctx: EngineContext): void {
    if (!this.lastResponse) return;
    ctx.actions.push(this.sendAction(this.lastResponse.bytes));
  }

  /**
   * Retransmission of identical bytes with exponential backoff; returns false when the budget
   * is spent and the SA must go (RFC 7296 §2.1, §2.4).
   */
  retransmitIfDue(ctx: EngineContext): boolean {
    const o = this.outstanding;
    if (!o || ctx.now < o.nextAt) return true;
    if (o.tries >= RETRANSMIT_TRIES) return false;
    o.tries++;
    o.nextAt = ctx.now + RETRANSMIT_TIMEOUT_MS * Math.pow(RETRANSMIT_BASE, o.tries);
    ctx.log('debug', this.tunnel.name, `retransmit ${o.tries} of request ${o.messageId}`);
    ctx.actions.push(this.sendAction(o.bytes));
    return true;
  }

  nextWakeup(): number | null {
    if (this.outstanding) return this.outstanding.nextAt;
    if (this.state === 'half-open') return this.createdAt + HALF_OPEN_TIMEOUT_MS;
    return null;
  }

  /** Forget key material we no longer need (best effort in a garbage-collected runtime). */
  wipe(): void {
    for (const k of Object.values(this.keys ?? {})) (k as Uint8Array).fill(0);
    this.keys = null;
    for (const c of this.children) for (const k of Object.values(c.keys)) (k as Uint8Array).fill(0);
  }
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
