/**
 * Named timers: every deadline of the engine, each defined once as a `due` function (when it is
 * due, or null when it is not armed) and a `fire` function (what happens then), in a table per
 * subject, in the order a tick runs them. IkeEngine.nextWakeup is the minimum of `due` over the
 * tables; IkeEngine.onTick fires, in table order, every timer whose `due` has passed, reading
 * `due` again just before firing, since an earlier timer may have disarmed or moved it. A `fire`
 * that returns 'stop' ends the subject's turn (its SA is gone).
 *
 * The deadlines live in the state they describe (retransmission in the outstanding request,
 * lifetimes in the SAs, one-shot timers in IkeSa.timers); this table only reads them, so no
 * deadline is kept twice. docs/architecture-engine.md "Timers" lists them with their RFC sections.
 */
import type { EngineContext, EngineOps, IkeSa } from './sa.js';
import type { SaTimer } from './sa-types.js';
import type { TunnelEntry } from './engine-host.js';
import type { FloodLog } from './log-limiter.js';
import { activateReplacement, dropChild } from './child-sa.js';
import { spiHex } from './spi.js';
import { startChildRekey } from './tasks/child-rekey.js';
import { startChildCreate } from './tasks/child-create.js';
import { queueChildDelete } from './tasks/child-delete.js';
import { startIkeRekey } from './tasks/ike-rekey.js';
import { IkeDeleteTask } from './tasks/ike-delete.js';
import { dpdDueAt, dpdTask } from './tasks/dpd.js';
import { ExchangeType, exchangeName } from './constants.js';

/** A half-open responder SA that never completes is dropped after this long. */
export const HALF_OPEN_TIMEOUT_MS = 30_000;
/** A replaced SA whose Delete never came leaves the datapath this long after the switch. */
export const LINGER_MS = 30_000;
/** RFC 3948 §2.3 / strongSwan charon.keep_alive: one NAT keepalive every 20 s. */
export const KEEPALIVE_INTERVAL_MS = 20_000;

/** What every `due` may read besides its subject. */
export interface TimerEnv {
  udpEncapsulationOnly: boolean;
}

export interface NamedTimer<S, H> {
  readonly name: string;
  due(subject: S, env: TimerEnv): number | null;
  fire(ctx: EngineContext, host: H, subject: S): 'stop' | void;
}

/** The earliest `due` in `table` for `subject`, or null. */
export function nextDue<S, H>(table: readonly NamedTimer<S, H>[], subject: S, env: TimerEnv): number | null {
  let min: number | null = null;
  for (const t of table) {
    const at = t.due(subject, env);
    if (at !== null && (min === null || at < min)) min = at;
  }
  return min;
}

/** Fire the due timers of `subject` in table order; false when one said 'stop'. */
export function fireDue<S, H>(table: readonly NamedTimer<S, H>[], ctx: EngineContext, host: H, subject: S): boolean {
  for (const t of table) {
    const at = t.due(subject, ctx);
    if (at !== null && ctx.now >= at && t.fire(ctx, host, subject) === 'stop') return false;
  }
  return true;
}

/** Whether this SA sends NAT keepalives: a NAT in front of us, natT: force, or UDP-only ESP. */
export function needsKeepalive(sa: IkeSa, udpEncapsulationOnly: boolean): boolean {
  return sa.state === 'established' && sa.natT && (sa.selfBehindNat || sa.tunnel.natT === 'force' || udpEncapsulationOnly);
}

/** Child SA deadlines, per Child SA (one table entry each covers all of an SA's children). */
function childExpireAt(sa: IkeSa, c: IkeSa['children'][number]): number | null {
  return c.state === 'rekeyed' || c.state === 'deleting' ? null : c.expireAt;
}
function childRekeyAt(c: IkeSa['children'][number]): number | null {
  return c.state === 'installed' && c.active && !c.noRekey ? c.rekeyAt : null;
}
function minOf(times: (number | null)[]): number | null {
  let min: number | null = null;
  for (const t of times) if (t !== null && (min === null || t < min)) min = t;
  return min;
}
const established = (sa: IkeSa): boolean => sa.state === 'established';

/**
 * An initiating tunnel whose IKE SA lost its last Child SA (deleted by the peer, lost in a
 * rekey-delete collision) gets a new one: GSA never initiates, so nobody else would.
 */
function childCreateDueAt(sa: IkeSa): number | null {
  if (!sa.tunnel.initiate || sa.state !== 'established' || sa.children.length > 0 || sa.hasTask('child-create')) return null;
  return sa.childCreateAfter;
}

/**
 * A hard lifetime ran out: the SA must not be used any longer, so it goes now. The peer gets a
 * Delete when the window is free (fire and forget), and an initiating tunnel reconnects.
 */
