/**
 * bird.conf (BIRD 2) from branchgate's bgp: section and tunnels. One file, regenerated whole on
 * every change and applied with `configure` (supervisor.ts); nothing else edits it.
 *
 * What it sets up (docs/gsa-reference.md §4, §9 items 9–12):
 * - router id = the CPE BGP address ("Device BGP address");
 * - one eBGP protocol per neighbor, `source address` = the CPE BGP address, multihop (TTL 255:
 *   GSA's session runs between two addresses that are not on a shared link, §4.1 [3P L1]);
 * - `bg_peers`: a static /32 to each neighbor's address through its tunnel's interface (a device
 *   route), exported to the kernel: without it the CPE cannot reach GSA's BGP address (§4.1 S2);
 * - `bg_lan`: the advertised branch prefixes as `unreachable` statics. BIRD exports to BGP only
 *   what is in its table; these exist only for that and never reach the kernel (the kernel
 *   export filter admits BGP routes, bg_peers and hold blackholes, nothing else);
 * - import filter per neighbor: refuse our own LAN and its more-specifics, any BGP address as a
 *   /32, and any prefix containing a tunnel's remote endpoint (only the exact /32 when
 *   acceptCoveringEndpoint is set; the /32 underlay pins then win by length, routing/plan.ts).
 *   Pattern `A/32{0,32}` matches every prefix containing A (BIRD prefix-set semantics: the first
 *   min(len, 32) bits must match);
 * - import limit (max-prefix guard) with a configurable action;
 * - `bg_kernel`: BGP routes into the kernel's main table at `kernelMetric`, protocol "bird",
 *   with ECMP (`merge paths`) when multipath is on. Next hop = the neighbor's address, resolved
 *   recursively through bg_peers, so each route points at the right TUN;
 * - `bg_hold_*`: blackholes for a neighbor's last learned prefixes while its tunnel is down in
 *   failMode closed, at preference 10 so any live BGP route wins.
 * Active/standby (multipath off): neighbor N's routes get preference 100 - N.
 */
import type { BgpConfig } from '../config/types.js';
import { cidrContains, cidrToString, isIPv4, parseCidr } from '../config/cidr.js';
import { BGP_DEFAULTS } from '../config/bgp-defaults.js';

export interface BirdTunnel {
  name: string;
  interface: string;
  /** IPv4 address, or "%any" (a responder: no endpoint to protect). */
  remoteAddress: string;
}

export interface BirdConfigInput {
  bgp: BgpConfig;
  tunnels: readonly BirdTunnel[];
  /** Neighbors (by address) whose protocol is disabled: their tunnel is down. */
  disabled?: ReadonlySet<string>;
  /** Per neighbor address: prefixes to hold as blackholes (failMode closed, tunnel down). */
  hold?: ReadonlyMap<string, readonly string[]>;
  /** false: announce nothing (the backup box of an HA pair, docs/ha.md "Routing"). Default true. */
  advertise?: boolean;
}

/** BIRD protocol name of a neighbor: stable across reconfigurations, derived from its address. */
export function protocolName(address: string): string {
  return `bgp_${ipv4(address, 'neighbor address').replace(/\./g, '_')}`;
}

export const HOLD_PREFERENCE = 10;

function ipv4(s: string, what: string): string {
  if (!isIPv4(s)) throw new Error(`bird-config: ${what} ${JSON.stringify(s)} is not an IPv4 address`);
  return s;
}

function prefix(s: string, what: string): string {
  const c = parseCidr(s);
  if (!c.ok) throw new Error(`bird-config: ${what}: ${c.error}`);
  return cidrToString(c.value);
}

function asn(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 4294967295) throw new Error(`bird-config: ${what} ${n} is not an ASN`);
  return n;
}

function iface(s: string): string {
  // The config schema's rule; repeated here because the name lands inside a quoted string.
  if (!/^(?!\.\.?$)[a-zA-Z0-9_.-]{1,15}$/.test(s)) throw new Error(`bird-config: interface ${JSON.stringify(s)} is not a valid name`);
  return s;
}

function uint(n: number, what: string, min: number, max: number): number {
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`bird-config: ${what} ${n} is not in ${min}..${max}`);
  return n;
}

/** A BIRD prefix set, or undefined when empty (BIRD refuses "[ ]"). */
const set = (items: readonly string[]): string | undefined => (items.length ? `[ ${items.join(', ')} ]` : undefined);

/** Resolved options with BGP_DEFAULTS applied. */
export function bgpOptions(bgp: BgpConfig) {
  return {
    maxPrefixes: bgp.maxPrefixes ?? BGP_DEFAULTS.maxPrefixes,
    maxPrefixAction: bgp.maxPrefixAction ?? BGP_DEFAULTS.maxPrefixAction,
    holdTime: bgp.holdTime ?? BGP_DEFAULTS.holdTime,
    multipath: bgp.multipath ?? BGP_DEFAULTS.multipath,
    kernelMetric: bgp.kernelMetric ?? BGP_DEFAULTS.kernelMetric,
    acceptCoveringEndpoint: bgp.acceptCoveringEndpoint ?? BGP_DEFAULTS.acceptCoveringEndpoint,
  };
}

function importFilter(name: string, lan: string[], addresses: string[], endpoints: string[], covering: boolean): string {
  const lines = [`filter bg_import_${name} {`, '  if net.type != NET_IP4 then reject;'];
  const own = set(lan.map((p) => `${p}+`));
  if (own) lines.push(`  if net ~ ${own} then reject;            # the branch LAN (bgp.advertise) and its subnets`);
  lines.push(`  if net ~ ${set(addresses.map((a) => `${a}/32`))} then reject;   # BGP addresses themselves`);
  const ep = set(endpoints.map((a) => (covering ? `${a}/32` : `${a}/32{0,32}`)));
  if (ep) lines.push(`  if net ~ ${ep} then reject;   # ${covering ? 'a tunnel endpoint itself' : 'anything containing a tunnel endpoint: the underlay must carry it'}`);
  lines.push('  accept;', '}');
  return lines.join('\n');
}

