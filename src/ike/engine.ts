/**
 * IkeEngine: the sans-IO front door of the IKEv2 core (architecture rule 1). The daemon feeds
 * it datagrams, ticks and operator commands with an explicit clock, and performs the actions it
 * returns. It owns SA lookup by SPI and the per-tunnel view; the exchanges live in tasks/.
 */
import { randomBytes } from 'node:crypto';
import type { Action, Arrival, TunnelStatus } from './actions.js';
import type { TunnelConfig } from '../config/types.js';
import type { IkeMessage, Payload } from './codec/types.js';
import { decodeMessage, openMessage } from './codec/message.js';
import { BadVersionError } from './codec/header.js';
import { criticalUnknown, invalidPayload } from './payload-checks.js';
import { ExchangeType, NotifyType, exchangeName } from './constants.js';
import { HALF_OPEN_TIMEOUT_MS, IkeSa, hex, type EngineContext } from './sa.js';
import { processInitRequest, processInitResponse, startInitiator } from './tasks/ike-init.js';
import { processAuthRequest, processAuthResponse, sendAuthRequest } from './tasks/ike-auth.js';
import { answerRequest, sendIkeDelete } from './tasks/informational.js';
import { notify, sendStatelessResponse } from './tasks/notify.js';
import { removeSa, saStatus, tunnelState, establish } from './engine-state.js';

export interface EngineOptions {
  tunnels: TunnelConfig[];
  /** Randomness for SPIs and nonces; tests inject a seeded source. */
  random?: (n: number) => Uint8Array;
  /**
   * The datapath has no raw ESP (protocol 50) path, only ESP-in-UDP: fake NAT detection so every
   * peer encapsulates, as strongSwan's kernel-libipsec does. The daemon sets this.
   */
  udpEncapsulationOnly?: boolean;
}

/** Counters of what the engine dropped, by reason (hostile input is counted, never fatal). */
export type DropReason = 'malformed' | 'no-sa' | 'integrity' | 'unexpected' | 'critical-payload' | 'no-tunnel';

export class IkeEngine {
  readonly tunnels = new Map<string, { config: TunnelConfig; sa: IkeSa | null }>();
  /** Every live SA by our own SPI (hex). */
  readonly sas = new Map<string, IkeSa>();
  /** Half-open responder SAs by the initiator's SPI and address, to spot retransmitted IKE_SA_INITs. */
  private readonly halfOpen = new Map<string, IkeSa>();
  readonly drops: Record<DropReason, number> = { malformed: 0, 'no-sa': 0, integrity: 0, unexpected: 0, 'critical-payload': 0, 'no-tunnel': 0 };
  private readonly random: (n: number) => Uint8Array;
  private readonly udpEncapsulationOnly: boolean;

  constructor(opts: EngineOptions) {
    for (const t of opts.tunnels) this.tunnels.set(t.name, { config: t, sa: null });
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.udpEncapsulationOnly = opts.udpEncapsulationOnly ?? false;
  }

  private ctx(now: number): EngineContext {
    const actions: Action[] = [];
    return {
      now,
      actions,
      random: this.random,
      udpEncapsulationOnly: this.udpEncapsulationOnly,
      log: (level, tunnel, msg, fields) => actions.push({ kind: 'log', level, msg, ...(tunnel ? { tunnel } : {}), ...(fields ? { fields } : {}) }),
    };
  }

  tunnelNames(): string[] {
    return [...this.tunnels.keys()];
  }

  /** Initiate every tunnel with initiate: true. */
  start(now: number): Action[] {
    const ctx = this.ctx(now);
    for (const t of this.tunnels.values()) if (t.config.initiate) this.initiate(ctx, t.config);
    return ctx.actions;
  }