function expireNow(ctx: EngineContext, ops: EngineOps, sa: IkeSa, reason: string): 'stop' {
  if (!sa.outstanding) sa.sendRequest(ctx, ExchangeType.INFORMATIONAL, new IkeDeleteTask(reason, true).build().payloads, true);
  ops.removeIke(ctx, sa, reason, true);
  return 'stop';
}

/** The one-shot timers exchanges set (sa-types.ts SaTimer), by kind. */
const ONE_SHOT: { [K in SaTimer['kind']]: (ctx: EngineContext, ops: EngineOps, sa: IkeSa, t: Extract<SaTimer, { kind: K }>) => 'stop' | void } = {
  // Make-before-break: the old inbound SA's grace period (REKEY_GRACE_MS) or linger ended.
  'remove-child': (ctx, _ops, sa, t) => {
    const c = sa.child(t.spiIn);
    if (c) dropChild(ctx, sa, c, 'rekeyed');
  },
  // Rekey responder: the initiator's Delete of the old SA never came (ACTIVATE_FALLBACK_MS).
  'activate-child': (ctx, _ops, sa, t) => {
    const fresh = sa.child(t.spiIn);
    if (!fresh || fresh.active) return;
    const old = sa.children.find((c) => c.replacedBy === t.spiIn);
    ctx.log('warn', sa.tunnel.name, 'the peer never deleted the Child SA it rekeyed; switching to the new one anyway', { spiIn: spiHex(t.spiIn) });
    activateReplacement(ctx, sa, old, fresh);
    if (old) {
      old.awaitingPeerDelete = true;
      sa.addTimer({ kind: 'remove-child', at: ctx.now + LINGER_MS, spiIn: old.info.spiIn });
    }
  },
  // §2.25 TEMPORARY_FAILURE or a failed rekey: try again after retryDelay.
  'retry-child-rekey': (ctx, _ops, sa, t) => {
    const c = sa.child(t.spiIn);
    if (c) startChildRekey(ctx, sa, c, 'retry');
  },
  'retry-ike-rekey': (ctx, _ops, sa) => {
    startIkeRekey(ctx, sa, 'retry');
  },
  // §2.8: a rekeyed IKE SA whose Delete never came goes by itself.
  'rekeyed-expire': (ctx, ops, sa) => {
    if (sa.state === 'rekeyed') {
      ops.removeIke(ctx, sa, 'replaced; the peer never deleted it', false);
      return 'stop';
    }
  },
};

function fireOneShot(ctx: EngineContext, ops: EngineOps, sa: IkeSa, t: SaTimer): 'stop' | void {
  return (ONE_SHOT[t.kind] as (ctx: EngineContext, ops: EngineOps, sa: IkeSa, t: SaTimer) => 'stop' | void)(ctx, ops, sa, t);
}

