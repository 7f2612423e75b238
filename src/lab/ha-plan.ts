/**
 * `branchgate lab up --ha` as data: two CPE boxes sharing the branch gateway through VRRP, each
 * with its own device link (tunnel + BGP session) to one emulated GSA endpoint (docs/ha.md "Lab").
 *
 *   bglab-branch ─┐                  ┌─ bglab-boxa (prio 200) ─┐
 *   100.64.10.2   ├─ bglab-lan (br0) ┤   LAN 100.64.10.3       ├─ bglab-wan ─ bglab-gsa1 ─ bglab-svc1
 *   gw 100.64.10.1└ (the LAN segment)└─ bglab-boxb (prio 100) ─┘             branchgate    100.64.21.2
 *                                        LAN 100.64.10.4                      responder
 *                                                                             + its BIRD
 *
 * The endpoint is branchgate as responder with one tunnel (its own TUN) per box and BGP to both
 * boxes: its route back to the branch LAN is the BGP route, as GSA's is. strongSwan with
 * kernel-libipsec cannot steer two tunnels with the same remote selector by route, so the HA lab
 * has no strongSwan endpoint.
 *
 * Addresses: documentation ranges (RFC 5737) and 100.64.0.0/10 (RFC 6598) only.
 */
import { LAB_PREFIX } from './plan.js';

export interface HaLabBox {
  name: 'a' | 'b';
  ns: string;
  lanAddress: string;
  wanAddress: string;
  wanGateway: string;
  /** Interface name of this box's link on the underlay router. */
  wanIf: string;
  bgpAddress: string;
  priority: number;
  psk: string;
  /** Bridge port of this box on the LAN segment. */
  port: string;
  /** The endpoint's TUN for this box's tunnel. */
  endpointTun: string;
}

export interface HaLabPlan {
  ns: { lan: string; branch: string; wan: string; gsa: string; svc: string };
  lanPrefix: string;
  virtualAddress: string;
  branchAddress: string;
  routerId: number;
  advertInterval: number;
  dpd: number;
  boxes: [HaLabBox, HaLabBox];
  endpoint: { publicAddress: string; routerAddress: string; bgpAddress: string; asn: number; svcAddress: string; svcPrefix: string; svcLink: [string, string] };
  cpeAsn: number;
  namespaces: string[];
}

export function haLabPlan(dpd: number): HaLabPlan {
  const ns = { lan: `${LAB_PREFIX}lan`, branch: `${LAB_PREFIX}branch`, wan: `${LAB_PREFIX}wan`, gsa: `${LAB_PREFIX}gsa1`, svc: `${LAB_PREFIX}svc1` };
  const box = (name: 'a' | 'b', i: number): HaLabBox => ({
    name, ns: `${LAB_PREFIX}box${name}`, lanAddress: `100.64.10.${3 + i}`, wanAddress: `192.0.2.${2 + 4 * i}`, wanGateway: `192.0.2.${1 + 4 * i}`,
    wanIf: `box${name}`, bgpAddress: `100.64.0.${1 + 4 * i}`, priority: i === 0 ? 200 : 100, psk: `branchgate-lab-ha-psk-${name}`,
    port: `p${name}`, endpointTun: `t${name}`,
  });
  const boxes: [HaLabBox, HaLabBox] = [box('a', 0), box('b', 1)];
  return {
    ns, lanPrefix: '100.64.10.0/24', virtualAddress: '100.64.10.1', branchAddress: '100.64.10.2', routerId: 51, advertInterval: 0.2, dpd,
    boxes,
    endpoint: { publicAddress: '198.51.100.2', routerAddress: '198.51.100.1', bgpAddress: '100.64.0.2', asn: 65476, svcAddress: '100.64.21.2', svcPrefix: '100.64.21.0/24', svcLink: ['100.64.31.1', '100.64.31.2'] },
    cpeAsn: 65010,
    namespaces: [ns.lan, ns.branch, ...boxes.map((b) => b.ns), ns.wan, ns.gsa, ns.svc],
  };
}

/** A box's branchgate config: one tunnel, BGP to the endpoint, ha: with the other box as peer. */
export function haBoxConfig(p: HaLabPlan, b: HaLabBox, dir: string, birdBin: string): Record<string, unknown> {
  const o = p.boxes.find((x) => x !== b)!;
  return {
    log: { level: 'info' },
    control: { socket: `${dir}/box${b.name}.sock` },
    tunnels: [{ name: 'gsa', localAddress: b.wanAddress, remoteAddress: p.endpoint.publicAddress, psk: b.psk, profile: 'gsa-default', dpd: p.dpd, interface: 'bg0', mtu: 1380, mssClamp: 1340, routes: [] }],
    routing: { failMode: 'open', pinUnderlay: true },
    bgp: {
      asn: p.cpeAsn, address: b.bgpAddress, advertise: [p.lanPrefix], holdTime: 9,
      neighbors: [{ address: p.endpoint.bgpAddress, asn: p.endpoint.asn, tunnel: 'gsa' }],
      bird: { binary: birdBin, socket: `${dir}/box${b.name}.bird.ctl`, config: `${dir}/box${b.name}.bird.conf` },
    },
    ha: {
      interface: 'lan0', virtualAddresses: [`${p.virtualAddress}/24`], routerId: p.routerId, priority: b.priority, peer: o.lanAddress,
      advertInterval: p.advertInterval, preempt: true, probe: { peer: o.wanAddress }, runtimeDir: `${dir}/box${b.name}.ha`,
    },
  };
}

/** The endpoint: a responder tunnel per box, BGP to both, the service prefix announced. */
export function haEndpointConfig(p: HaLabPlan, dir: string, birdBin: string): Record<string, unknown> {
  return {
    log: { level: 'info' },
    control: { socket: `${dir}/gsa1.sock` },
    tunnels: p.boxes.map((b) => ({
      name: `box${b.name}`, localAddress: p.endpoint.publicAddress, remoteAddress: b.wanAddress, psk: b.psk, profile: 'gsa-default', initiate: false,
      dpd: p.dpd, interface: b.endpointTun, mtu: 1380, mssClamp: 1340, routes: [], remoteTs: [p.lanPrefix, `${b.bgpAddress}/32`],
    })),
    routing: { failMode: 'open', pinUnderlay: false },
    bgp: {
      asn: p.endpoint.asn, address: p.endpoint.bgpAddress, advertise: [p.endpoint.svcPrefix], holdTime: 9,
      neighbors: p.boxes.map((b) => ({ address: b.bgpAddress, asn: p.cpeAsn, tunnel: `box${b.name}` })),
      bird: { binary: birdBin, socket: `${dir}/gsa1.bird.ctl`, config: `${dir}/gsa1.bird.conf` },
    },
  };
}
