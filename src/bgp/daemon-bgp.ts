/**
 * The daemon's view of BGP: one BgpSupervisor built from the config, fed the tunnels' up/down
 * from the engine's child-up / ike-down events, and read back for `status`. daemon.ts calls only
 * this module, so BGP can grow (zone redundancy, reload) without touching the daemon's wiring.
 *
 * A tunnel counts as "up" for BGP while it has at least one installed Child SA: the BGP session
 * runs inside the tunnel, so without a Child SA it cannot carry anything.
 * - child-rekeyed replaces the old SPI with the new one (a rekey never takes the tunnel down,
 *   even if the old SA's child-down arrives before or without a child-up for the new one);
 * - dpd-dead takes the tunnel down at once: the peer is gone, and waiting for the IKE SA's
 *   teardown (or a BGP hold timer) would only delay the move to the other tunnel of a
 *   zone-redundant pair.
 */
import type { Config } from '../config/types.js';
import type { EngineEvent } from '../ike/actions.js';
import type { Logger } from '../log.js';
import type { BgpNeighborDoc } from '../control/status.js';
import { BgpSupervisor, type BgpEvent } from './supervisor.js';
import { connectedIssues, hostAddresses } from './preflight.js';

export interface DaemonBgp {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * A reload (SIGHUP / `branchgate reload`): apply the new bgp: section, tunnels and failMode with
   * BIRD's `configure` (sessions whose settings did not change stay up). A config without bgp:
   * where there was one needs stop() instead; the daemon decides that.
   */
  update(config: Config): Promise<void>;
  /** Every engine event goes here; BGP follows the tunnels' Child SAs. */
  onEngineEvent(e: EngineEvent): void;
  neighbors(): BgpNeighborDoc[];
  onEvent(fn: (e: BgpEvent) => void): () => void;
  /** HA role: announce the branch prefixes (master) or withdraw them (docs/ha.md). */
  setAdvertise(on: boolean): Promise<void>;
}

/** null when the config has no bgp: section. */
export function createDaemonBgp(config: Config, logger: Logger): DaemonBgp | null {
  const bgp = config.bgp;
  if (!bgp) return null;
  const log = logger.child({ component: 'bgp' });
  const sup = new BgpSupervisor({
    bgp,
    tunnels: config.tunnels.map((t) => ({ name: t.name, interface: t.interface, remoteAddress: t.remoteAddress })),
    failMode: config.routing.failMode,
    controlSocket: config.control.socket,
    log,
    // An HA pair announces only from the box holding the LAN gateway (src/ha/daemon-ha.ts).
    advertise: config.ha === undefined,
  });
  // One log line per session change, limit trip and BIRD exit: what an operator greps for.
  sup.onEvent((e) => {
    if (e.kind === 'neighbor') log.info({ neighbor: e.address, tunnel: e.tunnel, from: e.from, to: e.to, ...(e.info ? { info: e.info } : {}) }, `bgp: neighbor ${e.address} ${e.from} → ${e.to}`);
    else if (e.kind === 'limit') log.warn({ neighbor: e.address, tunnel: e.tunnel, limit: e.limit }, `bgp: neighbor ${e.address} sent more than ${e.limit} prefixes; session disabled until a reload`);
    else if (e.what === 'exited') log.warn({ code: e.code, signal: e.signal, restartInMs: e.restartInMs }, 'bgp: BIRD exited; restarting');
  });
  const children = new Map<string, Set<string>>();
  const set = (tunnel: string, state: 'up' | 'down') => {
    sup.setTunnelState(tunnel, state).catch((err: unknown) => log.error({ err, tunnel }, 'BGP could not follow the tunnel state'));
  };
  return {
    async start() {
      // GSA's BGP address against the host's connected subnets (preflight.ts): logged, not fatal.
      const tunnelIfaces = new Set(config.tunnels.map((t) => t.interface));
      for (const i of connectedIssues(bgp.neighbors, await hostAddresses(), tunnelIfaces)) {
        log[i.level]({ neighbor: i.neighbor, interface: i.ifname }, `bgp: ${i.message}`);
      }
      await sup.start();
    },
    stop: () => sup.stop(),
    update(next) {
      if (!next.bgp) return Promise.reject(new Error('update: the new config has no bgp: section (stop BGP instead)'));
      return sup.update({
        bgp: next.bgp,
        tunnels: next.tunnels.map((t) => ({ name: t.name, interface: t.interface, remoteAddress: t.remoteAddress })),
        failMode: next.routing.failMode,
      });
    },
    onEngineEvent(e) {
      const live = children.get(e.tunnel) ?? new Set<string>();
      children.set(e.tunnel, live);
      const before = live.size;
      if (e.type === 'child-up') live.add(e.spiIn);
      else if (e.type === 'child-down') live.delete(e.spiIn);
      else if (e.type === 'child-rekeyed') {
        live.delete(e.oldSpiIn);
        live.add(e.spiIn);
      } else if (e.type === 'ike-down' || e.type === 'dpd-dead') live.clear();
      else return;
      if (before === 0 && live.size > 0) set(e.tunnel, 'up');
      else if (before > 0 && live.size === 0) set(e.tunnel, 'down');
    },
    neighbors: () => sup.status().neighbors.map((n) => ({ address: n.address, state: n.state, received: n.received, advertised: n.advertised })),
    onEvent: (fn) => sup.onEvent(fn),
    setAdvertise: (on) => sup.setAdvertise(on),
  };
}
