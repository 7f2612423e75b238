/**
 * The daemon's datapath side: one TUN per tunnel through the Dataplane seam, Child SAs installed
 * and removed as the engine says, and the tunnel's routes following its state (up: prefixes on
 * the TUN; down: withdrawn or blackholed per failMode; pins always). Route changes are async and
 * serialized per tunnel so a fast up/down/up never applies out of order.
 *
 * Rekeys never touch the routes: a tunnel goes "up" with its first installed Child SA and "down"
 * only when its last one is removed. A rekey installs the new SA before the old one goes
 * (make-before-break, RFC 7296 §2.8), so the count never passes through zero.
 */
import type { Action, Endpoint } from './ike/actions.js';
import type { Config, TunnelConfig } from './config/types.js';
import type { Dataplane, DataplaneEvent, SaCounters } from './dataplane/types.js';
import type { EspDropCounts } from './dataplane/drops.js';
import type { EspSender } from './dataplane/ts-dataplane.js';
import { selectDataplane } from './dataplane/native-select.js';
import { childSpec } from './dataplane/spec.js';
import type { TunnelRouting } from './routing/plan.js';
import { RouteManager } from './routing/routes.js';
import type { Logger } from './log.js';
import type { TunnelDiff, TunnelKey } from './config-diff.js';

/** The part of RouteManager the daemon uses (tests pass null: no kernel routes at all). */
export interface RouteLike {
  setTunnel(t: TunnelRouting, state: 'up' | 'down'): Promise<unknown>;
  removeTunnel(name: string): Promise<unknown>;
  cleanup(): Promise<unknown>;
  installed(name: string): string[];
}

export interface DatapathOptions {
  dataplane(sender: EspSender): Dataplane;
  routes: RouteLike | null;
}

/**
 * Production: real TUN devices and kernel routes, on the native dataplane when the addon loads
 * and can share port 4500 with the UDP transport, else the TypeScript one.
 * BRANCHGATE_DATAPLANE=native|ts forces one (src/dataplane/native-select.ts).
 */
export function kernelDatapath(): DatapathOptions {
  return {
    dataplane: (sender) => selectDataplane(sender),
    routes: new RouteManager(),
  };
}

