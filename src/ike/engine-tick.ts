/**
 * Time-driven work on one IKE SA (architecture rule 5: timers name an SA and an SPI, and the SA
 * is looked up again when they fire): retransmits and the dead-peer verdict, lifetimes (soft →
 * rekey, hard → delete), liveness checks, NAT keepalives, and the per-SA timers of rekeys.
 */
import { dropChild } from './child-sa.js';
import { spiHex, type EngineContext, type EngineOps, type IkeSa } from './sa.js';
import { startChildCreate, startChildRekey } from './tasks/child-rekey.js';
import { activateReplacement } from './tasks/child-rekey-responder.js';
import { queueChildDelete } from './tasks/child-delete.js';
import { startIkeRekey } from './tasks/ike-rekey.js';
import { IkeDeleteTask } from './tasks/ike-delete.js';
import { dpdDueAt, dpdTask } from './tasks/dpd.js';
import { ExchangeType, exchangeName } from './constants.js';

/** A replaced SA whose Delete never came leaves the datapath this long after the switch. */
export const LINGER_MS = 30_000;

/** RFC 3948 §2.3 / strongSwan charon.keep_alive: one NAT keepalive every 20 s. */
export const KEEPALIVE_INTERVAL_MS = 20_000;

/** Whether this SA sends NAT keepalives: a NAT in front of us, natT: force, or UDP-only ESP. */
export function needsKeepalive(sa: IkeSa, udpEncapsulationOnly: boolean): boolean {
  return sa.state === 'established' && sa.natT && (sa.selfBehindNat || sa.tunnel.natT === 'force' || udpEncapsulationOnly);
}

