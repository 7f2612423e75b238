/**
 * A BIRD 2 config that plays GSA's BGP speaker, for the lab (`branchgate lab up`) and the BGP
 * interop test. Written independently of bird-config.ts on purpose: it is the other side of the
 * session, and a bug shared by both generators would go unnoticed.
 *
 * What GSA does (docs/gsa-reference.md §4): eBGP from its BGP address (ASN 65476) to the CPE's,
 * multihop, no password; it announces the prefixes of the assigned traffic profiles — here the
 * 25 Microsoft 365 ranges GSA's documentation lists for the Microsoft traffic profile [DOC S17] —
 * and learns the branch prefixes. The announced routes are blackholes in the peer's own table:
 * tests route them only as kernel routes, no packet is ever sent to them.
 *
 * extra: further prefixes announced from the start (e.g. ones the CPE must refuse);
 * flood: prefixes in a protocol `flood` that starts disabled (`enable flood` to trip a limit).
 */

/** Microsoft traffic profile ranges, as listed in GSA's documentation (gsa.md §4.2 [DOC S17]). */
export const M365_PREFIXES: readonly string[] = [
  '132.245.0.0/16', '204.79.197.215/32', '150.171.32.0/22', '131.253.33.215/32', '23.103.160.0/20',
  '40.96.0.0/13', '52.96.0.0/14', '40.104.0.0/15', '13.107.128.0/22', '13.107.18.10/31',
  '13.107.6.152/31', '52.238.78.88/32', '104.47.0.0/17', '52.100.0.0/14', '40.107.0.0/16',
  '40.92.0.0/15', '150.171.40.0/22', '52.104.0.0/14', '104.146.128.0/17', '40.108.128.0/17',
  '13.107.136.0/22', '40.126.0.0/18', '20.231.128.0/19', '20.190.128.0/18', '20.20.32.0/19',
];

export interface GsaPeerOptions {
  /** GSA's BGP address (router id and source). */
  address: string;
  /** The CPE's BGP address and ASN. */
  cpeAddress: string;
  cpeAsn: number;
  /** The peer's interface toward the CPE (its end of the tunnel). */
  interface: string;
  asn?: number;
  prefixes?: readonly string[];
  extra?: readonly string[];
  flood?: readonly string[];
  /** Install what the CPE announces into the kernel (to check it arrived). Default true. */
  kernel?: boolean;
}

const SAFE = /^[0-9./]+$/;

export function renderGsaPeerConfig(o: GsaPeerOptions): string {
  const all = [o.address, o.cpeAddress, ...(o.prefixes ?? M365_PREFIXES), ...(o.extra ?? []), ...(o.flood ?? [])];
  const bad = all.find((s) => !SAFE.test(s));
  if (bad !== undefined) throw new Error(`gsa-peer: ${JSON.stringify(bad)} is not an address or prefix`);
  if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(o.interface)) throw new Error(`gsa-peer: bad interface name ${JSON.stringify(o.interface)}`);
  const routes = (list: readonly string[]) => list.map((p) => `  route ${p} blackhole;`);
  return [
    '# A GSA-like BGP speaker (branchgate lab / tests).',
    `router id ${o.address};`,
    'log stderr { info, remote, warning, error, auth, fatal, bug };',
    'protocol device { }',
    'protocol static announced {',
    '  ipv4;',
    ...routes([...(o.prefixes ?? M365_PREFIXES), ...(o.extra ?? [])]),
    '}',
    '# The CPE\'s BGP address through the tunnel: resolves the next hop of what the CPE announces.',
    `protocol static to_cpe { ipv4; route ${o.cpeAddress}/32 via "${o.interface}"; }`,
    'protocol static flood {',
    '  disabled;',
    '  ipv4;',
    ...routes(o.flood ?? []),
    '}',
    ...(o.kernel === false ? [] : ['protocol kernel { ipv4 { import none; export where source = RTS_BGP; }; }']),
    // Only BGP routes go to the kernel; to_cpe is for next-hop resolution (the lab or test
    // installs its own kernel route to the CPE).
    'protocol bgp cpe {',
    `  local as ${o.asn ?? 65476};`,
    `  source address ${o.address};`,
    `  neighbor ${o.cpeAddress} as ${o.cpeAsn};`,
    '  multihop 255;',
    '  connect delay time 1;',
    '  error wait time 1, 10;',
    '  ipv4 { import all; export where proto = "announced" || proto = "flood"; };',
    '}',
    '',
  ].join('\n');
}
