/**
 * The namespace lab as data (`branchgate lab up`): every namespace, link, address, route and
 * process, computed from the options before anything is created, so `up` only executes a plan,
 * `down` knows what to look for, and tests can check the shape without root.
 *
 *   bglab-branch ── bglab-cpe ── bglab-wan ──┬── bglab-gsa1 ── bglab-svc1
 *   100.64.10.2     branchgate   underlay     │   strongSwan      100.64.21.2
 *                   (bg0, bg1)   (+NAT)       │   + BIRD
 *                                203.0.113.10 └── bglab-gsa2 ── bglab-svc2    (--endpoints 2)
 *                                "internet"       strongSwan      100.64.22.2
 *                                                 + BIRD
 *
 * Addresses: documentation ranges (RFC 5737) and 100.64.0.0/10 (RFC 6598) only. The Microsoft
 * 365 prefixes the endpoints announce exist only as routes: nothing is ever sent to them.
 */
import { M365_PREFIXES } from '../bgp/gsa-peer.js';
import { internetRoutes, type InternetRoutesForm } from './internet-routes.js';

export const LAB_PREFIX = 'bglab-';
/**
 * Not under /run: each charon runs with a private tmpfs on /run (so two can run at once), which
 * would hide its own config, log and vici socket if they lived there.
 */
export const DEFAULT_LAB_DIR = '/var/lib/branchgate-lab';

export interface LabOptions {
  /** One endpoint, or a zone-redundant pair (two tunnels, two PSKs, two BGP sessions). */
  endpoints: 1 | 2;
  /** The underlay router masquerades the CPE's WAN address toward the endpoints. */
  nat: boolean;
  /** What plays GSA's IKE side. */
  endpoint: 'strongswan' | 'branchgate';
  /** DPD interval of the CPE's tunnels, seconds. */
  dpd: number;
  /** State directory: configs, logs, sockets, state.json. */
  dir: string;
  /** GSA traffic profile: Microsoft 365 prefixes, or the whole internet (lab/internet.ts). */
  profile?: 'microsoft' | 'internet';
  /** With profile internet: the form of "the whole internet" the endpoint announces. */
  internetRoutes?: InternetRoutesForm;
}

export const DEFAULT_OPTIONS: LabOptions = { endpoints: 1, nat: false, endpoint: 'strongswan', dpd: 10, dir: DEFAULT_LAB_DIR, profile: 'microsoft', internetRoutes: 'default' };

export interface LabEndpoint {
  /** 1 or 2: gsa1 / gsa2, tunnel gsa1 / gsa2 on the CPE. */
  index: number;
  name: string;
  ns: string;
  svcNs: string;
  /** The endpoint's public (IKE) address, on its uplink. */
  publicAddress: string;
  /** Underlay router's address on the same link (the endpoint's default gateway). */
  routerAddress: string;
  /** GSA's BGP address ("Local BGP address" in the portal), on the endpoint's lo. */
  bgpAddress: string;
  asn: number;
  psk: string;
  /** The service host behind this endpoint and its prefix (announced over BGP with the M365 set). */
  svcAddress: string;
  svcGateway: string;
  svcPrefix: string;
  /** CPE interface of this tunnel. */
  cpeInterface: string;
  /** Interface name on the underlay router toward this endpoint. */
  wanIf: string;
  announced: string[];
}

export interface LabPlan {
  options: LabOptions;
  ns: { branch: string; cpe: string; wan: string };
  branch: { address: string; gateway: string };
  lanPrefix: string;
  cpe: { lanAddress: string; wanAddress: string; gateway: string; bgpAddress: string; asn: number };
  /** Reached over the branch's default route, never through a tunnel (on the underlay's lo). */
  internet: string;
  endpoints: LabEndpoint[];
  /**
   * With two endpoints: a link between them standing in for GSA's own network. Each announces
   * both zones' service prefixes and forwards the other zone's over it, and an endpoint whose
   * tunnel is gone hands the branch's traffic to the other (a fallback route for the LAN), so
   * killing one endpoint's charon and BIRD shows the CPE's failover end to end.
   */
  backbone?: { addresses: [string, string]; prefixLen: number };
  /** Every namespace, in creation order. */
  namespaces: string[];
}

/** GSA's published Default policy in strongSwan syntax comes from config/profiles.ts. */
export function labPlan(opts: LabOptions): LabPlan {
  const ns = { branch: `${LAB_PREFIX}branch`, cpe: `${LAB_PREFIX}cpe`, wan: `${LAB_PREFIX}wan` };
  const endpoints: LabEndpoint[] = [];
  for (let i = 1; i <= opts.endpoints; i++) {
    const base = (i - 1) * 8; // 198.51.100.0/29, 198.51.100.8/29
    const svcPrefix = `100.64.2${i}.0/24`;
    endpoints.push({
      index: i, name: `gsa${i}`, ns: `${LAB_PREFIX}gsa${i}`, svcNs: `${LAB_PREFIX}svc${i}`,
      publicAddress: `198.51.100.${base + 2}`, routerAddress: `198.51.100.${base + 1}`,
      bgpAddress: `100.64.0.${i + 1}`, asn: 65476,
      psk: `branchgate-lab-psk-${i === 1 ? 'primary' : 'zone'}`,
      svcAddress: `100.64.2${i}.2`, svcGateway: `100.64.2${i}.1`, svcPrefix,
      cpeInterface: `bg${i - 1}`, wanIf: `gsa${i}`,
      announced: [...M365_PREFIXES, svcPrefix],
    });
  }
  // A pair shares its service prefixes over GSA's "backbone" (see LabPlan.backbone).
  if (endpoints.length === 2) for (const e of endpoints) e.announced = [...M365_PREFIXES, ...endpoints.map((x) => x.svcPrefix)];
  // Internet Access: the whole internet, in the form asked for (it covers the service prefixes).
  if (opts.profile === 'internet') for (const e of endpoints) e.announced = internetRoutes(opts.internetRoutes ?? 'default');
  return {
    options: opts,
    ns,
    branch: { address: '100.64.10.2', gateway: '100.64.10.1' },
    lanPrefix: '100.64.10.0/24',
    cpe: { lanAddress: '100.64.10.1', wanAddress: '192.0.2.2', gateway: '192.0.2.1', bgpAddress: '100.64.0.1', asn: 65010 },
    internet: '203.0.113.10',
    endpoints,
    ...(endpoints.length === 2 ? { backbone: { addresses: ['100.64.30.1', '100.64.30.2'] as [string, string], prefixLen: 30 } } : {}),
    namespaces: [ns.branch, ns.cpe, ns.wan, ...endpoints.flatMap((e) => [e.ns, e.svcNs])],
  };
}
