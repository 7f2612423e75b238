/**
 * IkeEngine: the sans-IO front door of the IKEv2 core. The daemon feeds it datagrams, ticks and
 * operator commands with an explicit clock, and performs the actions it returns (EngineApi,
 * engine-api.ts). It owns the tables: SAs by our SPI, tunnels, half-open SAs, drop counters. The
 * modules it delegates to see it only through a host interface: intake (receive-init.ts,
 * receive.ts) and reload (reconfigure.ts) through EngineHost (engine-host.ts), tasks through
 * EngineOps (sa.ts). The exchanges live in tasks/, deadlines in timers.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Action, Arrival, TunnelStatus } from './actions.js';
import type { LimitsConfig, TunnelConfig } from '../config/types.js';
import { decodeInbound } from './receive-decode.js';
import { ExchangeType, exchangeName } from './constants.js';
import type { EngineContext, EngineOps, IkeSa } from './sa.js';
import { hex } from './spi.js';
import { startInitiator } from './tasks/ike-init.js';
import { sendIkeDelete } from './tasks/ike-delete.js';
import { startChildRekey } from './tasks/child-rekey.js';
import { startIkeRekey } from './tasks/ike-rekey.js';
import { removeSa, saStatus, tunnelState } from './engine-state.js';
import { ENGINE_TIMERS, SA_TIMERS, TUNNEL_TIMERS, fireDue, nextDue, tickSa } from './timers.js';
import { onProtected } from './receive.js';
import { initRateGate, onInitRequest, onInitResponse } from './receive-init.js';
import { DEFAULT_LIMITS, InitGuard } from './init-guard.js';
import { newDropCounters, type DropReason } from './drops.js';
import { FloodLog } from './log-limiter.js';
import { HalfOpenTable } from './half-open.js';
import { logFlood, makeContext } from './engine-context.js';
import { scheduleReconnect } from './reconnect.js';
import type { EngineHost, TunnelEntry } from './engine-host.js';
import type { EngineApi, EngineOptions } from './engine-api.js';
import { RECONNECT_RETRANSMIT } from './retransmit.js';
import { reconfigure } from './reconfigure.js';

export class IkeEngine implements EngineApi, EngineHost {
  #tunnels = new Map<string, TunnelEntry>();
  /** Every live SA by our own SPI (hex). */
  readonly #sas = new Map<string, IkeSa>();
  /** Half-open responder SAs (half-open.ts); at most limits.halfOpen of them (init-guard.ts). */
  readonly halfOpen = new HalfOpenTable();
  /** Dropped datagrams by reason (drops.ts); every reason is present from the start. */
  readonly drops: Record<DropReason, number> = newDropCounters();
  /** Rate limits, cookies and half-open caps for IKE_SA_INIT (receive-init.ts applies them). */
  readonly guard: InitGuard;
  private readonly floods = new FloodLog();
  private readonly random: (n: number) => Uint8Array;
  readonly udpEncapsulationOnly: boolean;
  /** EngineOptions.exportKeys; may be switched at run time (applies to keys derived from then on). */
  exportKeys: boolean;
  private readonly ops: EngineOps = {
    removeIke: (ctx, sa, reason, reconnect) => this.remove(ctx, sa, reason, reconnect),
    register: (sa) => this.addSa(sa),
    setCurrent: (sa) => {
      const t = this.#tunnels.get(sa.tunnel.name);
      if (t) t.sa = sa;
    },
    current: (name) => this.#tunnels.get(name)?.sa ?? null,
  };
  /** What a tick does to a tunnel entry (timers.ts TUNNEL_TIMERS). */
  readonly #tunnelHost = { initiate: (ctx: EngineContext, t: TunnelEntry) => this.initiate(ctx, t) };

  constructor(opts: EngineOptions) {
    for (const t of opts.tunnels) this.#tunnels.set(t.name, { config: t, sa: null, wanted: true, reconnect: null, failures: 0 });
    this.random = opts.random ?? ((n) => new Uint8Array(randomBytes(n)));
    this.udpEncapsulationOnly = opts.udpEncapsulationOnly ?? false;
    this.exportKeys = opts.exportKeys ?? false;
    this.guard = new InitGuard(opts.limits ?? DEFAULT_LIMITS, this.random);
  }

  /** Config reload of `limits:` (the daemon calls this with the new config's limits). */
  setLimits(limits: LimitsConfig): void {
    this.guard.setLimits(limits);
  }

  /** Debug key export on or off (EngineOptions.exportKeys); applies to keys derived from then on. */
  setExportKeys(on: boolean): void {
    this.exportKeys = on;
  }

  /** Half-open responder IKE SAs right now (IKE_SA_INIT answered, IKE_AUTH not yet), for metrics. */
  get halfOpenCount(): number {
    return this.halfOpen.size;
  }

  /** Every live SA by our own SPI (hex), read-only: for inspection and tests. */
  get sas(): ReadonlyMap<string, IkeSa> {
    return this.#sas;
  }

  /** Every tunnel by name, read-only: for inspection and tests. */
  get tunnels(): ReadonlyMap<string, TunnelEntry> {
    return this.#tunnels;
  }

  // EngineHost (engine-host.ts): what intake and reload may do to the tables.
  drop(reason: DropReason): void {
    this.drops[reason]++;
  }

  tunnel(name: string): TunnelEntry | undefined {
    return this.#tunnels.get(name);
  }

  tunnelList(): TunnelEntry[] {
    return [...this.#tunnels.values()];
  }

  setTunnels(entries: TunnelEntry[]): void {
    this.#tunnels = new Map(entries.map((t) => [t.config.name, t]));
  }

  saList(): IkeSa[] {
    return [...this.#sas.values()];
  }

  addSa(sa: IkeSa): void {
    this.#sas.set(hex(sa.ourSpi), sa);
  }

  ctx(now: number): EngineContext {
    return makeContext(now, { random: this.random, udpEncapsulationOnly: this.udpEncapsulationOnly, exportKeys: this.exportKeys, ops: this.ops, floods: this.floods });
  }

  tunnelNames(): string[] {
    return [...this.#tunnels.keys()];
  }

  /** Initiate every tunnel with initiate: true. */
  start(now: number): Action[] {
    const ctx = this.ctx(now);
    for (const t of this.#tunnels.values()) if (t.config.initiate) this.initiate(ctx, t);
    return ctx.actions;
  }

  /**
   * Config reload: apply a new tunnel list (src/ike/reconfigure.ts). A tunnel whose config is
   * equal by value keeps everything; a changed one is deleted and started again with the new
   * config; a removed one is deleted and forgotten; an added one is started. Logs one
   * "reload: tunnel NAME …" line per tunnel, naming the changed keys (never their values).
   * Throws RangeError, changing nothing, when two tunnels share a name.
   */
  reconfigure(tunnels: TunnelConfig[], now: number): Action[] {
    const ctx = this.ctx(now);
    reconfigure(this, ctx, tunnels, (t) => this.initiate(ctx, t));
    return ctx.actions;
  }

  private initiate(ctx: EngineContext, t: TunnelEntry): void {
    const config = t.config;
    t.reconnect = null;
    if (!config.localAddress) {
      ctx.log('error', config.name, 'no local address known; set localAddress');
      return;
    }
    // RFC 7296 §2.4: INITIAL_CONTACT only when we hold no other IKE SA with this peer.
    const others = [...this.#sas.values()].some((s) => s.tunnel.name === config.name && !s.retired && (s.state === 'established' || s.state === 'rekeyed'));
    // Every initiation, the first one too, uses the short reconnect schedule: a CPE that boots
    // while its uplink or the endpoint is down must still come up within 10 s of it returning
    // (strongSwan's 165 s schedule would leave it silent for up to 42 s at a time).
    const sa = startInitiator(ctx, config, { address: config.localAddress }, { address: config.remoteAddress }, RECONNECT_RETRANSMIT);
    if (!sa) return;
    sa.initialContact = !others;
    this.addSa(sa);
    t.sa = sa;
  }

  up(name: string, now: number): Action[] {
    const ctx = this.ctx(now);
    const t = this.entry(name);
    t.wanted = true;
    if (t.sa?.state === 'deleting' && t.config.initiate && t.config.remoteAddress !== '%any') {
      // The Delete went out; waiting for its answer helps nobody. INITIAL_CONTACT in the new
      // IKE_AUTH clears the old SA on the peer if the Delete never reached it (RFC 7296 §2.4).
      ctx.log('info', name, 'the IKE SA is still being deleted; dropping it now and initiating again');
      this.remove(ctx, t.sa, 'closed by operator', false);
    }
    if (t.sa) ctx.log('info', name, `already ${tunnelState(t.sa)}`);
    else if (!t.config.initiate || t.config.remoteAddress === '%any') ctx.log('info', name, 'responder tunnel: waiting for the peer to initiate');
    else this.initiate(ctx, t);
    return ctx.actions;
  }

  down(name: string, now: number): Action[] {
    const ctx = this.ctx(now);
    const t = this.entry(name);
    t.wanted = false;
    t.reconnect = null;
    const sa = t.sa;
    if (!sa) return ctx.actions;
    if (sa.state === 'established') sendIkeDelete(ctx, sa, 'closed by operator', false);
    else if (sa.state !== 'deleting') this.remove(ctx, sa, 'closed by operator', false);
    return ctx.actions;
  }

  /** Operator rekey (`branchgate rekey NAME [--ike]`). */
  rekey(name: string, what: 'child' | 'ike', now: number): Action[] {
    const ctx = this.ctx(now);
    const sa = this.entry(name).sa;
    if (!sa || sa.state !== 'established') {
      ctx.log('warn', name, `cannot rekey: the tunnel is ${tunnelState(sa)}, not established`);
      return ctx.actions;
    }
    if (what === 'ike') {
      if (!startIkeRekey(ctx, sa, 'operator')) ctx.log('info', name, 'an IKE SA rekey is already running');
    } else {
      const kids = sa.children.filter((c) => c.state === 'installed' && c.active);
      if (kids.length === 0) ctx.log('info', name, 'no Child SA to rekey (a rekey may already be running)');
      for (const c of kids) if (!startChildRekey(ctx, sa, c, 'operator')) ctx.log('warn', name, 'the peer refused to rekey this Child SA (NO_ADDITIONAL_SAS); it is re-established at its hard lifetime');
    }
    return ctx.actions;
  }

  /** A Child SA reached its volume lifetime or its sequence numbers run out: rekey it once. */
  childVolumeExceeded(tunnel: string, spiIn: number, reason: 'bytes' | 'packets' | 'seq-exhausted', now: number): Action[] {
    const ctx = this.ctx(now);
    const sa = this.#tunnels.get(tunnel)?.sa;
    const child = sa?.child(spiIn);
    if (sa && child && child.state === 'installed' && child.active) startChildRekey(ctx, sa, child, `${reason} lifetime`);
    return ctx.actions;
  }

  /** Authenticated ESP arrived on the tunnel: the peer is alive (RFC 7296 §2.4). */
  noteInboundEsp(tunnel: string, now: number): void {
    const sa = this.#tunnels.get(tunnel)?.sa;
    if (sa && now > sa.lastInboundAt) sa.lastInboundAt = now;
  }

  private entry(name: string): TunnelEntry {
    const t = this.#tunnels.get(name);
    if (!t) throw new RangeError(`no tunnel named '${name}'`);
    return t;
  }

  /** Drop an SA; `reconnect`: an initiating tunnel that is wanted starts again with backoff. */
  remove(ctx: EngineContext, sa: IkeSa, reason: string, reconnect: boolean): void {
    removeSa(ctx, sa, reason);
    if (this.#sas.get(hex(sa.ourSpi)) === sa) this.#sas.delete(hex(sa.ourSpi));
    this.halfOpen.forget(sa);
    const t = this.#tunnels.get(sa.tunnel.name);
    if (!t || t.sa !== sa) return;
    t.sa = null;
    if (reconnect) scheduleReconnect(ctx, t, reason);
  }

  /** The tunnel came up: reset its reconnect backoff. */
  connected(name: string): void {
    const t = this.#tunnels.get(name);
    if (t) t.failures = 0;
  }

  onDatagram(bytes: Uint8Array, arrival: Arrival, now: number): Action[] {
    const ctx = this.ctx(now);
    const rate = initRateGate(this, ctx, bytes, arrival);
    if (rate === 'drop') return ctx.actions;
    const msg = decodeInbound(ctx, this, bytes, arrival);
    if (!msg) return ctx.actions;
    const h = msg.header;
    if (h.exchangeType === ExchangeType.IKE_SA_INIT && !h.response) {
      onInitRequest(this, ctx, msg, bytes, arrival, rate === 'over');
      return ctx.actions;
    }
    const sa = this.#sas.get(hex(h.initiator ? h.spiR : h.spiI));
    if (!sa || sa.initiator === h.initiator) {
      this.drop('no-sa');
      logFlood(ctx, 'no-sa', 'debug', undefined, `dropped ${exchangeName(h.exchangeType)} for unknown IKE SA from ${arrival.from.address}`);
      return ctx.actions;
    }
    if (h.exchangeType === ExchangeType.IKE_SA_INIT) {
      onInitResponse(this, ctx, sa, msg, bytes, arrival);
      return ctx.actions;
    }
    onProtected(this, ctx, sa, msg, bytes, arrival);
    return ctx.actions;
  }

  onTick(now: number): Action[] {
    const ctx = this.ctx(now);
    fireDue(ENGINE_TIMERS, ctx, undefined, this.floods);
    // Housekeeping, not a deadline: idle sources leave the IKE_SA_INIT rate table.
    this.guard.rate.expire(now);
    for (const sa of [...this.#sas.values()]) {
      if (this.#sas.get(hex(sa.ourSpi)) !== sa) continue;
      tickSa(ctx, this.ops, sa);
    }
    for (const t of this.#tunnels.values()) fireDue(TUNNEL_TIMERS, ctx, this.#tunnelHost, t);
    return ctx.actions;
  }

  /** The earliest deadline of any named timer (timers.ts), or null: the daemon sleeps until then. */
  nextWakeup(): number | null {
    const env = { udpEncapsulationOnly: this.udpEncapsulationOnly };
    const times = [nextDue(ENGINE_TIMERS, this.floods, env)];
    for (const sa of this.#sas.values()) times.push(nextDue(SA_TIMERS, sa, env));
    for (const t of this.#tunnels.values()) times.push(nextDue(TUNNEL_TIMERS, t, env));
    let min: number | null = null;
    for (const w of times) if (w !== null && (min === null || w < min)) min = w;
    return min;
  }

  status(_now: number): TunnelStatus[] {
    return [...this.#tunnels.values()].map((t) => saStatus(t.config, t.sa));
  }
}
