/**
 * CPE-side bypass, sans-IO: which IPv4 destinations must always take the underlay. Microsoft
 * says GSA's Custom Bypass does not apply to remote networks — "You must manually bypass
 * specific URLs from your CPE" — so branchgate keeps the list (docs/gsa.md "Bypass").
 *
 * - Prefixes are fixed.
 * - Host names are resolved (A records with their TTL) and re-resolved when the TTL runs out,
 *   bounded to [minTtl, maxTtl] (30 s .. 1 h): a 0-second TTL must not become a query storm, a
 *   week-long one must not pin an address that moved.
 * - An address that disappears from the answer stays for `graceMs` after it was last seen: a
 *   client that looked the name up a moment ago still connects to the old address, and that
 *   connection must not move into the tunnel mid-flight.
 * - A failed resolution keeps the last good addresses (no expiry while failing), retries after
 *   minTtl, and is reported in status().
 *
 * The resolver and the clock are injected; daemon-bypass.ts does the I/O.
 */

export interface ResolvedAddress {
  address: string;
  /** Seconds, as the DNS answer gave it. */
  ttl: number;
}

export interface BypassResolver {
  resolve4(hostname: string): Promise<ResolvedAddress[]>;
}

export interface BypassOptions {
  prefixes: readonly string[];
  hostnames: readonly string[];
  resolver: BypassResolver;
  /** Milliseconds since the epoch. */
  now: () => number;
  minTtl?: number;
  maxTtl?: number;
  graceMs?: number;
}

export interface HostnameStatus {
  name: string;
  /** Addresses installed for it now (answered, or within the grace period). */
  addresses: string[];
  /** ISO time of the last successful resolution, null before the first. */
  lastResolved: string | null;
  /** The last resolution's error, while it keeps failing. */
  error: string | null;
  /** ISO time of the next resolution. */
  nextResolve: string;
  resolutions: number;
  failures: number;
}

export interface BypassStatus {
  prefixes: string[];
  hostnames: HostnameStatus[];
}

interface HostState {
  /** address → last time it was in an answer (ms). */
  seen: Map<string, number>;
  lastOk: number | null;
  error: string | null;
  nextAt: number;
  resolutions: number;
  failures: number;
}

export const MIN_TTL = 30;
export const MAX_TTL = 3600;
export const GRACE_MS = 5 * 60_000;

export class BypassCore {
  private readonly hosts = new Map<string, HostState>();
  private readonly minTtl: number;
  private readonly maxTtl: number;
  private readonly graceMs: number;

  constructor(private readonly o: BypassOptions) {
    this.minTtl = o.minTtl ?? MIN_TTL;
    this.maxTtl = o.maxTtl ?? MAX_TTL;
    this.graceMs = o.graceMs ?? GRACE_MS;
    for (const h of o.hostnames) this.hosts.set(h, { seen: new Map(), lastOk: null, error: null, nextAt: 0, resolutions: 0, failures: 0 });
  }

  /** Resolve every host name that is due (all of them on the first call). Never rejects. */
  async refresh(): Promise<void> {
    const now = this.o.now();
    await Promise.all([...this.hosts].filter(([, s]) => s.nextAt <= now).map(([name, s]) => this.resolveOne(name, s)));
  }

  private async resolveOne(name: string, s: HostState): Promise<void> {
    try {
      const answer = await this.o.resolver.resolve4(name);
      const at = this.o.now();
      if (answer.length === 0) throw new Error('no A records');
      for (const a of answer) s.seen.set(a.address, at);
      const ttl = Math.min(...answer.map((a) => a.ttl));
      s.nextAt = at + clamp(ttl, this.minTtl, this.maxTtl) * 1000;
      s.lastOk = at;
      s.error = null;
      s.resolutions++;
    } catch (err) {
      const at = this.o.now();
      s.error = err instanceof Error ? err.message : String(err);
      s.failures++;
      s.nextAt = at + this.minTtl * 1000;
      // Keep the last good addresses: refresh their "seen" so the grace period does not run out
      // while the resolver is the thing that is broken.
      for (const k of s.seen.keys()) s.seen.set(k, at);
    }
  }

  private current(s: HostState, now: number): string[] {
    for (const [a, t] of s.seen) if (now - t > this.graceMs) s.seen.delete(a);
    return [...s.seen.keys()].sort();
  }

  /** Every prefix to route through the underlay now: the fixed ones, then each host's /32s. */
  desired(): string[] {
    const now = this.o.now();
    const out = new Set(this.o.prefixes);
    for (const s of this.hosts.values()) for (const a of this.current(s, now)) out.add(`${a}/32`);
    return [...out];
  }

  /** When refresh() or desired() next has something to do (ms), or null with no host names. */
  nextWakeup(): number | null {
    let next: number | null = null;
    for (const s of this.hosts.values()) {
      let t = s.nextAt;
      for (const seen of s.seen.values()) t = Math.min(t, seen + this.graceMs + 1);
      next = next === null ? t : Math.min(next, t);
    }
    return next;
  }

  status(): BypassStatus {
    const now = this.o.now();
    const iso = (t: number) => new Date(t).toISOString();
    return {
      prefixes: [...this.o.prefixes],
      hostnames: [...this.hosts].map(([name, s]) => ({
        name, addresses: this.current(s, now), lastResolved: s.lastOk === null ? null : iso(s.lastOk), error: s.error,
        nextResolve: iso(s.nextAt), resolutions: s.resolutions, failures: s.failures,
      })),
    };
  }
}

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, Number.isFinite(v) ? v : lo));