  private initiate(ctx: EngineContext, config: TunnelConfig): void {
    if (!config.localAddress) {
      ctx.log('error', config.name, 'no local address known; set localAddress');
      return;
    }
    const sa = startInitiator(ctx, config, { address: config.localAddress }, { address: config.remoteAddress });
    if (!sa) return;
    this.sas.set(hex(sa.spiI), sa);
    this.tunnels.get(config.name)!.sa = sa;
  }

  up(name: string, now: number): Action[] {
    const ctx = this.ctx(now);
    const t = this.tunnels.get(name);
    if (!t) throw new RangeError(`no tunnel named '${name}'`);
    if (t.sa) ctx.log('info', name, `already ${tunnelState(t.sa)}`);
    else if (!t.config.initiate || t.config.remoteAddress === '%any') ctx.log('info', name, 'responder tunnel: waiting for the peer to initiate');
    else this.initiate(ctx, t.config);
    return ctx.actions;
  }

  down(name: string, now: number): Action[] {
    const ctx = this.ctx(now);
    const t = this.tunnels.get(name);
    if (!t) throw new RangeError(`no tunnel named '${name}'`);
    const sa = t.sa;
    if (!sa) return ctx.actions;
    if (sa.state === 'established') sendIkeDelete(ctx, sa);
    else if (sa.state !== 'deleting') this.remove(ctx, sa, 'closed by operator');
    return ctx.actions;
  }

  private remove(ctx: EngineContext, sa: IkeSa, reason: string): void {
    removeSa(ctx, sa, reason);
    if (this.sas.get(hex(sa.ourSpi)) === sa) this.sas.delete(hex(sa.ourSpi));
    for (const [k, v] of this.halfOpen) if (v === sa) this.halfOpen.delete(k);
    const t = this.tunnels.get(sa.tunnel.name);
    if (t && t.sa === sa) t.sa = null;
  }

