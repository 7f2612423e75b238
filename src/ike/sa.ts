/**
 * IkeSa: the state of one IKE SA and the message-level machinery every task shares — message
 * IDs, the task queue with its window of one (RFC 7296 §2.3), the outstanding request and its
 * retransmission, the cached last response (§2.1, §2.2), RFC 7383 fragmentation of what we send.
 * Tasks in tasks/ decide what to send; this module decides how.
 *
 *   initiator:  init-sent ──▶ auth-sent ──▶ established ──▶ deleting ──▶ (gone)
 *   responder:  half-open ──────────────▶ established ──▶ deleting ──▶ (gone)
 *   either:     established ──(IKE rekey done, §2.18)──▶ rekeyed ──▶ (gone once deleted)
 */
import type { Action, Endpoint, LogLevel } from './actions.js';
import type { TunnelConfig } from '../config/types.js';
import type { Payload } from './codec/types.js';
import type { IkeKeys, KeyExchange, SkCipher } from './crypto/types.js';
import type { Suite } from './proposals.js';
import { encodeMessage } from './codec/message.js';
import { exceedsDatagram, fragmentMessage } from './codec/fragments.js';
import type { Reassembler } from './codec/reassembler.js';
import { IKE_MAJOR_VERSION, IKE_MINOR_VERSION } from './constants.js';
import { DEFAULT_RETRANSMIT, nextTimeout, type RetransmitPolicy } from './retransmit.js';
import type { ChildSa, PendingChild, SaTimer } from './sa-types.js';
import type { FloodKind } from './log-limiter.js';

/**
 * What the engine lets tasks do to SAs they do not own. Tasks hold no references to other SAs:
 * they ask the engine, which looks SAs up again by SPI or tunnel name.
 */
export interface EngineOps {
  /** Tear an SA down locally; `reconnect`: an initiating tunnel starts again (with backoff). */
  removeIke(ctx: EngineContext, sa: IkeSa, reason: string, reconnect: boolean): void;
  /** Make a new SA findable by its SPI (a rekeyed IKE SA, §2.18). */
  register(sa: IkeSa): void;
  /** The tunnel's current IKE SA is now `sa`. */
  setCurrent(sa: IkeSa): void;
  current(tunnel: string): IkeSa | null;
}

/** Everything the engine hands to a task for one input: the clock, randomness, where actions go. */
export interface EngineContext {
  now: number;
  /** The datapath carries ESP only in UDP 4500: always ask the peer to encapsulate. */
  udpEncapsulationOnly: boolean;
  /** Emit export-keys actions (EngineOptions.exportKeys; debug only). Absent: false. */
  exportKeys?: boolean;
  random(n: number): Uint8Array;
  actions: Action[];
  log(level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>): void;
  /**
   * A line about one hostile or broken datagram, limited per kind (log-limiter.ts) so a flood
   * does not become a flood of log lines. Absent: lines go to log() unlimited (tests).
   */
  floodLog?(kind: FloodKind, level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>): void;
  ops?: EngineOps;
}

/**
 * One job that needs a request of its own: the IkeSa queues tasks and sends one at a time
 * (RFC 7296 §2.3, a window of one). The names are the exchanges' RFC names (tasks/*.ts).
 */
export interface Task {
  readonly name: 'child-create' | 'child-rekey' | 'child-delete' | 'ike-rekey' | 'ike-delete' | 'dpd';
  /** The payloads of the request, or null when the job became moot while it waited. */
  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null;
  onResponse(ctx: EngineContext, sa: IkeSa, payloads: Payload[]): void;
  /** Forget secret state (a DH private value) when the SA goes before the answer came. */
  wipe?(): void;
  /** child-rekey only: our inbound SPI of the Child SA it replaces (collisions, RFC 7296 §2.8.1). */
  readonly rekeysChild?: number;
}


/**
 * Jobs one SA may have waiting for the window. Every producer is idempotent (a second `rekey`
 * while one runs is refused, DPD and Child creation check hasTask), so this is a backstop: a
 * job beyond it is dropped and logged instead of growing the queue.
 */
export const MAX_QUEUED_TASKS = 16;

export type IkeSaState = 'init-sent' | 'auth-sent' | 'half-open' | 'established' | 'rekeyed' | 'deleting';

