/**
 * The four-namespace datapath lab:
 *
 *   branch ──lan0── cpe ──wan0══wan0── gw ──lan0── svc
 *   100.64.10.2   100.64.10.1  192.0.2.1   192.0.2.254  100.64.20.1   100.64.20.2
 *                                          lo: 198.51.100.2 (IKE/ESP endpoint)
 *                                          lo: 203.0.113.10 ("internet", never selected)
 *
 * - branch: LAN host, default via the CPE.
 * - cpe: the CPE under test (branchgate, or strongSwan for the reference run). ip_forward=1, default
 *   route via 192.0.2.254. With `natLan` (default on) it masquerades LAN sources that leave by wan0,
 *   as a real CPE does for its internet breakout, so unselected traffic from the branch gets its
 *   replies back over the underlay even though gw routes 100.64.10.0/24 into its own tunnel.
 * - gw: the strongSwan endpoint and the underlay router. Its IKE address 198.51.100.2 sits on `lo`
 *   behind 192.0.2.254, NOT on the CPE's connected /24: in full-tunnel mode (0.0.0.0/1 +
 *   128.0.0.0/1 into the TUN) the outer packets to it would be captured by 128.0.0.0/1 unless the
 *   underlay pin (/32 via 192.0.2.254 dev wan0) exists, so the full-tunnel test really tests the pin.
 * - svc: service host behind the endpoint, default via gw.
 *
 * With `middle: 'router' | 'nat'` a fifth namespace sits on the underlay between cpe and gw
 * (the lifecycle tests: loss on a router's forward chain, a masquerading NAT):
 *
 *   cpe ──wan0══wan0── mid ──out0══wan0── gw
 *   192.0.2.1      192.0.2.254  100.64.99.1   100.64.99.254
 *
 * cpe's default route still points at 192.0.2.254 (now mid's inside address); mid routes
 * everything else to gw; gw reaches 192.0.2.0/24 via mid (router) or only sees mid's
 * 100.64.99.1 (nat: `masquerade` on out0, so IKE and ESP-in-UDP arrive from 100.64.99.1:port).
 *
 * Only 100.64.0.0/10, 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24 are used. No dummy links
 * (extra addresses on lo). Namespaces come from netns.ts (unique names, cleanup registered).
 */
import { addAddress, addVeth, createNamespace, deleteNamespace, exec, sweepStale, uniqueName, waitFor } from './netns.js';

export const ADDR = {
  branch: '100.64.10.2',
  cpeLan: '100.64.10.1',
  lanPrefix: '100.64.10.0/24',
  cpeWan: '192.0.2.1',
  /** gw's wan0 address: the CPE's default gateway (underlay router). */
  router: '192.0.2.254',
  /** gw's IKE/ESP address (on lo, reached via the router). */
  gwIke: '198.51.100.2',
  gwLan: '100.64.20.1',
  svc: '100.64.20.2',
  svcPrefix: '100.64.20.0/24',
  /** Reachable over the underlay, never in any tunnel's routes (on gw's lo). */
  internet: '203.0.113.10',
  /** With a middle box: its outside address (the NAT's public address) and gw's address on that link. */
  midOut: '100.64.99.1',
  gwMid: '100.64.99.254',
} as const;

/** Interface names (the same in every namespace that has them); `out` is the middle box's gw side. */
export const IF = { lan: 'lan0', wan: 'wan0', out: 'out0' } as const;

export interface Topology {
  branch: string;
  cpe: string;
  gw: string;
  svc: string;
  /** The middle box (router or NAT), when asked for. */
  mid?: string;
  destroy(): Promise<void>;
}

export interface TopologyOptions {
  /** Lowercase letters, part of the namespace names (default 't'). */
  tag?: string;
  /** Masquerade 100.64.10.0/24 leaving cpe's wan0 (default true). */
  natLan?: boolean;
  /** A router or a masquerading NAT between cpe and gw (default none: gw is the router). */
  middle?: 'router' | 'nat';
}

async function sysctl(ns: string, kv: string): Promise<void> {
  await exec(ns, ['sysctl', '-q', '-w', kv]);
}

