/**
 * RouteManager: keeps the kernel's routes in line with each tunnel's routing settings and state.
 *
 * Every route it installs is tagged `proto 249` (ROUTE_PROTO). iproute2 only accepts protocol
 * names listed in /etc/iproute2/rt_protos, which branchgate does not edit, so the tag is numeric.
 * The tag is how it finds its own routes (`ip route show proto 249`) and how deletes stay safe:
 * the kernel deletes `DST proto 249` only if the route there carries that protocol.
 *
 * Each call plans all tunnels (plan.ts), reads our routes back from the kernel, and applies only
 * the difference: `ip route replace` for routes that are missing or different, `ip route del` for
 * routes no longer wanted. So calls are idempotent, and routes the kernel flushed behind our back
 * (a TUN that disappeared) are put back on the next call. Order: pins first, then tunnel and
 * blackhole routes; removals of pins last — at no instant can a tunnel route capture the outer
 * packets of a tunnel whose pin is wanted.
 *
 * Routes somebody else installed are never overwritten: before adding a prefix that is not ours,
 * the table is checked for a route with the same key (prefix, metric 0), which `replace` would
 * silently destroy (e.g. the connected route of a LAN subnet listed in `routes:`). Such a prefix
 * is skipped and reported instead.
 *
 * The daemon should call cleanup() once at start (routes left by a crashed run) and at shutdown.
 * For a responder (remote "%any"), pass the peer's learned address as `remote` once known.
 */
import { isIPv4 } from '../config/cidr.js';
import { createIpRunner, IpError, routeDel, routeGet, routeReplace, routeShow, type IpRunner, type KernelRoute } from './ip.js';
import {
  describeRoute,
  matchesKernel,
  mergePlans,
  pickUnderlay,
  planRoutes,
  prefixContains,
  type DesiredRoute,
  type TunnelRouting,
  type TunnelState,
  type Underlay,
} from './plan.js';

export type { TunnelRouting, TunnelState, FailMode, DesiredRoute } from './plan.js';

/** The routing protocol number branchgate's routes carry (unassigned in rt_protos; < 256). */
export const ROUTE_PROTO = 249;

/** The subset of a pino Logger the manager uses. */
export interface RouteLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RouteManagerOptions {
  /** Default: createIpRunner() (the `ip` on PATH, this network namespace). */
  runner?: IpRunner;
  log?: RouteLog;
  /** Protocol tag; default ROUTE_PROTO. */
  proto?: number;
}

export interface ApplyResult {
  /** Routes installed or changed, as `ip route` prints them. */
  added: string[];
  /** Routes deleted. */
  removed: string[];
  /** Things planning or applying could not do as asked (also logged as warnings, once each). */
  problems: string[];
}

/** Some `ip` commands failed; the others were applied. `result` says what did happen. */
export class RouteApplyError extends Error {
  constructor(readonly failures: string[], readonly result: ApplyResult) {
    super(`${failures.length} route change(s) failed:\n  ${failures.join('\n  ')}`);
    this.name = 'RouteApplyError';
  }
}

interface TunnelEntry {
  spec: TunnelRouting;
  state: TunnelState;
  underlay: Underlay | undefined;
}

const NOOP_LOG: RouteLog = { debug() {}, info() {}, warn() {} };
/** A foreign route as `ip route` prints it, protocol included. */
const theirs = (k: KernelRoute): string =>
  `${k.type === 'unicast' ? '' : `${k.type} `}${k.dst}${k.gateway !== undefined ? ` via ${k.gateway}` : ''}${k.dev !== undefined ? ` dev ${k.dev}` : ''} proto ${k.protocol ?? 'boot'}`;
const pinsLast = (a: DesiredRoute, b: DesiredRoute): number => Number(a.kind === 'pin') - Number(b.kind === 'pin');

export class RouteManager {
  readonly proto: number;
  private readonly runner: IpRunner;
  private readonly log: RouteLog;
  /** Insertion order = priority between tunnels that want the same prefix. */
  private readonly tunnels = new Map<string, TunnelEntry>();
  /** What we installed, by prefix. */
  private readonly mine = new Map<string, DesiredRoute>();
  private reported = new Set<string>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(opts: RouteManagerOptions = {}) {
    this.runner = opts.runner ?? createIpRunner();
    this.log = opts.log ?? NOOP_LOG;
    this.proto = opts.proto ?? ROUTE_PROTO;
    if (!Number.isInteger(this.proto) || this.proto < 5 || this.proto > 255) {
      throw new RangeError(`route protocol ${this.proto} must be an integer 5..255 (0..4 are the kernel's own)`);
    }
  }