interface Outstanding {
  messageId: number;
  exchange: number;
  /** One datagram, or the RFC 7383 fragments of one message. */
  datagrams: Uint8Array[];
  tries: number;
  nextAt: number;
  firstSentAt: number;
  task: Task | null;
  policy: RetransmitPolicy;
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
  /** A NAT is in front of us: we send the NAT keepalives (RFC 3948 §2.3). */
  selfBehindNat = false;
  /** ESP must be UDP-encapsulated: NAT seen by either side, or forced. */
  encap = false;
  /** Both sides sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 §2.3). */
  fragmentation = false;
  reassembler: Reassembler | null = null;
  spiR: Uint8Array = new Uint8Array(8);
  nonceI: Uint8Array = new Uint8Array(0);
  nonceR: Uint8Array = new Uint8Array(0);
  ke: KeyExchange | null = null;
  cookie: Uint8Array | null = null;
  /** COOKIEs followed in this initiation (tasks/ike-init.ts MAX_COOKIE_ROUNDS). */
  cookieRounds = 0;
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
  lastResponse: { messageId: number; datagrams: Uint8Array[]; natT: boolean } | null = null;
  /** Jobs waiting for the window (RFC 7296 §2.3: one request in flight). */
  tasks: Task[] = [];
  timers: SaTimer[] = [];
  children: ChildSa[] = [];
  pendingChild: PendingChild | null = null;
  establishedAt = 0;
  createdAt: number;
  /** IKE SA soft and hard expiry (absolute ms; 0 = not scheduled). */
  rekeyAt = 0;
  expireAt = 0;
  /** Last authenticated IKE message or noted ESP from the peer (RFC 7296 §2.4). */
  lastInboundAt: number;
  nextKeepaliveAt = 0;
  /** Retransmission schedule for the next request (retransmit.ts). */
  policy: RetransmitPolicy = DEFAULT_RETRANSMIT;
  /** An initiating tunnel left without a Child SA asks for a new one from then on (0: now). */
  childCreateAfter = 0;
  /** Put INITIAL_CONTACT into our first IKE_AUTH (no other IKE SA with this peer, §2.4). */
  initialContact = true;
  /** A peer-initiated IKE rekey we answered while ours was in flight (§2.8.2). */
  passiveRekey: { sa: IkeSa; lowerNonce: Uint8Array } | null = null;
  /** Our own IKE rekey is in flight. */
  rekeying = false;
  /** The IKE SA that replaced this one (state rekeyed). */
  replacedBy: IkeSa | null = null;
  /** Responder, while half-open: its IkeEngine.halfOpen key and the source address it counts against. */
  halfOpenKey: string | null = null;
  halfOpenSource = '';
  /** Responder only: tunnels whose addresses match, narrowed to one once IDi is known. */
  candidates: TunnelConfig[] = [];
  peerId = '';
  /**
   * A config reload took this SA from its tunnel (IkeEngine.reconfigure): its Child SAs are out
   * of the datapath and its down was reported; it lives on only to send its Delete (or finish a
   * Delete already under way), and it goes quietly.
   */
  retired = false;

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
    this.lastInboundAt = now;
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

  private sendActions(datagrams: Uint8Array[]): Action[] {
    const port = this.natT ? 4500 : 500;
    return datagrams.map((bytes) => ({ kind: 'send', from: { address: this.local.address, port }, to: { ...this.remote }, natT: this.natT, bytes }));
  }

  /** Encode, and split into SKF fragments when negotiated and too big (RFC 7383 §2.5). */
  private encode(exchangeType: number, response: boolean, messageId: number, payloads: Payload[], protect: boolean): Uint8Array[] {
    const header = this.header(exchangeType, response, messageId);
    const whole = encodeMessage(header, payloads, protect ? this.cipherOut! : undefined);
    if (!protect || !this.fragmentation || !exceedsDatagram(whole.length, this.tunnel.fragmentSize, this.natT)) return [whole];
    return fragmentMessage(header, payloads, this.cipherOut!, this.tunnel.fragmentSize, this.natT);
  }

  /** Send a new request with the next message ID; it is retransmitted until answered. */
  sendRequest(ctx: EngineContext, exchangeType: number, payloads: Payload[], protect: boolean, task: Task | null = null): Uint8Array {
    const messageId = this.nextRequestId++;
    const datagrams = this.encode(exchangeType, false, messageId, payloads, protect);
    const policy = this.policy;
    this.outstanding = { messageId, exchange: exchangeType, datagrams, tries: 0, nextAt: ctx.now + nextTimeout(policy, 0), firstSentAt: ctx.now, task, policy };
    ctx.actions.push(...this.sendActions(datagrams));
    return datagrams[0]!;
  }

