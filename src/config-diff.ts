/**
 * What a config reload changes, tunnel by tunnel: a pure comparison of two resolved tunnel
 * lists (src/config/types.ts). The IKE engine uses it to keep the SAs of untouched tunnels
 * (IkeEngine.reconfigure), the daemon to decide which TUN devices and routes to re-create.
 *
 * Every TunnelConfig field is compared by value: byte arrays (identities, selectors) octet by
 * octet, the PSK through Secret.reveal() in constant time, proposals and selectors
 * structurally and in order (order is preference). An optional field that is absent equals one
 * that is undefined. Nothing here ever prints a value: results and errors carry field and
 * tunnel names only (docs/architecture.md, rule 7).
 */
import { timingSafeEqual } from 'node:crypto';
import type { TunnelConfig } from './config/types.js';
import { Secret } from './secret.js';

export type TunnelKey = keyof TunnelConfig;

export interface TunnelDiff {
  /** Names present in both lists with every field equal, in the order of `next`. */
  unchanged: string[];
  /** Names present in both lists with at least one field different, in the order of `next`. */
  changed: { name: string; keys: TunnelKey[] }[];
  /** Names only in `next`, in its order. */
  added: string[];
  /** Names only in `old`, in its order. */
  removed: string[];
}

/**
 * The order changed keys are listed in (that of TunnelConfig). Typed as a Record so that a
 * field added to TunnelConfig fails to compile here until it is listed.
 */
const FIELD_ORDER: Record<TunnelKey, number> = {
  name: 0, localAddress: 1, remoteAddress: 2, localId: 3, remoteId: 4, psk: 5, ikeProposals: 6, espProposals: 7,
  ikeLifetime: 8, childLifetime: 9, childLifetimeBytes: 10, childLifetimePackets: 11, pfs: 12, natT: 13, dpd: 14,
  fragmentation: 15, fragmentSize: 16, initiate: 17, localTs: 18, remoteTs: 19, interface: 20, mtu: 21, mssClamp: 22, routes: 23,
};

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function secretsEqual(a: Secret, b: Secret): boolean {
  const x = a.reveal();
  const y = b.reveal();
  // The length of a PSK is not secret enough to hide behind a padded compare.
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Structural equality of config values: primitives, Secret, Uint8Array, arrays, plain objects. */
export function configValueEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Secret || b instanceof Secret) return a instanceof Secret && b instanceof Secret && secretsEqual(a, b);
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && bytesEqual(a, b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => configValueEqual(v, b[i]));
  }
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null) {
    const ra = a as Record<string, unknown>;
    const rb = b as Record<string, unknown>;
    const keys = new Set([...Object.keys(ra), ...Object.keys(rb)]);
    for (const k of keys) if (!configValueEqual(ra[k], rb[k])) return false;
    return true;
  }
  // NaN is not a config value; everything else that is not === differs.
  return false;
}

/** The fields of two configs of the same tunnel that differ, in TunnelConfig order. */
export function changedKeys(a: TunnelConfig, b: TunnelConfig): TunnelKey[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<TunnelKey>;
  const rank = (k: TunnelKey): number => FIELD_ORDER[k] ?? Number.MAX_SAFE_INTEGER;
  return [...keys]
    .filter((k) => !configValueEqual(a[k], b[k]))
    .sort((x, y) => rank(x) - rank(y) || (x < y ? -1 : x > y ? 1 : 0));
}

function byName(list: TunnelConfig[], which: string): Map<string, TunnelConfig> {
  const m = new Map<string, TunnelConfig>();
  for (const t of list) {
    if (m.has(t.name)) throw new RangeError(`diffTunnels: two tunnels named '${t.name}' in the ${which} list`);
    m.set(t.name, t);
  }
  return m;
}

/** Compare the tunnel lists of the running config (`old`) and the reloaded one (`next`). */
export function diffTunnels(old: TunnelConfig[], next: TunnelConfig[]): TunnelDiff {
  const before = byName(old, 'old');
  const after = byName(next, 'new');
  const out: TunnelDiff = { unchanged: [], changed: [], added: [], removed: [] };
  for (const [name, t] of after) {
    const prev = before.get(name);
    if (!prev) {
      out.added.push(name);
      continue;
    }
    const keys = changedKeys(prev, t);
    if (keys.length === 0) out.unchanged.push(name);
    else out.changed.push({ name, keys });
  }
  for (const name of before.keys()) if (!after.has(name)) out.removed.push(name);
  return out;
}
