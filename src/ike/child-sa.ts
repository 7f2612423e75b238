/**
 * Child SA records: building one from a selected proposal and the nonces (and the PFS shared
 * secret) of the exchange that created it (RFC 7296 §2.17), the proposals a CREATE_CHILD_SA
 * carries (§1.3.1, §3.3.2: a DH transform only when PFS), and the datapath actions for them.
 */
import { DhId, ProtocolId, TransformType } from './constants.js';
import type { Proposal, TrafficSelector, Transform } from './codec/types.js';
import type { PfsSetting, ProposalTemplate, TunnelConfig } from '../config/types.js';
import { deriveChildKeys } from './crypto/keymat.js';
import { encrInfo, integInfo } from './crypto/transforms.js';
import { toProposals, type Selection } from './proposals.js';
import { selectorToString } from '../config/cidr.js';
import { schedule } from './lifetime.js';
import { exportChildKeys } from './key-export.js';
import type { EngineContext, IkeSa } from './sa.js';
import { spiHex } from './spi.js';
import type { ChildSa } from './sa-types.js';

/** The old inbound SA keeps accepting this long after the switch (in-flight packets). */
export const REKEY_GRACE_MS = 2000;
/** The rekey responder activates the new SA by itself if the initiator's Delete never comes. */
export const ACTIVATE_FALLBACK_MS = 10_000;

/** ESP SPIs 1..255 are reserved by IANA (RFC 4303 §2.1); 0 is never valid. */
export function randomEspSpi(ctx: EngineContext): Uint8Array {
  for (;;) {
    const spi = ctx.random(4);
    if (Buffer.from(spi).readUInt32BE(0) >= 256) return spi;
  }
}

export interface NewChild {
  sel: Selection;
  spiIn: Uint8Array;
  spiOut: Uint8Array;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  /** Nonces of the creating exchange, initiator's first. */
  ni: Uint8Array;
  nr: Uint8Array;
  /** g^ir of a CREATE_CHILD_SA with KE (PFS). */
  shared?: Uint8Array;
  /** We initiated the exchange that creates this SA: "i" keys are our outbound ones (§2.17). */
  weInitiated: boolean;
  active: boolean;
}

export function newChild(ctx: EngineContext, sa: IkeSa, p: NewChild): ChildSa {
  const s = p.sel.suite;
  const keys = deriveChildKeys({
    prfId: sa.suite!.prfId,
    skD: sa.keys!.skD,
    ni: p.ni,
    nr: p.nr,
    ...(p.shared ? { sharedSecret: p.shared } : {}),
    encrId: s.encrId,
    encrKeyBits: s.encrKeyBits,
    integId: s.integId,
  });
  p.shared?.fill(0);
  const mine = p.weInitiated
    ? { encrOut: keys.encrI, integOut: keys.integI, encrIn: keys.encrR, integIn: keys.integR }
    : { encrOut: keys.encrR, integOut: keys.integR, encrIn: keys.encrI, integIn: keys.integI };
  const life = schedule(ctx.now, sa.tunnel.childLifetime, ctx.random);
  const port = sa.natT ? 4500 : 500;
  return {
    keys: mine,
    localTs: p.localTs,
    remoteTs: p.remoteTs,
    suite: s,
    state: 'installed',
    rekeyAt: life.rekeyAt,
    expireAt: life.expireAt,
    active: p.active,
    info: {
      tunnel: sa.tunnel.name,
      spiIn: Buffer.from(p.spiIn).readUInt32BE(0),
      spiOut: Buffer.from(p.spiOut).readUInt32BE(0),
      encrId: s.encrId,
      encrKeyBits: s.encrKeyBits,
      integId: s.integId,
      esn: s.esn,
      encr: encrInfo(s.encrId, s.encrKeyBits)!.name,
      integ: s.integId ? (integInfo(s.integId)?.name ?? null) : null,
      localTs: p.localTs.map(selectorToString),
      remoteTs: p.remoteTs.map(selectorToString),
      local: { address: sa.local.address, port },
      remote: { address: sa.remote.address, port: sa.remote.port },
      encap: sa.encap,
      installedAt: ctx.now,
      rekeyAt: life.rekeyAt,
    },
  };
}

/** Put a Child SA into the datapath (make-before-break: `activate` false = inbound only for now). */
export function installChild(ctx: EngineContext, child: ChildSa): void {
  ctx.actions.push({
    kind: 'install-child',
    child: child.info,
    keys: child.keys,
    selectors: { local: child.localTs, remote: child.remoteTs },
    activate: child.active,
  });
  exportChildKeys(ctx, child);
}

