/**
 * The daemon's Internet Access side (docs/gsa.md "Internet Access"): one object started after
 * the datapath (whose start removes every proto-249 route of a crashed run and installs the
 * endpoint pins) and before BIRD, and stopped before the datapath.
 *
 * - underlay /32s (proto 249, main) for every IPv4 name server of /etc/resolv.conf, and routes
 *   for the bypass prefixes and the bypass host names' addresses (src/bypass/core.ts);
 * - with the internet profile, the policy rules that make GSA's table effective
 *   (src/routing/internet-rules.ts), enabled only while every endpoint and name server still
 *   resolves through the underlay;
 * - the IPv6 guard (src/ipv6/guard.ts) or, with ipv6: allow, the warning.
 *
 * One timer (every CHECK_MS, unref'd) re-resolves due host names, applies the bypass routes,
 * re-checks the underlay and reads the IPv6 drop counter.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import { INTERNET_TABLE } from '../config/internet.js';
import { isIPv4 } from '../config/cidr.js';
import { createIpRunner, IpError, routeDel, routeReplace, routeShow, type IpRunner } from '../routing/ip.js';
import { describeRoute, pickUnderlay } from '../routing/plan.js';
import { ROUTE_PROTO } from '../routing/routes.js';
import { InternetRules } from '../routing/internet-rules.js';
import { BypassCore, type BypassResolver, type BypassStatus } from '../bypass/core.js';
import { readNameservers, systemResolver } from '../bypass/system-resolver.js';
import { Ipv6Guard } from '../ipv6/guard.js';

export const CHECK_MS = 3000;

export interface InternetStatus {
  profiles: string[];
  defaultRoute: 'security' | 'productivity';
  /** internet profile: whether GSA's table is consulted now, and why not. */
  gsaRoutes?: { state: 'accepted' | 'refused' | 'starting'; reason?: string; since: string };
  underlayPins: string[];
  bypass: BypassStatus & { installed: string[] };
  ipv6: { policy: 'block' | 'allow' | 'off'; dropped: number | null };
}

export interface DaemonInternetOptions {
  runner?: IpRunner;
  resolver?: BypassResolver;
  nameservers?: string[];
}

export class DaemonInternet {
  private readonly runner: IpRunner;
  private readonly rules: InternetRules | null;
  private readonly bypass: BypassCore;
  private readonly guard: Ipv6Guard | null;
  private readonly nameservers: string[];
  private readonly tunnelDevs: Set<string>;
  private readonly endpoints: string[];
  /** Bypass and name-server routes we installed, by prefix. */
  private readonly installed = new Map<string, string>();
  private gsa: NonNullable<InternetStatus['gsaRoutes']> = { state: 'starting', since: new Date().toISOString() };
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private dropped: number | null = null;
  private droppedLogged = false;
  /** Bypass host names whose resolution currently fails (logged once per streak). */
  private readonly failing = new Set<string>();

  constructor(private readonly config: Config, private readonly log: Logger, o: DaemonInternetOptions = {}) {
    const inet = config.internet;
    this.runner = o.runner ?? createIpRunner();
    this.rules = inet.internetProfile
      ? new InternetRules({ runner: this.runner, table: INTERNET_TABLE, proto: ROUTE_PROTO, security: inet.defaultRoute === 'security' })
      : null;
    // Name servers are pinned only when internet traffic can enter a tunnel; otherwise the
    // default route already is the underlay.
    // A local stub (127.0.0.53) needs no pin; its upstream servers are not in resolv.conf, so an
    // operator with one lists them in bypass: (docs/gsa.md §7).
    this.nameservers = inet.carriesInternet ? (o.nameservers ?? readNameservers()).filter((a) => isIPv4(a) && !/^(127|0|169\.254)\./.test(a)) : [];
    const servers = o.nameservers ?? readNameservers();
    this.bypass = new BypassCore({
      prefixes: inet.bypass.prefixes, hostnames: inet.bypass.hostnames, now: Date.now,
      resolver: o.resolver ?? systemResolver(servers),
    });
    const blocking = inet.ipv6.policy === 'block' && (inet.carriesInternet || inet.ipv6.explicit);
    this.guard = blocking ? new Ipv6Guard(inet.ipv6.branchPrefixes) : null;
    this.tunnelDevs = new Set(config.tunnels.map((t) => t.interface));
    this.endpoints = config.routing.pinUnderlay ? [...new Set(config.tunnels.map((t) => t.remoteAddress).filter(isIPv4))] : [];
  }

  /** Nothing to do: no internet profile, no bypass, no IPv6 policy to apply. */
  static needed(c: Config): boolean {
    const i = c.internet;
    return i.internetProfile || i.carriesInternet || i.bypass.prefixes.length + i.bypass.hostnames.length > 0 || i.ipv6.explicit;
  }