export function renderBirdConfig(input: BirdConfigInput): string {
  const { bgp } = input;
  const o = bgpOptions(bgp);
  const me = ipv4(bgp.address, 'bgp.address');
  const localAs = asn(bgp.asn, 'bgp.asn');
  const lan = bgp.advertise.map((p) => prefix(p, 'bgp.advertise'));
  const tunnels = new Map(input.tunnels.map((t) => [t.name, t]));
  const endpoints = [...new Set(input.tunnels.filter((t) => t.remoteAddress !== '%any').map((t) => ipv4(t.remoteAddress, `tunnel ${t.name} remoteAddress`)))];
  const addresses = [me, ...bgp.neighbors.map((n) => ipv4(n.address, 'neighbor address'))];
  const inLan = bgp.advertise.some((p) => {
    const c = parseCidr(p);
    return c.ok && c.value.prefix > 0 && cidrContains(c.value, me);
  });
  const out: string[] = [
    '# Generated by branchgate from its bgp: section. Do not edit: it is rewritten on every change.',
    `router id ${me};`,
    'log stderr { info, remote, warning, error, auth, fatal, bug };',
    '',
    'protocol device bg_device { scan time 10; }',
    '',
    '# Each neighbor\'s BGP address through its tunnel interface (gsa.md §4.1: "a static route destined to BGP1 sent over the tunnel").',
    'protocol static bg_peers {',
    '  ipv4;',
    ...bgp.neighbors.map((n) => {
      const t = tunnels.get(n.tunnel);
      if (!t) throw new Error(`bird-config: neighbor ${n.address} names tunnel ${JSON.stringify(n.tunnel)}, which is not configured`);
      return `  route ${n.address}/32 via "${iface(t.interface)}";`;
    }),
    '}',
    '',
    '# The branch prefixes, only so that BGP can announce them; never exported to the kernel.',
    'protocol static bg_lan {',
    '  ipv4;',
    ...lan.map((p) => `  route ${p} unreachable;`),
    '}',
    '',
    'filter bg_export {',
    ...(input.advertise === false ? ['  # HA backup: the branch prefixes are withdrawn until this box holds the LAN gateway.'] : ['  if proto = "bg_lan" then accept;']),
    '  reject;',
    '}',
    '',
    'filter bg_kernel_out {',
    '  if proto = "bg_peers" then accept;',
    '  if proto ~ "bg_hold_*" then accept;',
    // The CPE's own traffic to GSA's prefixes leaves from the BGP address only when GSA can
    // route back to it, i.e. when it is inside an advertised prefix (gsa.md §4.2, L1's setup).
    `  if source = RTS_BGP then {${inLan ? ` krt_prefsrc = ${me};` : ''} accept; }`,
    '  reject;',
    '}',
    '',
    'protocol kernel bg_kernel {',
    // Internet Access: a table of our own, consulted only after main's non-default routes (pins,
    // bypass, the LAN), so GSA's 0.0.0.0/0 never replaces the branch's default route in main.
    ...(bgp.kernelTable !== undefined ? [`  kernel table ${uint(bgp.kernelTable, 'kernelTable', 1, 252)};`] : []),
    '  ipv4 { import none; export filter bg_kernel_out; };',
    `  metric ${uint(o.kernelMetric, 'kernelMetric', 1, 4294967295)};`,
    ...(o.multipath ? ['  merge paths on;'] : []),
    '}',
  ];
  bgp.neighbors.forEach((n, i) => {
    const name = protocolName(n.address).slice(4);
    const hold = (input.hold?.get(n.address) ?? []).map((p) => prefix(p, `hold prefix of ${n.address}`));
    out.push('', importFilter(name, lan, addresses, endpoints, o.acceptCoveringEndpoint));
    out.push(
      '',
      `protocol bgp ${protocolName(n.address)} {`,
      `  description "branchgate neighbor ${n.address} via tunnel ${n.tunnel}";`,
      `  disabled ${input.disabled?.has(n.address) ? 'yes' : 'no'};`,
      `  local as ${localAs};`,
      `  source address ${me};`,
      `  neighbor ${n.address} as ${asn(n.asn, `neighbor ${n.address} asn`)};`,
      '  multihop 255;',
      `  hold time ${uint(o.holdTime, 'holdTime', 0, 65535)};`,
      // Connect within a second of the tunnel coming up (BIRD's default delay is 5 s), retry
      // every 5 s, and after an error wait 5 s growing to 60 s.
      '  connect delay time 1;',
      '  connect retry time 5;',
      '  error wait time 5, 60;',
      '  ipv4 {',
      `    preference ${o.multipath ? 100 : Math.max(20, 100 - i)};`,
      `    import filter bg_import_${name};`,
      '    export filter bg_export;',
      `    import limit ${uint(o.maxPrefixes, 'maxPrefixes', 1, 10_000_000)} action ${o.maxPrefixAction};`,
      '  };',
      '}',
    );
    if (hold.length > 0) {
      out.push('', `protocol static bg_hold_${name} {`, `  ipv4 { preference ${HOLD_PREFERENCE}; };`, ...hold.map((p) => `  route ${p} blackhole;`), '}');
    }
  });
  return `${out.join('\n')}\n`;
}