export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  sweepStale();
  const tag = opts.tag ?? 't';
  const made: string[] = [];
  const ns = async (role: string): Promise<string> => {
    const n = await createNamespace(uniqueName(`${tag}${role}`));
    made.push(n);
    return n;
  };
  try {
    const branch = await ns('br');
    const cpe = await ns('cpe');
    const mid = opts.middle ? await ns(opts.middle === 'nat' ? 'nat' : 'rt') : undefined;
    const gw = await ns('gw');
    const svc = await ns('svc');

    await addVeth(branch, IF.lan, cpe, IF.lan);
    if (mid) {
      await addVeth(cpe, IF.wan, mid, IF.wan);
      await addVeth(mid, IF.out, gw, IF.wan);
    } else {
      await addVeth(cpe, IF.wan, gw, IF.wan);
    }
    await addVeth(gw, IF.lan, svc, IF.lan);

    await addAddress(branch, IF.lan, `${ADDR.branch}/24`);
    await exec(branch, ['ip', 'route', 'add', 'default', 'via', ADDR.cpeLan]);

    await addAddress(cpe, IF.lan, `${ADDR.cpeLan}/24`);
    await addAddress(cpe, IF.wan, `${ADDR.cpeWan}/24`);
    await exec(cpe, ['ip', 'route', 'add', 'default', 'via', ADDR.router, 'dev', IF.wan]);
    await sysctl(cpe, 'net.ipv4.ip_forward=1');
    if (opts.natLan !== false) {
      await exec(cpe, ['nft', 'add', 'table', 'ip', 'bgtnat']);
      await exec(cpe, ['nft', 'add', 'chain', 'ip', 'bgtnat', 'post', '{', 'type', 'nat', 'hook', 'postrouting', 'priority', '100', ';', '}']);
      await exec(cpe, ['nft', 'add', 'rule', 'ip', 'bgtnat', 'post', 'oifname', IF.wan, 'ip', 'saddr', ADDR.lanPrefix, 'masquerade']);
    }

    if (mid) {
      await addAddress(mid, IF.wan, `${ADDR.router}/24`);
      await addAddress(mid, IF.out, `${ADDR.midOut}/24`);
      await exec(mid, ['ip', 'route', 'add', 'default', 'via', ADDR.gwMid, 'dev', IF.out]);
      await sysctl(mid, 'net.ipv4.ip_forward=1');
      if (opts.middle === 'nat') await setMasquerade(mid);
      await addAddress(gw, IF.wan, `${ADDR.gwMid}/24`);
      if (opts.middle === 'router') await exec(gw, ['ip', 'route', 'add', '192.0.2.0/24', 'via', ADDR.midOut, 'dev', IF.wan]);
    } else {
      await addAddress(gw, IF.wan, `${ADDR.router}/24`);
    }
    await addAddress(gw, 'lo', `${ADDR.gwIke}/32`);
    await addAddress(gw, 'lo', `${ADDR.internet}/32`);
    await addAddress(gw, IF.lan, `${ADDR.gwLan}/24`);
    await sysctl(gw, 'net.ipv4.ip_forward=1');

    await addAddress(svc, IF.lan, `${ADDR.svc}/24`);
    await exec(svc, ['ip', 'route', 'add', 'default', 'via', ADDR.gwLan]);

    // The underlay must work before any tunnel exists: cpe reaches the endpoint and the "internet".
    for (const dst of [ADDR.gwIke, ADDR.internet]) {
      const r = await exec(cpe, ['ping', '-c', '1', '-W', '2', dst], { allowFail: true, timeoutMs: 5000 });
      if (r.code !== 0) throw new Error(`topology: cpe cannot ping ${dst} over the underlay:\n${r.stdout}${r.stderr}`);
    }
    return {
      branch, cpe, gw, svc, ...(mid ? { mid } : {}),
      async destroy() {
        for (const n of made.reverse()) await deleteNamespace(n);
      },
    };
  } catch (err) {
    for (const n of made.reverse()) await deleteNamespace(n);
    throw err;
  }
}

/** Which masquerade: the outgoing interface and the nft table that holds its rule. */
export interface NatSide {
  /** Default out0: the CPE's traffic towards gw. wan0 hides gw's side from the CPE instead. */
  oif?: string;
  table?: string;
}

/**
 * The middle box's NAT: `masquerade` on `oif` (default out0) in its own `table ip` (default
 * bgtmid), UDP optionally to a source-port range. Replaces any previous rule there (existing
 * conntrack mappings keep their ports until flushed, see moveNatMapping).
 */
export async function setMasquerade(mid: string, ports?: [number, number], side: NatSide = {}): Promise<void> {
  const oif = side.oif ?? IF.out;
  const table = side.table ?? 'bgtmid';
  await exec(mid, ['nft', 'delete', 'table', 'ip', table], { allowFail: true });
  await exec(mid, ['nft', 'add', 'table', 'ip', table]);
  await exec(mid, ['nft', 'add', 'chain', 'ip', table, 'post', '{', 'type', 'nat', 'hook', 'postrouting', 'priority', '100', ';', '}']);
  const to = ports ? ['to', `:${ports[0]}-${ports[1]}`] : [];
  await exec(mid, ['nft', 'add', 'rule', 'ip', table, 'post', 'oifname', oif, 'meta', 'l4proto', 'udp', 'masquerade', ...to]);
  await exec(mid, ['nft', 'add', 'rule', 'ip', table, 'post', 'oifname', oif, 'masquerade']);
}

/**
 * Force the NAT to map its flows to new ports, as a NAT reboot or a mapping timeout does:
 * masquerade to `ports`, then take the interface down and up, which makes the kernel drop every
 * conntrack entry masqueraded through it (nf_nat_masquerade's device notifier; no conntrack tool
 * needed). The next packet of each flow gets a fresh mapping from the new range.
 */
