/**
 * BgpSupervisor: branchgate's BGP, carried out by BIRD 2 (architecture.md "Choices already
 * made"). It writes bird.conf from the config (bird-config.ts), runs BIRD as a supervised child
 * (bird-process.ts), reads its state through the control socket (birdc.ts) every pollMs, and
 * turns tunnel up/down into BIRD actions following routing.failMode, the same way
 * routing/plan.ts treats static prefixes:
 *
 * - tunnel down, failMode open: the neighbor's protocol is disabled at once (not after the hold
 *   timer), so the routes learned through that tunnel leave the kernel and their traffic takes
 *   the branch's normal route — or another tunnel's route to the same prefix (zone redundancy).
 * - tunnel down, failMode closed: first the prefixes learned from that neighbor are read back
 *   and added as blackholes at a preference below BGP, then the protocol is disabled: in one
 *   BIRD reconfiguration each prefix swaps from "via the tunnel" to "blackhole" (or to the other
 *   tunnel's route, which outranks the blackhole), never through the default route. The hold is
 *   dropped once the neighbor has been Established again for holdClearMs, so a prefix GSA has
 *   since withdrawn is not blackholed forever.
 * - tunnel up: the protocol is enabled.
 * Neighbors start disabled: a tunnel is down until the daemon says otherwise (setTunnelState).
 * A neighbor whose import limit tripped stays disabled until the next update() (a reload), so
 * every later reconfiguration does not re-enable it into the same trip.
 *
 * Every change is serialized: one operation at a time, in call order.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BgpConfig } from '../config/types.js';
import { defaultBirdPaths } from '../config/bgp-defaults.js';
import { bgpOptions, protocolName, renderBirdConfig, type BirdTunnel } from './bird-config.js';
import { BirdClient } from './birdc.js';
import { BirdProcess, SILENT, type BgpLog } from './bird-process.js';
import { ensureAddress, removeAddress } from './local-address.js';
import { diffEvents, neighborStatuses, type BgpEvent, type BgpNeighborStatus } from './neighbor-state.js';

export type { BgpEvent, BgpNeighborStatus } from './neighbor-state.js';
export type { BgpLog } from './bird-process.js';

export interface BgpSettings {
  bgp: BgpConfig;
  tunnels: readonly BirdTunnel[];
  failMode: 'open' | 'closed';
}

export interface BgpSupervisorOptions extends BgpSettings {
  /** Used for default BIRD paths when bgp.bird is absent. */
  controlSocket?: string;
  /** Argv prefix for bird and ip, e.g. ['ip', 'netns', 'exec', NS] (tests, lab). */
  wrap?: string[];
  log?: BgpLog;
  pollMs?: number;
  backoff?: { initialMs: number; maxMs: number; stableMs: number };
  holdClearMs?: number;
  /** Add the CPE BGP address to lo when it is not local (default true). */
  assignAddress?: boolean;
  /** Announce bgp.advertise from the start (default true; an HA pair starts withdrawn). */
  advertise?: boolean;
}

export class BgpSupervisor {
  private s: BgpSettings;
  private readonly o: Required<Omit<BgpSupervisorOptions, keyof BgpSettings | 'controlSocket' | 'advertise'>>;
  private readonly paths: { binary: string; socket: string; config: string };
  private readonly proc: BirdProcess;
  private client: BirdClient | undefined;
  private readonly up = new Set<string>();
  private readonly hold = new Map<string, string[]>();
  private readonly limited = new Set<string>();
  private readonly establishedAt = new Map<string, number>();
  private snapshot: BgpNeighborStatus[] = [];
  private readonly listeners = new Set<(e: BgpEvent) => void>();
  private chain: Promise<unknown> = Promise.resolve();
  private poller: NodeJS.Timeout | undefined;
  private addedAddress: string | undefined;
  private stopped = true;
  private advertise: boolean;

