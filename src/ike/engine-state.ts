/**
 * What the engine reports outward: install/remove actions and events when an SA comes or goes,
 * and the per-tunnel status view (`branchgate status`).
 */
import type { TunnelState, TunnelStatus } from './actions.js';
import type { TunnelConfig } from '../config/types.js';
import { dhInfo, encrInfo, integInfo, prfInfo } from './crypto/transforms.js';
import { encrName, keName, prfName } from './iana-names.js';
import { schedule } from './lifetime.js';
import { DEFAULT_RETRANSMIT, livenessPolicy } from './retransmit.js';
import { installChild } from './child-sa.js';
import type { EngineContext, IkeSa } from './sa.js';
import { hex } from './spi.js';
import type { ChildSa } from './sa-types.js';

export function tunnelState(sa: IkeSa | null): TunnelState {
  if (!sa) return 'down';
  if (sa.state === 'deleting') return 'deleting';
  if (sa.state === 'established' && sa.children.length > 0) {
    const rekeying = sa.rekeying || sa.hasTask('ike-rekey') || sa.children.some((c) => c.state === 'rekeying' || c.replacedBy !== undefined);
    return rekeying ? 'rekeying' : 'established';
  }
  return 'connecting';
}

/** The IKE SA is up: record it, install its first Child SA (if any) and tell the world. */
export function establish(ctx: EngineContext, sa: IkeSa, child: ChildSa | null): void {
  sa.state = 'established';
  sa.establishedAt = ctx.now;
  sa.lastInboundAt = ctx.now;
  const life = schedule(ctx.now, sa.tunnel.ikeLifetime, ctx.random);
  sa.rekeyAt = life.rekeyAt;
  sa.expireAt = life.expireAt;
  sa.policy = sa.tunnel.dpd > 0 ? livenessPolicy(sa.tunnel.dpd) : DEFAULT_RETRANSMIT;
  const name = sa.tunnel.name;
  const s = sa.suite!;
  ctx.actions.push({ kind: 'event', event: { type: 'ike-up', tunnel: name, spiI: hex(sa.spiI), spiR: hex(sa.spiR), handshakeMs: ctx.now - sa.createdAt } });
  ctx.log('info', name, `IKE SA established with ${sa.peerId || sa.remote.address}`, {
    spiI: hex(sa.spiI),
    spiR: hex(sa.spiR),
    encr: encrInfo(s.encrId, s.encrKeyBits)?.name ?? '?',
    prf: prfInfo(s.prfId)?.name ?? '?',
    dh: dhInfo(s.dhId)?.name ?? '?',
    remote: `${sa.remote.address}:${sa.remote.port}`,
    nat: sa.natDetected,
  });
  if (!child) return;
  sa.children.push(child);
  installChild(ctx, child);
  const spiIn = child.info.spiIn.toString(16).padStart(8, '0');
  const spiOut = child.info.spiOut.toString(16).padStart(8, '0');
  ctx.actions.push({ kind: 'event', event: { type: 'child-up', tunnel: name, spiIn, spiOut } });
  ctx.log('info', name, `Child SA installed`, { spiIn, spiOut, encr: child.info.encr, encap: child.info.encap });
}

/** Tear an SA down locally: its Child SAs leave the datapath and the tunnel reports down. */
export function removeSa(ctx: EngineContext, sa: IkeSa, reason: string): void {
  const name = sa.tunnel.name;
  if ((sa.retired || sa.state === 'rekeyed') && sa.children.length === 0) {
    // Retired by a reload (its down already reported), or replaced by a rekey (or redundant
    // after a collision): nothing of it is in the datapath.
    ctx.log('debug', name, `old IKE SA removed: ${reason}`, { spiI: hex(sa.spiI), spiR: hex(sa.spiR) });
    sa.wipe();
    sa.outstanding = null;
    sa.tasks = [];
    sa.timers = [];
    return;
  }
  for (const c of sa.children) {
    ctx.actions.push({ kind: 'remove-child', tunnel: name, spiIn: c.info.spiIn, spiOut: c.info.spiOut });
    ctx.actions.push({ kind: 'event', event: { type: 'child-down', tunnel: name, spiIn: c.info.spiIn.toString(16).padStart(8, '0'), reason } });
  }
  if (sa.state === 'established' || sa.state === 'deleting' || sa.state === 'rekeyed') {
    ctx.actions.push({ kind: 'event', event: { type: 'ike-down', tunnel: name, reason } });
    ctx.log('info', name, `IKE SA deleted: ${reason}`, { spiI: hex(sa.spiI), spiR: hex(sa.spiR) });
  }
  sa.wipe();
  sa.children = [];
  sa.outstanding = null;
  sa.tasks = [];
  sa.timers = [];
}

export function saStatus(config: TunnelConfig, sa: IkeSa | null): TunnelStatus {
  const s = sa?.suite;
  const established = sa !== null && (sa.state === 'established' || sa.state === 'deleting') && s;
  return {
    name: config.name,
    state: tunnelState(sa),
    local: sa ? { ...sa.local } : null,
    remote: sa ? { ...sa.remote } : null,
    natDetected: sa?.natDetected ?? false,
    ike:
      established && s
        ? {
            spiI: hex(sa.spiI),
            spiR: hex(sa.spiR),
            initiator: sa.initiator,
            encr: encrInfo(s.encrId, s.encrKeyBits)?.name ?? encrName(s.encrId, s.encrKeyBits),
            integ: s.integId ? (integInfo(s.integId)?.name ?? null) : null,
            prf: prfInfo(s.prfId)?.name ?? prfName(s.prfId),
            dh: dhInfo(s.dhId)?.name ?? keName(s.dhId),
            establishedAt: sa.establishedAt,
            rekeyAt: sa.rekeyAt,
          }
        : null,
    children: sa ? sa.children.filter((c) => c.state !== 'rekeyed').map((c) => ({ ...c.info, rekeyAt: c.rekeyAt })) : [],
  };
}
