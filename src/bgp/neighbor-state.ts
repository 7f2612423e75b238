/**
 * From what BIRD reports (show.ts) and what the supervisor wants (tunnel up or down, limit
 * tripped) to the per-neighbor status of the status document (contract.md `bgp.neighbors[]`:
 * address, state, received, advertised) and the events `monitor` streams. Pure.
 *
 * `state` uses RFC 4271's names (Idle, Connect, Active, OpenSent, OpenConfirm, Established);
 * BIRD's extra "Down" and "Close" are reported as Idle, and `info` says why.
 */
import type { BgpNeighborConfig } from '../config/types.js';
import { protocolName } from './bird-config.js';
import type { BirdProtocol } from './show.js';

export interface BgpNeighborStatus {
  address: string;
  asn: number;
  tunnel: string;
  state: string;
  /** Prefixes accepted from the neighbor (after the import filter). */
  received: number;
  /** Prefixes announced to it. */
  advertised: number;
  /** Why it is not Established, when known: "tunnel down", "import limit 1000 hit", BIRD's last error. */
  info?: string;
}

export type BgpEvent =
  | { kind: 'neighbor'; address: string; tunnel: string; from: string; to: string; info?: string }
  | { kind: 'limit'; address: string; tunnel: string; limit: number }
  | { kind: 'bird'; what: 'started' | 'exited' | 'stopped' | 'reconfigured'; pid?: number; code?: number | null; signal?: string | null; restartInMs?: number };

export interface Desired {
  birdRunning: boolean;
  tunnelUp: (tunnel: string) => boolean;
}

const RFC_STATES = new Set(['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established']);

export function neighborStatus(n: BgpNeighborConfig, p: BirdProtocol | undefined, d: Desired): BgpNeighborStatus {
  const base = { address: n.address, asn: n.asn, tunnel: n.tunnel, received: 0, advertised: 0 };
  if (!d.birdRunning) return { ...base, state: 'Idle', info: 'BIRD is not running' };
  if (!p) return { ...base, state: 'Idle', info: 'not (yet) configured in BIRD' };
  const ch = p.channels[0];
  const counts = { received: ch?.imported ?? 0, advertised: ch?.exported ?? 0 };
  if (ch?.importLimitHit) {
    return { ...base, state: 'Idle', info: `import limit ${ch.importLimit ?? '?'} hit: the neighbor sent more prefixes than bgp.maxPrefixes; raise it and reload, or check the neighbor` };
  }
  if (!d.tunnelUp(n.tunnel)) return { ...base, state: 'Idle', info: `tunnel ${n.tunnel} is down` };
  const raw = p.bgpState ?? (p.state === 'up' ? 'Established' : 'Idle');
  const state = RFC_STATES.has(raw) ? raw : 'Idle';
  const rest = p.info.startsWith(raw) ? p.info.slice(raw.length).trim() : p.info;
  const why = p.lastError ?? (rest !== '' ? rest : undefined);
  return { ...base, ...counts, state, ...(state !== 'Established' && why ? { info: why } : {}) };
}

/** Status of every configured neighbor, from one `show protocols all`. */
export function neighborStatuses(neighbors: readonly BgpNeighborConfig[], protocols: readonly BirdProtocol[], d: Desired): BgpNeighborStatus[] {
  const byName = new Map(protocols.map((p) => [p.name, p]));
  return neighbors.map((n) => neighborStatus(n, byName.get(protocolName(n.address)), d));
}

/** Events between two snapshots (same neighbor list order not assumed). */
export function diffEvents(before: readonly BgpNeighborStatus[], after: readonly BgpNeighborStatus[], limits: ReadonlyMap<string, number>): BgpEvent[] {
  const prev = new Map(before.map((s) => [s.address, s]));
  const out: BgpEvent[] = [];
  for (const s of after) {
    const p = prev.get(s.address);
    const from = p?.state ?? 'Idle';
    if (from !== s.state) out.push({ kind: 'neighbor', address: s.address, tunnel: s.tunnel, from, to: s.state, ...(s.info ? { info: s.info } : {}) });
    const hit = s.info?.startsWith('import limit') === true;
    const wasHit = p?.info?.startsWith('import limit') === true;
    if (hit && !wasHit) out.push({ kind: 'limit', address: s.address, tunnel: s.tunnel, limit: limits.get(s.address) ?? 0 });
  }
  return out;
}