  onDatagram(bytes: Uint8Array, arrival: Arrival, now: number): Action[] {
    const ctx = this.ctx(now);
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.drops.malformed++;
      const e = decoded.error;
      if (e instanceof BadVersionError && !e.header.response && e.header.exchangeType === ExchangeType.IKE_SA_INIT) {
        // RFC 7296 §2.5: tell the peer the highest major version we speak.
        sendStatelessResponse(ctx, e.header, arrival, [notify(NotifyType.INVALID_MAJOR_VERSION)]);
      }
      ctx.log('debug', undefined, `dropped malformed IKE message from ${arrival.from.address}: ${decoded.error.message}`);
      return ctx.actions;
    }
    const msg = decoded.value;
    const h = msg.header;
    const bad = invalidPayload(msg.payloads);
    if (bad) {
      this.drops.malformed++;
      ctx.log('debug', undefined, `dropped ${exchangeName(h.exchangeType)} from ${arrival.from.address}: ${bad}`);
      return ctx.actions;
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !h.response) {
      this.onInitRequest(ctx, msg, bytes, arrival);
      return ctx.actions;
    }
    const sa = this.sas.get(hex(h.initiator ? h.spiR : h.spiI));
    if (!sa || sa.initiator === h.initiator) {
      this.drops['no-sa']++;
      ctx.log('debug', undefined, `dropped ${exchangeName(h.exchangeType)} for unknown IKE SA from ${arrival.from.address}`);
      return ctx.actions;
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
      this.onInitResponse(ctx, sa, msg, bytes, arrival);
      return ctx.actions;
    }
    this.onProtected(ctx, sa, msg, bytes, arrival);
    return ctx.actions;
  }

  private onInitRequest(ctx: EngineContext, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
    const key = `${hex(msg.header.spiI)}|${arrival.from.address}:${arrival.from.port}`;
    const known = this.halfOpen.get(key);
    if (known) {
      // RFC 7296 §2.1: a retransmitted request gets the cached response, not a new SA.
      if (Buffer.compare(Buffer.from(known.initRequest), Buffer.from(bytes)) === 0) known.resendLastResponse(ctx);
      else this.drops.unexpected++;
      return;
    }
    const critical = criticalUnknown(msg.payloads);
    if (critical !== null) {
      this.drops['critical-payload']++;
      ctx.log('warn', undefined, `IKE_SA_INIT from ${arrival.from.address} has unsupported critical payload ${critical}; answering UNSUPPORTED_CRITICAL_PAYLOAD`);
      sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(critical))]);
      return;
    }
    const candidates = [...this.tunnels.values()]
      .map((t) => t.config)
      .filter((c) => (!c.localAddress || c.localAddress === arrival.to.address) && (c.remoteAddress === '%any' || c.remoteAddress === arrival.from.address));
    if (candidates.length === 0) {
      this.drops['no-tunnel']++;
      ctx.log('warn', undefined, `IKE_SA_INIT from ${arrival.from.address} to ${arrival.to.address} matches no tunnel; ignoring it`);
      return;
    }
    const sa = processInitRequest(ctx, candidates, msg, bytes, arrival);
    if (!sa) return;
    this.sas.set(hex(sa.spiR), sa);
    this.halfOpen.set(key, sa);
  }

  private onInitResponse(ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
    if (sa.state !== 'init-sent' || !msg.header.response || msg.header.messageId !== 0) {
      this.drops.unexpected++;
      return;
    }
    if (criticalUnknown(msg.payloads) !== null) {
      this.drops['critical-payload']++;
      ctx.log('error', sa.tunnel.name, 'IKE_SA_INIT response carries an unsupported critical payload; aborting (RFC 7296 §2.5)');
      this.remove(ctx, sa, 'unsupported critical payload');
      return;
    }
    const outcome = processInitResponse(ctx, sa, msg, bytes, arrival);
    if (outcome === 'failed') this.remove(ctx, sa, 'IKE_SA_INIT failed');
    else if (outcome === 'established-init') sendAuthRequest(ctx, sa);
  }

  private onProtected(ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
    const h = msg.header;
    if (!sa.cipherIn) {
      this.drops.unexpected++;
      return;
    }
    if (!h.response && h.messageId !== sa.expectedPeerRequestId) {
      // RFC 7296 §2.2: a retransmission of the last request gets the cached response; anything else is dropped.
      if (sa.lastResponse && h.messageId === sa.lastResponse.messageId) sa.resendLastResponse(ctx);
      else this.drops.unexpected++;
      return;
    }
    if (h.response && (!sa.outstanding || h.messageId !== sa.outstanding.messageId)) {
      this.drops.unexpected++;
      return;
    }
    const opened = openMessage(bytes, msg, sa.cipherIn);
    if (!opened.ok) {
      this.drops[opened.error === 'integrity' ? 'integrity' : 'malformed']++;
      ctx.log('debug', sa.tunnel.name, `dropped ${exchangeName(h.exchangeType)}: ${opened.error === 'integrity' ? 'integrity check failed' : 'malformed inner payloads'}`);
      return;
    }
    const inner = opened.value;
    const bad = invalidPayload(inner);
    if (bad) {
      // RFC 7296 §2.21.2: a protected request that does not parse is answered INVALID_SYNTAX.
      this.drops.malformed++;
      ctx.log('warn', sa.tunnel.name, `malformed ${exchangeName(h.exchangeType)} from ${arrival.from.address}: ${bad}`);
      if (!h.response) sa.sendResponse(ctx, h.exchangeType, h.messageId, [notify(NotifyType.INVALID_SYNTAX)], true);
      return;
    }
    // Only authenticated messages move the SA's addresses (RFC 7296 §2.23); a responder
    // follows the initiator's float to port 4500 here.
    sa.remote = { ...arrival.from };
    sa.local = { ...arrival.to };
    if (arrival.natT) sa.natT = true;
    const critical = criticalUnknown(inner);
    if (critical !== null) {
      this.drops['critical-payload']++;
      if (!h.response) sa.sendResponse(ctx, h.exchangeType, h.messageId, [notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(critical))], true);
      ctx.log('warn', sa.tunnel.name, `${exchangeName(h.exchangeType)} carries unsupported critical payload ${critical}; rejected`);
      return;
    }
    if (h.response) this.onResponse(ctx, sa, h.exchangeType, inner);
    else this.onRequest(ctx, sa, h.exchangeType, h.messageId, inner);
  }

  private onResponse(ctx: EngineContext, sa: IkeSa, exchangeType: number, inner: Payload[]): void {
    sa.outstanding = null;
    if (exchangeType === ExchangeType.IKE_AUTH && sa.state === 'auth-sent') {
      const r = processAuthResponse(ctx, sa, inner);
      if (!r.ok) return this.remove(ctx, sa, 'authentication failed');
      this.adopt(ctx, sa);
      establish(ctx, sa, r.child);
      if (!r.child) sendIkeDelete(ctx, sa);
      return;
    }
    if (sa.state === 'deleting') this.remove(ctx, sa, 'deleted');
  }

  private onRequest(ctx: EngineContext, sa: IkeSa, exchangeType: number, messageId: number, inner: Payload[]): void {
    if (exchangeType === ExchangeType.IKE_AUTH && sa.state === 'half-open') {
      const r = processAuthRequest(ctx, sa, messageId, inner);
      if (!r.ok) return this.remove(ctx, sa, 'authentication failed');
      for (const [k, v] of this.halfOpen) if (v === sa) this.halfOpen.delete(k);
      this.adopt(ctx, sa);
      establish(ctx, sa, r.child);
      return;
    }
    if (sa.state !== 'established' && sa.state !== 'deleting') {
      this.drops.unexpected++;
      return;
    }
    const out = answerRequest(ctx, sa, exchangeType, messageId, inner);
    for (const c of out.removedChildren) {
      ctx.actions.push({ kind: 'remove-child', tunnel: sa.tunnel.name, spiIn: c.info.spiIn, spiOut: c.info.spiOut });
      ctx.log('info', sa.tunnel.name, 'peer deleted Child SA', { spiIn: c.info.spiIn.toString(16).padStart(8, '0') });
    }
    if (out.closeIke) this.remove(ctx, sa, 'deleted by peer');
  }

  /** Make `sa` the tunnel's current SA, replacing an older one (a restarted peer, RFC 7296 §2.4). */
  private adopt(ctx: EngineContext, sa: IkeSa): void {
    const t = this.tunnels.get(sa.tunnel.name);
    if (!t) return;
    if (t.sa && t.sa !== sa) {
      ctx.log('info', sa.tunnel.name, 'a new IKE SA replaces the previous one');
      this.remove(ctx, t.sa, 'replaced by a new IKE SA');
    }
    t.sa = sa;
  }

  onTick(now: number): Action[] {
    const ctx = this.ctx(now);
    for (const sa of [...this.sas.values()]) {
      if (!sa.retransmitIfDue(ctx)) {
        ctx.log('error', sa.tunnel.name, `peer ${sa.remote.address} did not answer ${exchangeName(sa.outstanding!.exchange)} after retransmits; IKE SA deleted`);
        this.remove(ctx, sa, 'peer not responding');
      } else if (sa.state === 'half-open' && now >= sa.createdAt + HALF_OPEN_TIMEOUT_MS) {
        this.remove(ctx, sa, 'half-open SA expired');
      }
    }
    return ctx.actions;
  }

  nextWakeup(): number | null {
    let min: number | null = null;
    for (const sa of this.sas.values()) {
      const w = sa.nextWakeup();
      if (w !== null && (min === null || w < min)) min = w;
    }
    return min;
  }

  status(_now: number): TunnelStatus[] {
    return [...this.tunnels.values()].map((t) => saStatus(t.config, t.sa));
  }
}