  constructor(opts: BgpSupervisorOptions) {
    this.s = { bgp: opts.bgp, tunnels: opts.tunnels, failMode: opts.failMode };
    this.advertise = opts.advertise ?? true;
    this.paths = opts.bgp.bird ?? defaultBirdPaths(opts.controlSocket ?? '/run/branchgate/control.sock');
    this.o = {
      wrap: opts.wrap ?? [], log: opts.log ?? SILENT, pollMs: opts.pollMs ?? 2000,
      backoff: opts.backoff ?? { initialMs: 1000, maxMs: 30_000, stableMs: 60_000 },
      holdClearMs: opts.holdClearMs ?? 10_000, assignAddress: opts.assignAddress ?? true,
    };
    this.proc = new BirdProcess({
      ...this.paths, wrap: this.o.wrap, log: this.o.log, backoff: this.o.backoff,
      onStarted: (pid) => {
        this.emit({ kind: 'bird', what: 'started', pid });
        void this.serial(() => this.poll());
      },
      onExited: ({ code, signal, restartInMs }) => {
        this.client?.close();
        this.client = undefined;
        this.emit({ kind: 'bird', what: 'exited', code, signal, restartInMs });
        void this.serial(() => this.poll());
      },
    });
    this.snapshot = neighborStatuses(this.s.bgp.neighbors, [], this.desired());
  }