  /**
   * Declare a tunnel's routing and state and bring the kernel in line. The underlay route to the
   * remote endpoint is resolved again on every call, so a changed gateway is picked up the next
   * time the tunnel goes down or up.
   */
  setTunnel(t: TunnelRouting, state: TunnelState): Promise<ApplyResult> {
    return this.serial(async () => {
      const spec: TunnelRouting = { ...t, routes: [...t.routes] };
      const underlay = spec.pinUnderlay ? await this.resolveUnderlay(spec.remote, spec.interface) : undefined;
      this.tunnels.set(spec.name, { spec, state, underlay });
      return this.apply();
    });
  }

  /** Forget a tunnel and delete its routes (pin included). */
  removeTunnel(name: string): Promise<ApplyResult> {
    return this.serial(async () => {
      this.tunnels.delete(name);
      return this.apply();
    });
  }

  /** Re-resolve every pin (the underlay changed: new gateway, new WAN link) and re-apply. */
  refresh(): Promise<ApplyResult> {
    return this.serial(async () => {
      for (const e of this.tunnels.values()) {
        e.underlay = e.spec.pinUnderlay ? await this.resolveUnderlay(e.spec.remote, e.spec.interface) : undefined;
      }
      return this.apply();
    });
  }

  /** Delete every route carrying our protocol tag (also those of an earlier run) and forget all tunnels. */
  cleanup(): Promise<ApplyResult> {
    return this.serial(async () => {
      const pins = new Set([...this.mine.values()].filter((r) => r.kind === 'pin').map((r) => r.dst));
      const devs = new Set([...this.tunnels.values()].map((e) => e.spec.interface));
      this.tunnels.clear();
      this.mine.clear();
      this.reported.clear();
      const ours = await routeShow(this.runner, ['proto', String(this.proto)]);
      const result: ApplyResult = { added: [], removed: [], problems: [] };
      const failures: string[] = [];
      // Pins last: while tunnel routes exist, the outer packets keep their way out. Routes left by
      // an earlier run are not in `pins`: a /32 not through a known tunnel interface counts as one.
      const isPin = (k: KernelRoute): boolean =>
        pins.has(k.dst) || (k.type === 'unicast' && k.dst.endsWith('/32') && !(k.dev !== undefined && devs.has(k.dev)));
      const order = (k: KernelRoute): number => Number(isPin(k));
      for (const k of [...ours].sort((a, b) => order(a) - order(b))) {
        try {
          if (await routeDel(this.runner, k.dst, this.proto)) result.removed.push(k.dst);
        } catch (err) {
          if (!(err instanceof IpError)) throw err;
          failures.push(err.message);
        }
      }
      if (result.removed.length > 0) this.log.info({ removed: result.removed }, 'routes removed');
      if (failures.length > 0) throw new RouteApplyError(failures, result);
      return result;
    });
  }

  /** Prefixes currently routed into the tunnel's interface (status document "routes"). */
  installed(name: string): string[] {
    return [...this.mine.values()].filter((r) => r.tunnel === name && r.kind === 'tunnel').map((r) => r.dst);
  }