/** The timers of one IKE SA, in the order a tick fires them. */
export const SA_TIMERS: readonly NamedTimer<IkeSa, EngineOps>[] = [
  {
    // A responder SA that never got a valid IKE_AUTH (RFC 7296 §2.6 keeps half-open state bounded).
    name: 'half-open-expire',
    due: (sa) => (sa.state === 'half-open' ? sa.createdAt + HALF_OPEN_TIMEOUT_MS : null),
    fire: (ctx, ops, sa) => {
      ops.removeIke(ctx, sa, 'half-open SA expired', false);
      return 'stop';
    },
  },
  {
    // RFC 7296 §2.1, §2.4: retransmit identical bytes with backoff; when the budget is spent the
    // peer is dead (DPD) or not responding and the SA goes.
    name: 'retransmit',
    due: (sa) => sa.outstanding?.nextAt ?? null,
    fire: (ctx, ops, sa) => {
      if (sa.retransmit(ctx)) return;
      const name = sa.tunnel.name;
      const o = sa.outstanding!;
      const task = o.task;
      if (sa.state === 'rekeyed') {
        ops.removeIke(ctx, sa, 'replaced', false);
        return 'stop';
      }
      if (sa.state === 'established' && sa.tunnel.dpd > 0) {
        const silentMs = ctx.now - sa.lastInboundAt;
        ctx.actions.push({ kind: 'event', event: { type: 'dpd-dead', tunnel: name, silentMs } });
        ctx.log('warn', name, `peer ${sa.remote.address} is dead: nothing authenticated for ${silentMs} ms and ${exchangeName(o.exchange)} unanswered after retransmits (RFC 7296 §2.4)`);
        ops.removeIke(ctx, sa, 'peer dead (DPD)', true);
        return 'stop';
      }
      ctx.log('error', name, `peer ${sa.remote.address} did not answer ${exchangeName(o.exchange)} after retransmits; IKE SA deleted`);
      const reconnect = task && 'reconnect' in task ? Boolean((task as { reconnect: boolean }).reconnect) : true;
      ops.removeIke(ctx, sa, 'peer not responding', reconnect);
      return 'stop';
    },
  },
  {
    name: 'one-shot',
    due: (sa) => minOf(sa.timers.map((t) => t.at)),
    fire: (ctx, ops, sa) => {
      for (const t of sa.dueTimers(ctx.now)) if (fireOneShot(ctx, ops, sa, t) === 'stop') return 'stop';
    },
  },
  {
    name: 'ike-hard-expire',
    due: (sa) => (established(sa) && sa.expireAt ? sa.expireAt : null),
    fire: (ctx, ops, sa) => {
      ctx.log('warn', sa.tunnel.name, 'IKE SA reached its hard lifetime without a successful rekey; deleting it and re-establishing');
      return expireNow(ctx, ops, sa, 'IKE SA hard lifetime');
    },
  },
  {
    // RFC 7296 §2.8: rekey before the hard lifetime (lifetime.ts jitters the soft one).
    name: 'ike-rekey',
    due: (sa) => (established(sa) && sa.rekeyAt && !sa.rekeying ? sa.rekeyAt : null),
    fire: (ctx, _ops, sa) => {
      sa.rekeyAt = 0;
      startIkeRekey(ctx, sa, 'lifetime');
    },
  },
  {
    name: 'child-hard-expire',
    due: (sa) => (established(sa) ? minOf(sa.children.map((c) => childExpireAt(sa, c))) : null),
    fire: (ctx, ops, sa) => {
      const name = sa.tunnel.name;
      for (const c of [...sa.children]) {
        const at = childExpireAt(sa, c);
        if (at === null || ctx.now < at) continue;
        if (sa.tunnel.initiate) {
          ctx.log('warn', name, `Child SA reached its hard lifetime${c.noRekey ? ' (the peer refused to rekey it: NO_ADDITIONAL_SAS)' : ' without a successful rekey'}; deleting it and re-establishing the IKE SA`, { spiIn: spiHex(c.info.spiIn) });
          return expireNow(ctx, ops, sa, 'Child SA hard lifetime');
        }
        ctx.log('warn', name, 'Child SA reached its hard lifetime; deleting it', { spiIn: spiHex(c.info.spiIn) });
        dropChild(ctx, sa, c, 'hard lifetime');
        queueChildDelete(ctx, sa, [c.info.spiIn]);
      }
    },
  },
  {
    name: 'child-rekey',
    due: (sa) => (established(sa) ? minOf(sa.children.map(childRekeyAt)) : null),
    fire: (ctx, _ops, sa) => {
      for (const c of [...sa.children]) {
        const at = childRekeyAt(c);
        if (at !== null && ctx.now >= at) startChildRekey(ctx, sa, c, 'lifetime');
      }
    },
  },
  {
    name: 'child-create',
    due: childCreateDueAt,
    fire: (ctx, _ops, sa) => {
      ctx.log('info', sa.tunnel.name, 'the IKE SA has no Child SA left; creating one (CREATE_CHILD_SA)');
      startChildCreate(ctx, sa);
    },
  },
  {
    // RFC 7296 §2.4: a liveness check after `dpd` seconds without anything authenticated.
    name: 'dpd',
    due: dpdDueAt,
    fire: (ctx, _ops, sa) => sa.queue(ctx, dpdTask()),
  },
  {
    // RFC 3948 §2.3: keep the NAT mapping open.
    name: 'nat-keepalive',
    due: (sa, env) => (needsKeepalive(sa, env.udpEncapsulationOnly) ? sa.nextKeepaliveAt : null),
    fire: (ctx, _ops, sa) => {
      sa.nextKeepaliveAt = ctx.now + KEEPALIVE_INTERVAL_MS;
      ctx.actions.push({ kind: 'keepalive', from: { address: sa.local.address, port: 4500 }, to: { ...sa.remote } });
    },
  },
];

/** Tick one IKE SA: fire its due timers, then send the next queued job if the window is free. */
export function tickSa(ctx: EngineContext, ops: EngineOps, sa: IkeSa): void {
  if (fireDue(SA_TIMERS, ctx, ops, sa)) sa.kick(ctx);
}

/** The timers of one tunnel (the engine's entry for it). */
export const TUNNEL_TIMERS: readonly NamedTimer<TunnelEntry, { initiate(ctx: EngineContext, t: TunnelEntry): void }>[] = [
  {
    // reconnect.ts: the next attempt of a wanted, initiating tunnel without an IKE SA.
    name: 'reconnect',
    due: (t) => (t.reconnect && t.wanted && !t.sa ? t.reconnect.at : null),
    fire: (ctx, host, t) => host.initiate(ctx, t),
  },
];

/** Engine-wide timers. */
export const ENGINE_TIMERS: readonly NamedTimer<FloodLog, void>[] = [
  {
    // log-limiter.ts: a window with suppressed lines ended; write its summary line.
    name: 'flood-log-summary',
    due: (floods) => floods.nextFlush(),
    fire: (ctx, _host, floods) => {
      for (const s of floods.flush(ctx.now)) ctx.log(s.level, undefined, s.msg);
    },
  },
];