export class Datapath {
  readonly dataplane: Dataplane;
  private readonly routes: RouteLike | null;
  private readonly children = new Map<string, Set<number>>();
  private readonly peers = new Map<string, string>();
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private config: Config,
    opts: DatapathOptions,
    sender: EspSender,
    private readonly logger: Logger,
  ) {
    this.dataplane = opts.dataplane(sender);
    this.routes = opts.routes;
    this.dataplane.onEvent((e) => this.logger.warn({ tunnel: e.tunnel, spiIn: e.spiIn }, `datapath: ${e.reason}; the Child SA needs a rekey`));
  }

  /** The datapath's requests (sequence numbers near exhaustion) for the daemon to pass to the engine. */
  onEvent(fn: (e: DataplaneEvent) => void): void {
    this.dataplane.onEvent(fn);
  }

  /** Open every tunnel's TUN and put its routes in the "down" state (pins, blackholes). */
  async start(): Promise<void> {
    if (this.routes) await this.routes.cleanup(); // routes left behind by a crashed run
    for (const t of this.config.tunnels) {
      await this.dataplane.attachTunnel(t.name, { name: t.interface, mtu: t.mtu, mssClamp: t.mssClamp });
      this.applyRoutes(t, 'down');
    }
  }

  private routing(t: TunnelConfig): TunnelRouting {
    return {
      name: t.name,
      interface: t.interface,
      routes: t.routes,
      remote: t.remoteAddress === '%any' ? (this.peers.get(t.name) ?? '%any') : t.remoteAddress,
      failMode: this.config.routing.failMode,
      pinUnderlay: this.config.routing.pinUnderlay,
    };
  }

  private applyRoutes(t: TunnelConfig, state: 'up' | 'down'): void {
    const routes = this.routes;
    if (!routes) return;
    const prev = this.chains.get(t.name) ?? Promise.resolve();
    const next = prev.then(() => routes.setTunnel(this.routing(t), state)).then(
      () => undefined,
      (err: unknown) => this.logger.error({ err, tunnel: t.name }, `routes for ${t.name} (${state}) not fully applied`),
    );
    this.chains.set(t.name, next);
  }

  install(a: Extract<Action, { kind: 'install-child' }>): void {
    const spec = childSpec(a);
    // activate: false is the rekey responder's half: accept on the new SA, keep sending on the old.
    this.dataplane.addChildSa(spec, { activate: a.activate !== false });
    const set = this.children.get(spec.tunnel) ?? new Set<number>();
    const first = set.size === 0;
    set.add(spec.inbound.spi);
    this.children.set(spec.tunnel, set);
    this.peers.set(spec.tunnel, spec.remote.address);
    const t = this.config.tunnels.find((x) => x.name === spec.tunnel);
    if (first && t) this.applyRoutes(t, 'up');
  }

  /** Switch the tunnel's outbound ESP to this installed Child SA (the activate-child action). */
  activate(spiIn: number): void {
    this.dataplane.activateChildSa(spiIn);
  }

  /**
   * The peer's NAT mapping moved (update-remote): ESP goes to the new endpoint. When the address
   * itself changed, a responder's underlay pin follows it.
   */
  updateRemote(tunnel: string, remote: Endpoint): void {
    this.dataplane.updateRemote(tunnel, remote);
    const before = this.peers.get(tunnel);
    this.peers.set(tunnel, remote.address);
    const t = this.config.tunnels.find((x) => x.name === tunnel);
    if (t && t.remoteAddress === '%any' && before !== remote.address && (this.children.get(tunnel)?.size ?? 0) > 0) {
      this.applyRoutes(t, 'up');
    }
  }

  remove(tunnel: string, spiIn: number): void {
    this.dataplane.deleteChildSa(spiIn);
    const set = this.children.get(tunnel);
    if (!set || !set.delete(spiIn) || set.size > 0) return;
    const t = this.config.tunnels.find((x) => x.name === tunnel);
    if (t) this.applyRoutes(t, 'down');
  }

  /**
   * Config reload, after engine.reconfigure() removed the Child SAs of every changed and removed
   * tunnel: detach removed tunnels (their routes and pin go), attach added ones, re-create the
   * TUN of a changed tunnel whose interface settings changed, and re-plan the routes of every
   * other tunnel whose routing inputs changed. Unchanged tunnels are not touched at all.
   */
  async reconfigure(next: Config, diff: TunnelDiff): Promise<void> {
    const prev = this.config;
    this.config = next;
    const IFACE: readonly TunnelKey[] = ['interface', 'mtu', 'mssClamp'];
    const routingChanged = prev.routing.failMode !== next.routing.failMode || prev.routing.pinUnderlay !== next.routing.pinUnderlay;
    for (const name of diff.removed) {
      await (this.chains.get(name) ?? Promise.resolve());
      this.children.delete(name);
      this.chains.delete(name);
      await this.dataplane.detachTunnel(name);
      await this.routes?.removeTunnel(name);
    }
    for (const t of next.tunnels) {
      const change = diff.changed.find((c) => c.name === t.name);
      if (diff.added.includes(t.name)) {
        await this.dataplane.attachTunnel(t.name, { name: t.interface, mtu: t.mtu, mssClamp: t.mssClamp });
        this.applyRoutes(t, 'down');
      } else if (change && change.keys.some((k) => IFACE.includes(k))) {
        await (this.chains.get(t.name) ?? Promise.resolve());
        await this.dataplane.detachTunnel(t.name);
        await this.dataplane.attachTunnel(t.name, { name: t.interface, mtu: t.mtu, mssClamp: t.mssClamp });
        this.applyRoutes(t, (this.children.get(t.name)?.size ?? 0) > 0 ? 'up' : 'down');
      } else if (change || routingChanged) {
        this.applyRoutes(t, (this.children.get(t.name)?.size ?? 0) > 0 ? 'up' : 'down');
      }
    }
    await this.settle();
  }

  receiveEsp(datagram: Uint8Array, from: Endpoint): void {
    this.dataplane.receiveEsp(datagram, from);
  }

  counters(spiIn: number): SaCounters | null {
    return this.dataplane.counters(spiIn);
  }

  /**
   * list-sas `dataplane`: packets the datapath dropped, by reason (src/dataplane/drops.ts),
   * cumulative since start (reloads and SA deletions included). Read on demand.
   */
  dropStats(): { drops: EspDropCounts } {
    return { drops: this.dataplane.drops() };
  }

  get managesRoutes(): boolean {
    return this.routes !== null;
  }

  installedRoutes(tunnel: string): string[] {
    return this.routes ? this.routes.installed(tunnel) : [];
  }

  /** Wait for queued route changes (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all(this.chains.values());
  }

  async stop(): Promise<void> {
    await this.settle();
    if (this.routes) {
      try {
        await this.routes.cleanup();
      } catch (err) {
        this.logger.error({ err }, 'could not remove every branchgate route; check `ip route show proto 249`');
      }
    }
    await this.dataplane.close();
  }
}
