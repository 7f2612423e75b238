/**
 * The daemon's view of HA (docs/ha.md): one HaSupervisor built from the ha: section, fed the
 * tunnels' state from the engine's events and the BGP sessions from the BGP supervisor, and
 * driving BGP's announcement by role. daemon.ts calls only this module.
 *
 * Health (the VRRP tracking input): at least one tunnel has an installed Child SA and, when bgp:
 * is configured, a BGP neighbor on that tunnel is Established. A tunnel counts as up exactly as
 * daemon-bgp.ts counts it (child-up/-down/-rekeyed; dpd-dead and ike-down take it down at once).
 *
 * Routing: master announces the branch prefixes (bgp.advertise), every other role withdraws
 * them, so the endpoint sends return traffic to the box the LAN uses (docs/ha.md "Routing").
 */
import type { Config } from '../config/types.js';
import type { EngineEvent } from '../ike/actions.js';
import type { Logger } from '../log.js';
import type { DaemonBgp } from '../bgp/daemon-bgp.js';
import { HaSupervisor, type HaEvent, type HaStatus } from './supervisor.js';

export interface DaemonHa {
  start(): Promise<void>;
  stop(): Promise<void>;
  update(config: Config): Promise<void>;
  onEngineEvent(e: EngineEvent): void;
  status(): HaStatus;
  onEvent(fn: (e: HaEvent) => void): () => void;
}

export function createDaemonHa(config: Config, logger: Logger, bgp: DaemonBgp | null): DaemonHa | null {
  if (!config.ha) return null;
  const log = logger.child({ component: 'ha' });
  const sup = new HaSupervisor(config.ha, { log });
  let cfg = config;
  const live = new Map<string, Set<string>>();
  let timer: NodeJS.Timeout | undefined;

  const evaluate = () => {
    const established = new Set((bgp?.neighbors() ?? []).filter((n) => n.state === 'Established').map((n) => n.address));
    const healthy = [...live].some(([tunnel, spis]) => spis.size > 0
      && (!cfg.bgp || cfg.bgp.neighbors.some((n) => n.tunnel === tunnel && established.has(n.address))));
    sup.setHealthy(healthy);
  };

  sup.onEvent((e) => {
    if (e.kind === 'role') {
      log.info({ from: e.from, to: e.to, priority: e.priority }, `ha: role ${e.from} → ${e.to}`);
      bgp?.setAdvertise(e.to === 'master').catch((err: unknown) => log.error({ err }, 'ha: BGP could not follow the role'));
    } else if (e.kind === 'health') {
      log[e.healthy ? 'info' : 'warn']({ healthy: e.healthy, priority: e.priority }, e.healthy ? 'ha: healthy (tunnel and BGP up): full VRRP priority' : 'ha: no tunnel with its BGP session up: VRRP priority lowered so the peer takes the LAN gateway');
    } else if (e.kind === 'split-brain') {
      if (e.detected) log.error({ peerRole: e.peerRole }, 'ha: SPLIT BRAIN: this box and its peer are both VRRP master (they cannot hear each other\'s adverts on the LAN); check the LAN link between them');
      else log.warn({ peerRole: e.peerRole }, 'ha: split brain over: one master again');
    } else if (e.what === 'exited') log.warn({ code: e.code, signal: e.signal, restartInMs: e.restartInMs }, 'ha: keepalived exited; restarting');
  });
  const offBgp = bgp?.onEvent(() => evaluate());

  return {
    async start() {
      await sup.start();
      timer = setInterval(evaluate, 1000);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      offBgp?.();
      await sup.stop();
    },
    async update(next) {
      cfg = next;
      if (next.ha) await sup.update(next.ha);
      evaluate();
    },
    onEngineEvent(e) {
      const set = live.get(e.tunnel) ?? new Set<string>();
      live.set(e.tunnel, set);
      if (e.type === 'child-up') set.add(e.spiIn);
      else if (e.type === 'child-down') set.delete(e.spiIn);
      else if (e.type === 'child-rekeyed') {
        set.delete(e.oldSpiIn);
        set.add(e.spiIn);
      } else if (e.type === 'ike-down' || e.type === 'dpd-dead') set.clear();
      else return;
      evaluate();
    },
    status: () => sup.status(),
    onEvent: (fn) => sup.onEvent(fn),
  };
}

/** `reload` / SIGHUP: new ha: settings go to keepalived (SIGHUP); adding or removing ha: needs a restart. */
export async function reloadHa(ha: DaemonHa | null, next: Config, logger: Logger): Promise<void> {
  if (ha && next.ha) await ha.update(next).catch((err: unknown) => logger.error({ err }, 'reload: HA did not follow the new config'));
  else if ((ha === null) !== (next.ha === undefined)) logger.warn('reload: ha: was added or removed; restart branchgate for that to take effect');
}