  async start(): Promise<void> {
    const inet = this.config.internet;
    if (this.guard) {
      await this.guard.start();
      this.log.info({ branchPrefixes: inet.ipv6.branchPrefixes }, 'ipv6: block — IPv6 forwarded to anything but link-local and the branch prefixes is dropped (table inet branchgate)');
    } else if (inet.carriesInternet && inet.ipv6.policy === 'allow') {
      this.log.warn('ipv6: allow — IPv6 traffic does not enter the tunnel and bypasses security evaluation (GSA carries IPv4 only); see docs/gsa.md "IPv6"');
    }
    await this.rules?.prepare();
    await this.applyRoutes([...this.nameservers.map((a) => `${a}/32`)]);
    await this.bypass.refresh();
    // The endpoint pins are being installed by the datapath right now: give them a few seconds
    // before the first check can call GSA's routes refused.
    if (this.rules) {
      const pinned = new Set([...this.endpoints, ...this.nameservers]);
      for (let i = 0; i < 20; i++) {
        if ((await this.rules.checkUnderlay([...pinned], this.tunnelDevs, pinned)).ok) break;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    await this.tick();
    this.arm();
  }

  private arm(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().catch((err: unknown) => this.log.error({ err }, 'internet access: periodic check failed')).finally(() => this.arm());
    }, CHECK_MS);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    await this.bypass.refresh();
    await this.applyRoutes([...this.nameservers.map((a) => `${a}/32`), ...this.bypass.desired()]);
    // One line when a name starts failing and one when it recovers, not one per retry.
    for (const h of this.bypass.status().hostnames) {
      if (h.error !== null && !this.failing.has(h.name)) {
        this.failing.add(h.name);
        this.log.warn({ hostname: h.name, error: h.error, keeping: h.addresses }, `bypass: ${h.name} did not resolve; keeping its last good addresses`);
      } else if (h.error === null && this.failing.delete(h.name)) {
        this.log.info({ hostname: h.name, addresses: h.addresses }, `bypass: ${h.name} resolves again`);
      }
    }
    if (this.rules) await this.check();
    if (this.guard) {
      this.dropped = await this.guard.dropped();
      if (!this.droppedLogged && (this.dropped ?? 0) > 0) {
        this.droppedLogged = true;
        this.log.warn({ dropped: this.dropped }, 'ipv6: dropping IPv6 from the branch to the internet (ipv6: block); branchgate_ipv6_dropped_total counts them');
      }
    }
  }

  private async check(): Promise<void> {
    const rules = this.rules!;
    const pinned = new Set([...this.endpoints, ...this.nameservers]);
    const r = await rules.checkUnderlay([...pinned], this.tunnelDevs, pinned);
    const now = new Date().toISOString();
    if (r.ok) {
      await rules.enable();
      if (this.gsa.state !== 'accepted') {
        this.log.info({ checked: [...pinned] }, 'internet access: every endpoint and name server resolves through the underlay; GSA\'s routes are in use');
        this.gsa = { state: 'accepted', since: now };
      }
    } else {
      await rules.disable();
      const reason = `${r.address} ${r.reason}`;
      if (this.gsa.reason !== reason) {
        this.log.error({ address: r.address, reason: r.reason, defaultRoute: this.config.internet.defaultRoute },
          `internet access: GSA's routes refused: ${reason}; internet traffic is ${this.config.internet.defaultRoute === 'security' ? 'held' : 'sent by the default route'} until it resolves through the underlay again`);
        this.gsa = { state: 'refused', reason, since: now };
      }
    }
  }

  /** Bring our underlay routes in line with `want` (via the underlay route main has for each). */
  private async applyRoutes(want: readonly string[]): Promise<void> {
    const wanted = new Set(want);
    const table = await routeShow(this.runner);
    const proto = String(ROUTE_PROTO);
    for (const dst of wanted) {
      const u = pickUnderlay(table, dst.split('/')[0]!, { proto, devs: this.tunnelDevs });
      if (u === undefined) {
        this.log.warn({ prefix: dst }, 'bypass: no underlay route for this prefix; not installed');
        continue;
      }
      const spec = { dst, type: 'unicast' as const, dev: u.dev, ...(u.gateway !== undefined ? { gateway: u.gateway } : {}), ...(u.onlink ? { onlink: true } : {}) };
      const text = describeRoute(spec);
      if (this.installed.get(dst) === text) continue;
      const foreign = table.find((k) => k.dst === dst && k.metric === 0 && k.protocol !== proto);
      if (foreign) continue; // the underlay already has exactly this prefix; never overwrite it
      try {
        await routeReplace(this.runner, spec, ROUTE_PROTO);
        this.installed.set(dst, text);
        this.log.info({ route: text }, 'bypass: underlay route installed');
      } catch (err) {
        if (!(err instanceof IpError)) throw err;
        this.log.warn({ route: text, err: err.message }, 'bypass: underlay route not installed');
      }
    }
    for (const dst of [...this.installed.keys()]) {
      if (wanted.has(dst)) continue;
      await routeDel(this.runner, dst, ROUTE_PROTO).catch(() => false);
      this.installed.delete(dst);
      this.log.info({ prefix: dst }, 'bypass: underlay route removed (no longer in any answer after the grace period)');
    }
  }

  status(): InternetStatus {
    const i = this.config.internet;
    return {
      profiles: i.profiles,
      defaultRoute: i.defaultRoute,
      ...(this.rules ? { gsaRoutes: { ...this.gsa } } : {}),
      underlayPins: [...this.endpoints, ...this.nameservers],
      bypass: { ...this.bypass.status(), installed: [...this.installed.keys()] },
      ipv6: { policy: this.guard ? 'block' : i.carriesInternet || i.ipv6.explicit ? 'allow' : 'off', dropped: this.dropped },
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.ticking.catch(() => undefined);
    const errors: unknown[] = [];
    await this.rules?.cleanup().catch((e: unknown) => errors.push(e));
    for (const dst of this.installed.keys()) await routeDel(this.runner, dst, ROUTE_PROTO).catch((e: unknown) => errors.push(e));
    this.installed.clear();
    await this.guard?.stop().catch((e: unknown) => errors.push(e));
    for (const err of errors) this.log.error({ err }, 'internet access: cleanup step failed');
  }
}
