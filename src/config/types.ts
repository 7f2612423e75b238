/**
 * The resolved configuration the daemon and the IKE engine consume. config/load.ts turns YAML
 * into this shape (after validation), so nothing downstream re-parses strings.
 */
import type { Transform, TrafficSelector } from '../ike/codec/types.js';
import type { Secret } from '../secret.js';

/** One proposal's transforms (no SPI, no number): the codec adds those when it is sent. */
export interface ProposalTemplate {
  transforms: Transform[];
}

/** An identity as sent in IDi/IDr (RFC 7296 §3.5). display is the config spelling, for logs. */
export interface Identity {
  idType: number;
  data: Uint8Array;
  display: string;
}

export type PfsSetting = { kind: 'none' } | { kind: 'same' } | { kind: 'group'; group: number };

export interface TunnelConfig {
  name: string;
  /** IPv4 address to send from; undefined means "let the kernel choose". */
  localAddress?: string;
  /** IPv4 address of the peer, or '%any' on a responder. */
  remoteAddress: string;
  localId: Identity;
  /** null means "%any": accept whatever identity authenticates with the PSK. */
  remoteId: Identity | null;
  psk: Secret;
  /** IKE proposals, most preferred first (strongSwan syntax or a profile, already expanded). */
  ikeProposals: ProposalTemplate[];
  /** ESP proposals, most preferred first; DH transforms in them apply to CREATE_CHILD_SA only. */
  espProposals: ProposalTemplate[];
  /** Seconds. */
  ikeLifetime: number;
  childLifetime: number;
  /** Rekey the Child SA after this many bytes / packets in either direction; 0: by time only. */
  childLifetimeBytes: number;
  childLifetimePackets: number;
  pfs: PfsSetting;
  natT: 'auto' | 'force';
  /** Seconds; 0 disables liveness checks. */
  dpd: number;
  /** RFC 7383: offer fragmentation, and fragment protected messages larger than fragmentSize bytes. */
  fragmentation: 'auto' | 'off';
  fragmentSize: number;
  initiate: boolean;
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  interface: string;
  mtu: number;
  mssClamp: number;
  /** CIDR strings steered into the tunnel. */
  routes: string[];
}

export interface RoutingConfig {
  failMode: 'open' | 'closed';
  pinUnderlay: boolean;
  /** Internet traffic when GSA's routes are gone: held (security) or direct (productivity). */
  defaultRoute?: 'security' | 'productivity';
}

/** GSA traffic profiles, CPE-side bypass and the IPv6 policy (config/internet.ts). */
export interface InternetConfig {
  profiles: ('microsoft' | 'internet')[];
  /** gsa.profiles has internet: GSA advertises the whole internet over BGP. */
  internetProfile: boolean;
  /** internetProfile, or a tunnel with a full-tunnel route: internet traffic enters a tunnel. */
  carriesInternet: boolean;
  defaultRoute: 'security' | 'productivity';
  /** Always through the underlay: canonical IPv4 prefixes and lower-case host names. */
  bypass: { prefixes: string[]; hostnames: string[] };
  /** explicit: the file set ipv6:, so it applies even without internet traffic in a tunnel. */
  ipv6: { policy: 'block' | 'allow'; branchPrefixes: string[]; explicit: boolean };
}

export interface BgpNeighborConfig {
  address: string;
  asn: number;
  tunnel: string;
}

/**
 * The bgp: section. The settings after `neighbors` are optional in the type so that code and
 * tests may build a BgpConfig by hand; the loader always fills them (config/bgp-defaults.ts has
 * the defaults, src/bgp applies the same ones when they are absent).
 */
export interface BgpConfig {
  /** The CPE's ASN (GSA: "Device ASN"). */
  asn: number;
  /** The CPE's BGP address, BGP source and BIRD router id (GSA: "Device BGP address"). */
  address: string;
  /** Branch LAN prefixes announced to every neighbor. */
  advertise: string[];
  neighbors: BgpNeighborConfig[];
  /** Per-neighbor import limit and what BIRD does when a neighbor exceeds it. */
  maxPrefixes?: number;
  maxPrefixAction?: 'disable' | 'restart' | 'block' | 'warn';
  /** Seconds (RFC 4271 hold time). */
  holdTime?: number;
  /** ECMP across neighbors (active/active); false: neighbors in config order (active/standby). */
  multipath?: boolean;
  /** Kernel metric of installed BGP routes. */
  kernelMetric?: number;
  /** Accept learned prefixes that contain a tunnel's remote endpoint (only safe with underlay pins). */
  acceptCoveringEndpoint?: boolean;
  /**
   * Kernel routing table for learned routes (absent: main). The Internet Access profile uses
   * branchgate's own table, consulted by policy rules after main's non-default routes
   * (src/routing/internet-rules.ts).
   */
  kernelTable?: number;
  /** BIRD binary, control socket and the config file branchgate writes. */
  bird?: { binary: string; socket: string; config: string };
}

/** limits: responder protection (schema.ts LimitsShape has the defaults and their reasons). */
export interface LimitsConfig {
  halfOpen: number;
  cookieThreshold: number;
  cookieThresholdPerSource: number;
  halfOpenPerSource: number;
  /** IKE_SA_INIT per second per source address; 0: unlimited. */
  initRatePerSource: number;
}

/** privileges: the user (and group) the daemon runs as once its sockets and devices are open. */
export interface PrivilegesConfig {
  user: string;
  group?: string;
}

export interface Config {
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
  control: { socket: string; metrics?: string };
  tunnels: TunnelConfig[];
  routing: RoutingConfig;
  bgp?: BgpConfig;
  /** wiresharkKeys: directory for the Wireshark key tables (debug export; off when absent). */
  debug: { wiresharkKeys?: string };
  limits: LimitsConfig;
  privileges?: PrivilegesConfig;
  internet: InternetConfig;
}

/** An issue before it gets a position: path into the document, and for unknown keys the key. */
export interface RawIssue {
  path: (string | number)[];
  message: string;
  /** Set for unknown keys: point at the key itself rather than at the object. */
  key?: string;
}