/** Take a Child SA out of the datapath and out of the IKE SA. */
export function dropChild(ctx: EngineContext, sa: IkeSa, child: ChildSa, reason: string): void {
  const i = sa.children.indexOf(child);
  if (i >= 0) sa.children.splice(i, 1);
  sa.timers = sa.timers.filter((t) => !('spiIn' in t) || t.spiIn !== child.info.spiIn);
  ctx.actions.push({ kind: 'remove-child', tunnel: sa.tunnel.name, spiIn: child.info.spiIn, spiOut: child.info.spiOut });
  ctx.actions.push({ kind: 'event', event: { type: 'child-down', tunnel: sa.tunnel.name, spiIn: spiHex(child.info.spiIn), reason } });
  for (const k of Object.values(child.keys)) (k as Uint8Array).fill(0);
}

/**
 * Make-before-break, rekey responder: switch the tunnel's outbound to `fresh`, the replacement of
 * `old` (when the rekey initiator deletes `old`, or ACTIVATE_FALLBACK_MS after we answered).
 */
export function activateReplacement(ctx: EngineContext, sa: IkeSa, old: ChildSa | undefined, fresh: ChildSa): void {
  if (fresh.active) return;
  fresh.active = true;
  sa.timers = sa.timers.filter((t) => !(t.kind === 'activate-child' && t.spiIn === fresh.info.spiIn));
  ctx.actions.push({ kind: 'activate-child', tunnel: sa.tunnel.name, spiIn: fresh.info.spiIn });
  if (old) {
    old.active = false;
    old.replacedBy = undefined;
    old.passive = undefined;
    old.state = 'rekeyed';
  }
  ctx.actions.push({
    kind: 'event',
    event: { type: 'child-rekeyed', tunnel: sa.tunnel.name, oldSpiIn: old ? spiHex(old.info.spiIn) : '', spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut), initiator: false },
  });
}

/** The DH group a CREATE_CHILD_SA for a Child SA uses: pfs none | same (the IKE SA's) | group. */
export function pfsGroup(pfs: PfsSetting, ikeDh: number): number {
  if (pfs.kind === 'same') return ikeDh;
  if (pfs.kind === 'group') return pfs.group;
  return DhId.NONE;
}

/**
 * The ESP templates for a CREATE_CHILD_SA: DH transforms configured in `esp:` are used as they
 * are; otherwise `pfs:` adds one (RFC 7296 §1.3.1: the KE payload's group must be in the SA).
 * `forceGroup` (after INVALID_KE_PAYLOAD) moves that group to the front.
 */
export function rekeyTemplates(tunnel: TunnelConfig, ikeDh: number, forceGroup?: number): ProposalTemplate[] {
  const hasDh = tunnel.espProposals.some((p) => p.transforms.some((t) => t.type === TransformType.DH && t.id !== DhId.NONE));
  let out: ProposalTemplate[];
  if (hasDh) out = tunnel.espProposals.map((p) => ({ transforms: p.transforms.map((t) => ({ ...t })) }));
  else {
    const g = pfsGroup(tunnel.pfs, ikeDh);
    out = tunnel.espProposals.map((p) => ({
      transforms: [...p.transforms.filter((t) => t.type !== TransformType.DH), ...(g !== DhId.NONE ? [{ type: TransformType.DH, id: g } as Transform] : [])],
    }));
  }
  if (forceGroup !== undefined) {
    out = out.map((p) => {
      const dh = p.transforms.filter((t) => t.type === TransformType.DH);
      if (!dh.some((t) => t.id === forceGroup)) return p;
      return { transforms: [...p.transforms.filter((t) => t.type !== TransformType.DH), { type: TransformType.DH, id: forceGroup }, ...dh.filter((t) => t.id !== forceGroup)] };
    });
  }
  return out;
}

/** The group our KE carries: the first DH transform of the first proposal, or NONE. */
export function keGroup(templates: ProposalTemplate[]): number {
  for (const p of templates) {
    const dh = p.transforms.find((t) => t.type === TransformType.DH && t.id !== DhId.NONE);
    if (dh) return dh.id;
    return DhId.NONE;
  }
  return DhId.NONE;
}

export function espProposals(templates: ProposalTemplate[], spi: Uint8Array): Proposal[] {
  return toProposals(templates, ProtocolId.ESP, spi);
}

/** The lower of two nonces (RFC 7296 §2.8.1 compares the lowest nonce of each exchange). */
export function lowerNonce(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) <= 0 ? a : b;
}

/** We lost a collision when our exchange holds the lowest nonce (strongSwan lost_collision()). */
export function lostCollision(ours: Uint8Array, theirs: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(ours), Buffer.from(theirs)) < 0;
}