  /** Every route installed for the tunnel, pin and blackholes included. */
  entries(name: string): DesiredRoute[] {
    return [...this.mine.values()].filter((r) => r.tunnel === name).map((r) => ({ ...r }));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  /**
   * How the kernel reaches `remote` outside every tunnel. Its own answer (`ip route get`, which
   * honours policy rules) is taken unless it lands on one of our routes (our pin, a tunnel route,
   * a blackhole) or on a tunnel interface; then table main is searched without those.
   */
  private async resolveUnderlay(remote: string, ownDev: string): Promise<Underlay | undefined> {
    if (!isIPv4(remote)) return undefined;
    const devs = new Set([ownDev, ...[...this.tunnels.values()].map((e) => e.spec.interface)]);
    const proto = String(this.proto);
    try {
      const got = await routeGet(this.runner, remote);
      if (got !== undefined && got.type === 'unicast' && got.dev !== undefined && !devs.has(got.dev)) {
        const fib = await routeGet(this.runner, remote, true);
        if (fib !== undefined && fib.protocol !== proto) {
          const u: Underlay = { dev: got.dev };
          if (got.gateway !== undefined) u.gateway = got.gateway;
          if (got.flags.includes('onlink')) u.onlink = true;
          return u;
        }
      }
    } catch (err) {
      // "Network is unreachable", or "Invalid argument" for a blackhole that may be ours.
      if (!(err instanceof IpError)) throw err;
    }
    return pickUnderlay(await routeShow(this.runner), remote, { proto, devs });
  }

  /** A route for exactly dst with metric 0 that is not ours (replace would overwrite it). */
  private async foreign(dst: string): Promise<KernelRoute | undefined> {
    const same = await routeShow(this.runner, ['exact', dst]);
    return same.find((k) => k.metric === 0 && k.protocol !== String(this.proto));
  }

  private async apply(): Promise<ApplyResult> {
    const plans = [...this.tunnels.values()].map((e) => planRoutes(e.spec, e.state, e.underlay));
    const merged = mergePlans(plans);
    const problems = [...plans.flatMap((p) => p.problems.map((s) => `tunnel ${p.tunnel}: ${s}`)), ...merged.problems];
    const kernel = new Map<string, KernelRoute>();
    for (const k of await routeShow(this.runner, ['proto', String(this.proto)])) if (k.metric === 0) kernel.set(k.dst, k);

    const result: ApplyResult = { added: [], removed: [], problems };
    const failures: string[] = [];
    const keep = new Set<string>();
    const unpinned: string[] = []; // remotes whose wanted pin is not in the kernel
    const pinOf = (r: DesiredRoute): string => r.dst.slice(0, -3);
    const tunnelDevs = new Set([...this.tunnels.values()].map((e) => e.spec.interface));

    for (const phase of ['pin', 'rest'] as const) {
      for (const r of merged.routes) {
        if ((r.kind === 'pin') !== (phase === 'pin')) continue;
        const captured = r.kind === 'pin' ? undefined : unpinned.find((a) => prefixContains(r.dst, a));
        if (captured !== undefined) {
          problems.push(`${r.dst} left out: it contains ${captured}, whose underlay pin could not be installed`);
          continue;
        }
        keep.add(r.dst);
        const k = kernel.get(r.dst);
        if (k !== undefined && matchesKernel(r, k)) {
          this.mine.set(r.dst, r);
          continue;
        }
        try {
          const other = k === undefined ? await this.foreign(r.dst) : undefined;
          if (other !== undefined) {
            keep.delete(r.dst);
            const safePin = r.kind === 'pin' && other.type === 'unicast' && !(other.dev !== undefined && tunnelDevs.has(other.dev));
            if (r.kind === 'pin' && !safePin) unpinned.push(pinOf(r));
            if (!safePin) {
              problems.push(
                `${describeRoute(r)} not installed: the kernel already has \`${theirs(other)}\` that branchgate did not install and will not overwrite; remove it or choose another prefix`,
              );
            }
            continue;
          }
          await routeReplace(this.runner, r, this.proto);
          this.mine.set(r.dst, r);
          result.added.push(describeRoute(r));
          this.log.info({ tunnel: r.tunnel, route: describeRoute(r) }, 'route installed');
        } catch (err) {
          if (!(err instanceof IpError)) throw err;
          failures.push(`tunnel ${r.tunnel}: ${err.message}`);
          if (k === undefined) keep.delete(r.dst);
          if (r.kind === 'pin' && k === undefined) unpinned.push(pinOf(r));
        }
      }
    }

    for (const r of [...this.mine.values()].filter((m) => !keep.has(m.dst)).sort(pinsLast)) {
      try {
        if (kernel.has(r.dst) && (await routeDel(this.runner, r.dst, this.proto))) {
          result.removed.push(describeRoute(r));
          this.log.info({ tunnel: r.tunnel, route: describeRoute(r) }, 'route removed');
        }
        this.mine.delete(r.dst);
      } catch (err) {
        if (!(err instanceof IpError)) throw err;
        failures.push(`tunnel ${r.tunnel}: ${err.message}`);
      }
    }

    const fresh = problems.filter((p) => !this.reported.has(p));
    for (const p of fresh) this.log.warn({ problem: p }, 'routing problem');
    this.reported = new Set(problems);
    if (failures.length > 0) throw new RouteApplyError(failures, result);
    return result;
  }
}
