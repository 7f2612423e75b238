/**
 * The status document (`branchgate status --json`) and the longer `list-sas` document. Field
 * names are a promise to users (docs/contract.md "Status document"); add, never rename.
 *
 * Pure functions of the engine's TunnelStatus[] plus what only the daemon knows (routes from the
 * config, datapath counters, which Child SAs are installed). No key material is reachable from
 * here: the engine's status types carry none, and we copy fields one by one rather than spread.
 *
 * Choices the contract leaves open, documented here:
 * - `integ` is omitted for AEAD ciphers (the contract's example is AEAD and has no `integ`).
 * - `local`/`remote` are null while the engine has no endpoint for the tunnel (e.g. down).
 * - `establishedAt`/`rekeyAt` are null when unknown (engine reports 0).
 * - `bgp` appears only when configured; until the BIRD supervisor exists every configured
 *   neighbor is reported with state "Idle" and zero counts.
 */
import type { InternetStatus } from '../internet/daemon-internet.js';
import type { SaCounters } from '../dataplane/types.js';
import type { ChildSaInfo, Endpoint, IkeSaStatus, TunnelState, TunnelStatus } from '../ike/actions.js';
import type { BgpConfig } from '../config/types.js';
import type { UdpCounters } from '../net/udp.js';
import type { EspDropCounts } from '../dataplane/drops.js';
import type { UdpSocketDoc } from './udp-socket-drops.js';
import type { ControlCounters } from './server.js';
import type { HaStatus } from '../ha/supervisor.js';

export interface IkeDoc {
  spiI: string;
  spiR: string;
  encr: string;
  prf: string;
  dh: string;
  integ?: string;
  establishedAt: string | null;
  rekeyAt: string | null;
}

/** One Child SA in the status document: its identity and algorithms plus the datapath counters. */
export type ChildDoc = {
  spiIn: string;
  spiOut: string;
  encr: string;
  integ?: string;
  esn: boolean;
  rekeyAt: string | null;
} & Omit<ChildRuntime, 'installedAt'>;

export interface TunnelDoc {
  name: string;
  state: TunnelState;
  local: string | null;
  remote: string | null;
  natDetected: boolean;
  ike: IkeDoc | null;
  children: ChildDoc[];
  routes: string[];
}

export interface BgpNeighborDoc {
  address: string;
  state: string;
  received: number;
  advertised: number;
}

export interface StatusDocument {
  version: string;
  nativeFastPath: boolean;
  tunnels: TunnelDoc[];
  bgp?: { neighbors: BgpNeighborDoc[] };
  /** Traffic profiles, GSA's routes, bypass and IPv6 (src/internet/daemon-internet.ts). */
  internet?: InternetStatus;
  /** ha: the VRRP pair (docs/ha.md "Status"). */
  ha?: HaStatus;
}

/** list-sas: the status fields plus per-SA detail in the spirit of vici's list-sa. */
export interface ListSasIke extends IkeDoc {
  initiator: boolean;
}
export interface ListSasChild extends ChildDoc {
  encap: boolean;
  localTs: string[];
  remoteTs: string[];
  installedAt: string | null;
}
export interface ListSasTunnel extends Omit<TunnelDoc, 'ike' | 'children'> {
  ike: ListSasIke | null;
  children: ListSasChild[];
}
export interface ListSasDocument {
  version: string;
  nativeFastPath: boolean;
  tunnels: ListSasTunnel[];
  udp: UdpCounters;
  /** Packets the datapath dropped, by reason (src/dataplane/drops.ts), cumulative since start. */
  dataplane?: { drops: EspDropCounts };
  /** This process's UDP sockets and the datagrams the kernel dropped before we read them. */
  udpSockets?: UdpSocketDoc[];
  /** The control socket's bounds at work: refused connections, oversized requests, stuck monitors. */
  control?: ControlCounters;
}

/** What only the daemon's other parts know; each present field is copied into list-sas. */
export interface ListSasExtra {
  dataplane?: { drops: EspDropCounts };
  udpSockets?: UdpSocketDoc[];
  control?: ControlCounters;
}

/** What the datapath knows about one installed Child SA (all zero until it exists). */
/** The datapath's counters for one Child SA (the seam's SaCounters), plus when it was installed. */
export type ChildRuntime = Pick<SaCounters, 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut' | 'replayDrops' | 'authFailures'> & {
  installedAt: number;
};

export interface StatusInput {
  version: string;
  nativeFastPath: boolean;
  tunnels: TunnelStatus[];
  routes: ReadonlyMap<string, string[]>;
  /** Configured BGP, and what the supervisor reports per neighbor (absent: not yet known, Idle). */
  bgp?: BgpConfig;
  bgpNeighbors?: readonly BgpNeighborDoc[];
  ha?: HaStatus;
  /** The installed-Child-SA record, or undefined if the datapath does not have this SA. */
  installed: (tunnel: string, spiIn: number) => ChildRuntime | undefined;
}