  onEvent(fn: (e: BgpEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** For `status`: one entry per configured neighbor, as of the last poll. */
  status(): { running: boolean; pid?: number; neighbors: BgpNeighborStatus[] } {
    return { running: this.proc.running, ...(this.proc.pid !== undefined && { pid: this.proc.pid }), neighbors: this.snapshot.map((n) => ({ ...n })) };
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get configPath(): string {
    return this.paths.config;
  }

  /** Write the config, make the BGP address local, start BIRD and polling. */
  start(): Promise<void> {
    return this.serial(async () => {
      this.stopped = false;
      await this.claimAddress();
      this.writeConfig();
      await this.proc.start();
      this.poller = setInterval(() => void this.serial(() => this.poll()), this.o.pollMs);
      this.poller.unref();
    });
  }

  /** Stop BIRD (its kernel routes go with it) and remove an address we added. */
  stop(): Promise<void> {
    return this.serial(async () => {
      this.stopped = true;
      if (this.poller) clearInterval(this.poller);
      this.client?.close();
      this.client = undefined;
      await this.proc.stop();
      if (this.addedAddress) await removeAddress(this.addedAddress, this.o.wrap).catch((e: unknown) => this.o.log.warn({ err: (e as Error).message }, 'bgp: could not remove the BGP address'));
      this.addedAddress = undefined;
      this.snapshot = neighborStatuses(this.s.bgp.neighbors, [], this.desired());
      this.emit({ kind: 'bird', what: 'stopped' });
    });
  }

  /** A reload: new settings, applied with `configure`. Clears tripped limits (operator action). */
  update(next: BgpSettings): Promise<void> {
    return this.serial(async () => {
      this.s = next;
      const known = new Set(next.bgp.neighbors.map((n) => n.address));
      for (const a of [...this.hold.keys()]) if (!known.has(a)) this.hold.delete(a);
      this.limited.clear();
      if (next.failMode === 'open') this.hold.clear();
      await this.claimAddress();
      await this.apply(next.bgp.neighbors.map((n) => n.address));
    });
  }

  /** Tell the supervisor a tunnel's Child SA is installed ('up') or gone ('down'). */
  setTunnelState(tunnel: string, state: 'up' | 'down'): Promise<void> {
    return this.serial(async () => {
      if ((state === 'up') === this.up.has(tunnel)) return;
      const affected = this.s.bgp.neighbors.filter((n) => n.tunnel === tunnel).map((n) => n.address);
      if (state === 'up') this.up.add(tunnel);
      else {
        this.up.delete(tunnel);
        if (this.s.failMode === 'closed' && this.proc.running) {
          for (const a of affected) {
            const nets = await (await this.birdc()).routeNets(protocolName(a)).catch(() => []);
            if (nets.length > 0) this.hold.set(a, nets);
          }
        }
      }
      for (const a of affected) this.establishedAt.delete(a);
      await this.apply(affected);
    });
  }

  /** Announce the branch prefixes or withdraw them (HA role, docs/ha.md "Routing"). */
  setAdvertise(on: boolean): Promise<void> {
    return this.serial(async () => {
      if (on === this.advertise) return;
      this.advertise = on;
      await this.apply([]);
    });
  }

  /** Poll now (tests; the timer does it every pollMs). */
  refresh(): Promise<void> {
    return this.serial(() => this.poll());
  }

  private desired() {
    return { birdRunning: this.proc.running, tunnelUp: (t: string) => this.up.has(t) };
  }

  private disabledSet(): Set<string> {
    return new Set(this.s.bgp.neighbors.filter((n) => !this.up.has(n.tunnel) || this.limited.has(n.address)).map((n) => n.address));
  }

  private writeConfig(): void {
    const text = renderBirdConfig({ bgp: this.s.bgp, tunnels: this.s.tunnels, disabled: this.disabledSet(), hold: this.hold, advertise: this.advertise });
    mkdirSync(dirname(this.paths.config), { recursive: true });
    mkdirSync(dirname(this.paths.socket), { recursive: true });
    const tmp = `${this.paths.config}.tmp`;
    writeFileSync(tmp, text, { mode: 0o644 });
    renameSync(tmp, this.paths.config);
  }

  /** Rewrite the config, `configure` it, and enable/disable the named neighbors to match. */
  private async apply(addresses: readonly string[]): Promise<void> {
    this.writeConfig();
    if (!this.proc.running || this.stopped) return;
    const c = await this.birdc();
    if (this.paths.config.includes('"')) throw new Error(`the BIRD config path ${this.paths.config} contains a quote`);
    await c.ok(`configure "${this.paths.config}"`, 30_000);
    const disabled = this.disabledSet();
    for (const a of addresses) {
      // Explicit, because a protocol disabled from the CLI (or by its limit) keeps that state
      // across `configure` when its own config block did not change.
      await c.ok(`${disabled.has(a) ? 'disable' : 'enable'} "${protocolName(a)}"`);
    }
    this.emit({ kind: 'bird', what: 'reconfigured' });
    await this.poll();
  }

  private async birdc(): Promise<BirdClient> {
    if (!this.client || this.client.closed) this.client = await BirdClient.connect(this.paths.socket);
    return this.client;
  }

  private async poll(): Promise<void> {
    if (this.stopped) {
      this.snapshot = neighborStatuses(this.s.bgp.neighbors, [], this.desired());
      return;
    }
    let protocols: Awaited<ReturnType<BirdClient['protocols']>> = [];
    if (this.proc.running) {
      try {
        protocols = await (await this.birdc()).protocols();
      } catch (e) {
        this.o.log.debug({ err: (e as Error).message }, 'bgp: poll failed');
      }
    }
    const next = neighborStatuses(this.s.bgp.neighbors, protocols, this.desired());
    const limits = new Map(this.s.bgp.neighbors.map((n) => [n.address, bgpOptions(this.s.bgp).maxPrefixes]));
    const events = diffEvents(this.snapshot, next, limits);
    this.snapshot = next;
    for (const e of events) {
      if (e.kind === 'limit') this.limited.add(e.address);
      this.emit(e);
    }
    await this.clearHolds(next);
  }

  /** Drop the blackholes of neighbors that have been Established for holdClearMs. */
  private async clearHolds(now: readonly BgpNeighborStatus[]): Promise<void> {
    const t = Date.now();
    const clear: string[] = [];
    for (const n of now) {
      if (n.state !== 'Established') {
        this.establishedAt.delete(n.address);
        continue;
      }
      const since = this.establishedAt.get(n.address) ?? t;
      this.establishedAt.set(n.address, since);
      if (this.hold.has(n.address) && t - since >= this.o.holdClearMs) clear.push(n.address);
    }
    if (clear.length === 0) return;
    for (const a of clear) this.hold.delete(a);
    this.o.log.info({ neighbors: clear }, 'bgp: neighbors re-established; fail-closed blackholes removed');
    await this.apply([]);
  }

  private async claimAddress(): Promise<void> {
    const want = this.s.bgp.address;
    if (this.addedAddress && this.addedAddress !== want) {
      await removeAddress(this.addedAddress, this.o.wrap);
      this.addedAddress = undefined;
    }
    if (!this.o.assignAddress || this.addedAddress === want) return;
    if (await ensureAddress(want, this.o.wrap)) this.addedAddress = want;
  }

  private emit(e: BgpEvent): void {
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch (err) {
        this.o.log.error({ err: (err as Error).message }, 'bgp: event listener threw');
      }
    }
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }
}