export function tickSa(ctx: EngineContext, ops: EngineOps, sa: IkeSa): void {
  const name = sa.tunnel.name;
  if (!sa.retransmitIfDue(ctx)) {
    const o = sa.outstanding!;
    const task = o.task;
    if (sa.state === 'rekeyed') return ops.removeIke(ctx, sa, 'replaced', false);
    if (sa.state === 'established' && sa.tunnel.dpd > 0) {
      const silentMs = ctx.now - sa.lastInboundAt;
      ctx.actions.push({ kind: 'event', event: { type: 'dpd-dead', tunnel: name, silentMs } });
      ctx.log('warn', name, `peer ${sa.remote.address} is dead: nothing authenticated for ${silentMs} ms and ${exchangeName(o.exchange)} unanswered after retransmits (RFC 7296 §2.4)`);
      return ops.removeIke(ctx, sa, 'peer dead (DPD)', true);
    }
    ctx.log('error', name, `peer ${sa.remote.address} did not answer ${exchangeName(o.exchange)} after retransmits; IKE SA deleted`);
    const reconnect = task && 'reconnect' in task ? Boolean((task as { reconnect: boolean }).reconnect) : true;
    return ops.removeIke(ctx, sa, 'peer not responding', reconnect);
  }
  for (const t of sa.dueTimers(ctx.now)) {
    switch (t.kind) {
      case 'remove-child': {
        const c = sa.child(t.spiIn);
        if (c) dropChild(ctx, sa, c, 'rekeyed');
        break;
      }
      case 'activate-child': {
        const fresh = sa.child(t.spiIn);
        if (fresh && !fresh.active) {
          const old = sa.children.find((c) => c.replacedBy === t.spiIn);
          ctx.log('warn', name, 'the peer never deleted the Child SA it rekeyed; switching to the new one anyway', { spiIn: spiHex(t.spiIn) });
          activateReplacement(ctx, sa, old, fresh);
          if (old) {
            old.awaitingPeerDelete = true;
            sa.addTimer({ kind: 'remove-child', at: ctx.now + LINGER_MS, spiIn: old.info.spiIn });
          }
        }
        break;
      }
      case 'retry-child-rekey': {
        const c = sa.child(t.spiIn);
        if (c) startChildRekey(ctx, sa, c, 'retry');
        break;
      }
      case 'retry-ike-rekey':
        startIkeRekey(ctx, sa, 'retry');
        break;
      case 'rekeyed-expire':
        if (sa.state === 'rekeyed') return ops.removeIke(ctx, sa, 'replaced; the peer never deleted it', false);
        break;
    }
  }
  if (sa.state !== 'established') return sa.kick(ctx);
  if (sa.expireAt && ctx.now >= sa.expireAt) {
    ctx.log('warn', name, 'IKE SA reached its hard lifetime without a successful rekey; deleting it and re-establishing');
    return expireNow(ctx, ops, sa, 'IKE SA hard lifetime');
  }
  if (sa.rekeyAt && ctx.now >= sa.rekeyAt && !sa.rekeying) {
    sa.rekeyAt = 0;
    startIkeRekey(ctx, sa, 'lifetime');
  }
  for (const c of [...sa.children]) {
    if (c.state === 'rekeyed' || c.state === 'deleting') continue;
    if (ctx.now >= c.expireAt) {
      if (sa.tunnel.initiate) {
        ctx.log('warn', name, `Child SA reached its hard lifetime${c.noRekey ? ' (the peer refused to rekey it: NO_ADDITIONAL_SAS)' : ' without a successful rekey'}; deleting it and re-establishing the IKE SA`, { spiIn: spiHex(c.info.spiIn) });
        return expireNow(ctx, ops, sa, 'Child SA hard lifetime');
      }
      ctx.log('warn', name, 'Child SA reached its hard lifetime; deleting it', { spiIn: spiHex(c.info.spiIn) });
      dropChild(ctx, sa, c, 'hard lifetime');
      queueChildDelete(ctx, sa, [c.info.spiIn]);
      continue;
    }
    if (c.state === 'installed' && c.active && !c.noRekey && ctx.now >= c.rekeyAt) startChildRekey(ctx, sa, c, 'lifetime');
  }
  const create = childCreateDueAt(sa);
  if (create !== null && ctx.now >= create) {
    ctx.log('info', name, 'the IKE SA has no Child SA left; creating one (CREATE_CHILD_SA)');
    startChildCreate(ctx, sa);
  }
  const dpd = dpdDueAt(sa);
  if (dpd !== null && ctx.now >= dpd) sa.queue(ctx, dpdTask());
  if (needsKeepalive(sa, ctx.udpEncapsulationOnly) && ctx.now >= sa.nextKeepaliveAt) {
    sa.nextKeepaliveAt = ctx.now + KEEPALIVE_INTERVAL_MS;
    ctx.actions.push({ kind: 'keepalive', from: { address: sa.local.address, port: 4500 }, to: { ...sa.remote } });
  }
  sa.kick(ctx);
}

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
function expireNow(ctx: EngineContext, ops: EngineOps, sa: IkeSa, reason: string): void {
  if (!sa.outstanding) sa.sendRequest(ctx, ExchangeType.INFORMATIONAL, new IkeDeleteTask(reason, true).build().payloads, true);
  ops.removeIke(ctx, sa, reason, true);
}

/** The earliest time tickSa has something to do for this SA. */
export function saWakeup(sa: IkeSa, udpEncapsulationOnly: boolean): number | null {
  const times: number[] = [];
  const base = sa.nextWakeup();
  if (base !== null) times.push(base);
  if (sa.state === 'established') {
    if (sa.expireAt) times.push(sa.expireAt);
    if (sa.rekeyAt && !sa.rekeying) times.push(sa.rekeyAt);
    for (const c of sa.children) {
      if (c.state === 'rekeyed' || c.state === 'deleting') continue;
      times.push(c.expireAt);
      if (c.state === 'installed' && c.active && !c.noRekey) times.push(c.rekeyAt);
    }
    const dpd = dpdDueAt(sa);
    if (dpd !== null) times.push(dpd);
    const create = childCreateDueAt(sa);
    if (create !== null) times.push(create);
    if (needsKeepalive(sa, udpEncapsulationOnly)) times.push(sa.nextKeepaliveAt);
  }
  return times.length ? Math.min(...times) : null;
}