  /** Queue a job; it is sent when the window is free (RFC 7296 §2.3). */
  queue(ctx: EngineContext, task: Task, front = false): void {
    if (this.tasks.length >= MAX_QUEUED_TASKS) {
      // Jobs queued in front (Deletes, INVALID_KE retries) matter more than the newest at the back.
      const dropped = front ? this.tasks.pop()! : task;
      dropped.wipe?.();
      ctx.log('warn', this.tunnel.name, `${MAX_QUEUED_TASKS} jobs are waiting on this IKE SA; dropping a ${dropped.name} job`);
      if (!front) return;
    }
    if (front) this.tasks.unshift(task);
    else this.tasks.push(task);
    this.kick(ctx);
  }

  /** Send the next queued job if no request is in flight. */
  kick(ctx: EngineContext): void {
    while (!this.outstanding && this.tasks.length > 0 && this.cipherOut && (this.state === 'established' || this.state === 'deleting' || this.state === 'rekeyed')) {
      const task = this.tasks.shift()!;
      const built = task.build(ctx, this);
      if (built) this.sendRequest(ctx, built.exchange, built.payloads, true, task);
    }
  }

  hasTask(name: Task['name']): boolean {
    return this.tasks.some((t) => t.name === name) || this.outstanding?.task?.name === name;
  }

  /** Re-send the outstanding request as it is (e.g. after the float to 4500 it keeps its bytes). */
  resendOutstanding(ctx: EngineContext): void {
    if (this.outstanding) ctx.actions.push(...this.sendActions(this.outstanding.datagrams));
  }

  /** Answer the peer's request `messageId` and cache the answer for duplicates (RFC 7296 §2.1). */
  sendResponse(ctx: EngineContext, exchangeType: number, messageId: number, payloads: Payload[], protect: boolean): Uint8Array {
    const datagrams = this.encode(exchangeType, true, messageId, payloads, protect);
    this.lastResponse = { messageId, datagrams, natT: this.natT };
    this.expectedPeerRequestId = messageId + 1;
    ctx.actions.push(...this.sendActions(datagrams));
    return datagrams[0]!;
  }

  resendLastResponse(ctx: EngineContext): void {
    if (!this.lastResponse) return;
    ctx.actions.push(...this.sendActions(this.lastResponse.datagrams));
  }

  /**
   * The outstanding request's retransmission is due (timers.ts 'retransmit'): send identical
   * bytes again and set the next, backed-off time; false when the budget is spent and the SA
   * must go (RFC 7296 §2.1, §2.4).
   */
  retransmit(ctx: EngineContext): boolean {
    const o = this.outstanding;
    if (!o) return true;
    if (o.tries >= o.policy.tries) return false;
    o.tries++;
    o.nextAt = ctx.now + nextTimeout(o.policy, o.tries);
    ctx.log('debug', this.tunnel.name, `retransmit ${o.tries} of request ${o.messageId}`);
    ctx.actions.push(...this.sendActions(o.datagrams));
    return true;
  }

  addTimer(t: SaTimer): void {
    this.timers.push(t);
  }

  /** Remove and return the timers due at `now`. */
  dueTimers(now: number): SaTimer[] {
    const due = this.timers.filter((t) => t.at <= now);
    this.timers = this.timers.filter((t) => t.at > now);
    return due;
  }

  child(spiIn: number): ChildSa | undefined {
    return this.children.find((c) => c.info.spiIn === spiIn);
  }

  childByOut(spiOut: number): ChildSa | undefined {
    return this.children.find((c) => c.info.spiOut === spiOut);
  }

  /**
   * Forget the key material of an SA that goes, as far as JavaScript reaches (OpenSSL's and V8's
   * own copies are beyond it): SKEYSEED and SK_* (the SK ciphers only view SK_e/SK_a), the keys
   * of attached Child SAs, and the DH private value of an IKE_SA_INIT or rekey in flight.
   */
  wipe(): void {
    for (const k of Object.values(this.keys ?? {})) (k as Uint8Array).fill(0);
    this.keys = null;
    this.cipherIn = null;
    this.cipherOut = null;
    for (const c of this.children) for (const k of Object.values(c.keys)) (k as Uint8Array).fill(0);
    this.ke?.wipe();
    this.ke = null;
    this.outstanding?.task?.wipe?.();
    for (const t of this.tasks) t.wipe?.();
  }
}
