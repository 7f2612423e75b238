/**
 * The soak run's lab: the four-namespace topology of ../lab/topology.ts with strongSwan 5.9.8
 * (kernel-libipsec) as the endpoint in gw and the built daemon (dist/, native dataplane, metrics
 * on) as the CPE in cpe, plus a `branchgate monitor` subscription for the event counts.
 *
 *   branch 100.64.10.2 ─ cpe (branchgate, bg0) ═ gw (charon, IKE 198.51.100.2) ─ svc 100.64.20.2
 *
 * Lifetimes are long (IKE 8 h, Child 2 h: neither side rekeys by itself within a 30-minute run),
 * so every rekey in the run is one the soak asked for through the CLI and can be counted.
 */
import { Branchgate, requireBuild, type BgTunnelConfig, type Monitor } from '../lab/branchgate.js';
import { Charon, type SwanConn } from '../lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from '../lab/topology.js';
import { siteConn, siteTunnel } from '../lab/site.js';
import { requireTrafficTools } from '../lab/traffic.js';

export const TUNNEL = 'gw';
export const CONN = 'branch';
export const TUN = 'bg0';
/** The exporter listens on the cpe namespace's own loopback; nothing leaves the namespace. */
export const METRICS_LISTEN = '127.0.0.1:9477';
const PSK = 'soak-psk-7d21e4';

export interface SoakLab {
  topo: Topology;
  sw: Charon;
  bg: Branchgate;
  mon: Monitor;
  /** The daemon's pid (`ip netns exec` execs node, so the spawned pid is the daemon). */
  pid: number;
  destroy(): Promise<void>;
}

function swanConn(): SwanConn {
  return siteConn(CONN, PSK, {
    // PFS on Child rekeys: each one runs a fresh ECDH, as a GSA policy with PFS would.
    espProposals: ['aes256gcm16-ecp256'], extra: { rekey_time: '8h' }, childExtra: { rekey_time: '2h' },
  });
}

function bgTunnel(): BgTunnelConfig {
  return siteTunnel(TUNNEL, PSK, { pfs: 'ecp256', dpd: 10, ikeLifetime: '8h', childLifetime: '2h', interface: TUN, mssClamp: 1340 });
}

/**
 * Builds the lab and waits until both sides are established and the route to svc is on bg0.
 * Throws (never skips) when root, the namespace tools, strongSwan, iperf3 or dist/ are missing,
 * or when the daemon did not load the native fast path: the soak is about the production path.
 */
export async function startSoakLab(opts: { tag?: string; logLevel?: string; daemonEnv?: NodeJS.ProcessEnv } = {}): Promise<SoakLab> {
  requireTrafficTools();
  requireBuild();
  const tag = opts.tag ?? 'soak';
  const parts: Partial<Omit<SoakLab, 'destroy' | 'pid'>> = {};
  const destroy = async (): Promise<void> => {
    await parts.bg?.stop().catch(() => undefined);
    await parts.sw?.stop().catch(() => undefined);
    await parts.topo?.destroy();
  };
  try {
    const topo = (parts.topo = await createTopology({ tag }));
    const sw = (parts.sw = await Charon.start(topo.gw, { tag: `${tag}gw` }));
    sw.writeConns([swanConn()]);
    await sw.loadAll();
    const bg = (parts.bg = await Branchgate.start(topo.cpe, [bgTunnel()], {
      tag, logLevel: opts.logLevel ?? 'info', ...(opts.daemonEnv ? { env: opts.daemonEnv } : {}),
      extra: { control: { metrics: METRICS_LISTEN }, routing: { failMode: 'open', pinUnderlay: true } },
    }));
    const mon = (parts.mon = await bg.monitor());
    await Promise.all([bg.waitEstablished(TUNNEL, 30_000), sw.waitEstablished(CONN, 30_000)]);
    await waitRouteDev(topo.cpe, ADDR.svc, TUN);
    const pid = bg.pid();
    if (pid === undefined) throw new Error('branchgate has no pid');
    const running = bg.logRecords().find((r) => r.msg === 'branchgate running');
    if (running?.dataplane !== 'native') {
      throw new Error(`the soak needs the native dataplane; the daemon runs ${String(running?.dataplane)} (${String(running?.dataplaneReason ?? 'no reason logged')}): ` +
        'run `npm ci` (it builds native/) and check `npx branchgate version`');
    }
    return { topo, sw, bg, mon, pid, destroy };
  } catch (err) {
    const logs = parts.bg ? `\n${parts.bg.logs(40)}` : '';
    await destroy();
    throw new Error(`soak lab setup failed: ${(err as Error).message}${logs}`);
  }
}