export function spi64(s: string): string {
  const h = s.toLowerCase().replace(/^0x/, '');
  return /^[0-9a-f]{1,16}$/.test(h) ? h.padStart(16, '0') : h;
}

export function spi32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

export function iso(ms: number): string | null {
  return Number.isFinite(ms) && ms > 0 ? new Date(ms).toISOString() : null;
}

export function endpoint(e: Endpoint | null): string | null {
  return e === null ? null : `${e.address}:${e.port}`;
}

function ikeDoc(ike: IkeSaStatus): IkeDoc {
  const d: IkeDoc = { spiI: spi64(ike.spiI), spiR: spi64(ike.spiR), encr: ike.encr, prf: ike.prf, dh: ike.dh,
    establishedAt: iso(ike.establishedAt), rekeyAt: iso(ike.rekeyAt) };
  if (ike.integ !== null) d.integ = ike.integ;
  return d;
}

const ZERO: ChildRuntime = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, replayDrops: 0, authFailures: 0, installedAt: 0 };

function childDoc(c: ChildSaInfo, rt: ChildRuntime | undefined): ChildDoc {
  const r = rt ?? ZERO;
  const d: ChildDoc = { spiIn: spi32(c.spiIn), spiOut: spi32(c.spiOut), encr: c.encr, esn: c.esn,
    bytesIn: r.bytesIn, bytesOut: r.bytesOut, packetsIn: r.packetsIn, packetsOut: r.packetsOut,
    replayDrops: r.replayDrops, authFailures: r.authFailures, rekeyAt: iso(c.rekeyAt) };
  if (c.integ !== null) d.integ = c.integ;
  return d;
}

/**
 * Contract: "A tunnel is established only when its Child SA is installed in the datapath."
 * If the engine says established but nothing is installed, we report connecting.
 */
function effectiveState(t: TunnelStatus, input: StatusInput): TunnelState {
  if (t.state !== 'established') return t.state;
  return t.children.some((c) => input.installed(t.name, c.spiIn) !== undefined) ? 'established' : 'connecting';
}

function tunnelDoc(t: TunnelStatus, input: StatusInput): TunnelDoc {
  return {
    name: t.name,
    state: effectiveState(t, input),
    local: endpoint(t.local),
    remote: endpoint(t.remote),
    natDetected: t.natDetected,
    ike: t.ike === null ? null : ikeDoc(t.ike),
    children: t.children.map((c) => childDoc(c, input.installed(t.name, c.spiIn))),
    routes: [...(input.routes.get(t.name) ?? [])],
  };
}

export function buildStatus(input: StatusInput): StatusDocument {
  const doc: StatusDocument = {
    version: input.version,
    nativeFastPath: input.nativeFastPath,
    tunnels: input.tunnels.map((t) => tunnelDoc(t, input)),
  };
  if (input.bgp !== undefined) {
    const live = new Map((input.bgpNeighbors ?? []).map((n) => [n.address, n]));
    doc.bgp = {
      neighbors: input.bgp.neighbors.map((n) => {
        const l = live.get(n.address);
        return { address: n.address, state: l?.state ?? 'Idle', received: l?.received ?? 0, advertised: l?.advertised ?? 0 };
      }),
    };
  }
  if (input.ha) doc.ha = input.ha;
  return doc;
}

export function buildListSas(input: StatusInput, udp: UdpCounters, extra: ListSasExtra = {}): ListSasDocument {
  return {
    version: input.version,
    nativeFastPath: input.nativeFastPath,
    udp: { ...udp },
    ...(extra.dataplane ? { dataplane: { drops: { ...extra.dataplane.drops } } } : {}),
    ...(extra.udpSockets ? { udpSockets: extra.udpSockets.map((u) => ({ ...u })) } : {}),
    ...(extra.control ? { control: { ...extra.control } } : {}),
    tunnels: input.tunnels.map((t): ListSasTunnel => {
      const base = tunnelDoc(t, input);
      return {
        ...base,
        ike: t.ike === null || base.ike === null ? null : { ...base.ike, initiator: t.ike.initiator },
        children: t.children.map((c, i): ListSasChild => {
          const rt = input.installed(t.name, c.spiIn);
          const doc = base.children[i] ?? childDoc(c, rt);
          return { ...doc, encap: c.encap, localTs: [...c.localTs], remoteTs: [...c.remoteTs],
            installedAt: iso(rt?.installedAt ?? c.installedAt) };
        }),
      };
    }),
  };
}