export async function moveNatMapping(mid: string, ports: [number, number], side: NatSide = {}): Promise<void> {
  const oif = side.oif ?? IF.out;
  await setMasquerade(mid, ports, side);
  await exec(mid, ['ip', 'link', 'set', oif, 'down']);
  await exec(mid, ['ip', 'link', 'set', oif, 'up']);
  // the link going down took its routes with it
  if (oif === IF.out) await exec(mid, ['ip', 'route', 'replace', 'default', 'via', ADDR.gwMid, 'dev', IF.out]);
  else await exec(mid, ['ip', 'route', 'replace', '192.0.2.0/24', 'dev', oif, 'src', ADDR.router]);
}

/**
 * Random loss on the middle router's forward chain, both directions (no netem on this kernel):
 * one packet in `oneIn` is dropped (`meta mark set numgen random mod N`, then drop mark 0, so a
 * single random draw decides each packet). IKE messages among the drops are counted apart (UDP
 * 500, or UDP 4500 with the four-zero-octet non-ESP marker). Returns a reader of the counts.
 */
export async function addLoss(mid: string, oneIn: number): Promise<() => Promise<{ dropped: number; ike: number }>> {
  const nft = (...a: string[]) => exec(mid, ['nft', ...a]);
  await nft('add', 'table', 'inet', 'bgtloss');
  await nft('add', 'chain', 'inet', 'bgtloss', 'lossy', '{', 'type', 'filter', 'hook', 'forward', 'priority', '0', ';', 'policy', 'accept', ';', '}');
  for (const c of ['dropped', 'ike']) await nft('add', 'counter', 'inet', 'bgtloss', c);
  await nft('add', 'rule', 'inet', 'bgtloss', 'lossy', 'meta', 'mark', 'set', 'numgen', 'random', 'mod', String(oneIn));
  await nft('add', 'rule', 'inet', 'bgtloss', 'lossy', 'meta', 'mark', '0', 'udp', 'dport', '500', 'counter', 'name', 'ike');
  await nft('add', 'rule', 'inet', 'bgtloss', 'lossy', 'meta', 'mark', '0', 'udp', 'dport', '4500', '@th,64,32', '0', 'counter', 'name', 'ike');
  await nft('add', 'rule', 'inet', 'bgtloss', 'lossy', 'meta', 'mark', '0', 'counter', 'name', 'dropped', 'drop');
  const read = async (name: string): Promise<number> => {
    const r = await nft('-j', 'list', 'counter', 'inet', 'bgtloss', name);
    const doc = JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] };
    return doc.nftables.find((x) => x.counter)?.counter?.packets ?? 0;
  };
  return async () => ({ dropped: await read('dropped'), ike: await read('ike') });
}

export async function removeLoss(mid: string): Promise<void> {
  await exec(mid, ['nft', 'delete', 'table', 'inet', 'bgtloss'], { allowFail: true });
}

/** `ip route get DST` in ns, as { dev, via, src, raw }. */
export async function routeGet(ns: string, dst: string, from?: string): Promise<{ dev?: string; via?: string; src?: string; raw: string }> {
  const args = ['ip', 'route', 'get', dst, ...(from ? ['from', from, 'iif', IF.lan] : [])];
  const raw = (await exec(ns, args, { allowFail: true })).stdout.trim() || '(no route)';
  return { dev: /\bdev (\S+)/.exec(raw)?.[1], via: /\bvia (\S+)/.exec(raw)?.[1], src: /\bsrc (\S+)/.exec(raw)?.[1], raw };
}

/** Waits until ns routes dst out of `dev` (e.g. the tunnel's TUN once the routes are installed). */
export function waitRouteDev(ns: string, dst: string, dev: string, timeoutMs = 10_000): Promise<string> {
  let last = '';
  return waitFor(`route to ${dst} in ${ns} via dev ${dev}`, async () => {
    last = (await routeGet(ns, dst)).raw;
    return new RegExp(`\\bdev ${dev}\\b`).test(last) ? last : undefined;
  }, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}; \`ip route get ${dst}\` there says: ${last}`);
  });
}

/** Everything an operator would look at when a datapath test fails. */
export async function dumpRouting(ns: string, label: string): Promise<string> {
  const cmds = [['ip', '-br', 'addr'], ['ip', 'route'], ['ip', 'route', 'show', 'table', '220'], ['ip', 'rule'], ['ip', '-s', 'link']];
  const out: string[] = [`--- ${label} (${ns}) ---`];
  for (const c of cmds) {
    const r = await exec(ns, c, { allowFail: true, timeoutMs: 5000 });
    out.push(`$ ${c.join(' ')}\n${(r.stdout + r.stderr).replace(/^Error: ipv4: FIB table does not exist\.$/m, '(no table 220)').trim()}`);
  }
  return out.join('\n');
}
