/**
 * Where GSA's "whole internet" goes with the Internet Access profile (docs/gsa.md "Internet
 * Access", "Precedence"). BIRD installs every learned route into table 249, branchgate's own
 * (bird-config.ts `kernel table`), and two policy rules of ours decide when it is consulted:
 *
 *   pref 9000  lookup main suppress_prefixlength 0   main's routes except its default route(s):
 *                                                    the LAN, connected subnets, the /32 underlay
 *                                                    pins and the bypass routes (all in main)
 *   pref 9001  lookup 249                            GSA's routes, incl. 0.0.0.0/0 or its halves
 *   (pref 32766 lookup main, the kernel's own)       the branch's default route, as before
 *
 * So GSA's routes win over the branch's default route whatever its metric, without editing it
 * (the main table keeps its default route, untouched), and anything more specific in main keeps
 * winning over GSA — above all the pins, which therefore do not depend on prefix length against
 * a form GSA chooses. With defaultRoute: security, table 249 also holds `blackhole 0.0.0.0/0` at
 * the highest metric: when BGP has withdrawn GSA's routes (every tunnel down), internet traffic
 * hits the blackhole instead of falling through to the default route; with productivity there is
 * no blackhole, and it falls through.
 *
 * Rule 9001 is what makes table 249 effective, so it is added only after every address the
 * daemon itself must reach through the underlay has its /32 in main, and a route lookup
 * (`ip route get`) confirms each still leaves through the underlay; it is removed again as soon as
 * one of them resolves into a tunnel (checked every few seconds), which refuses all of GSA's
 * routes at once rather than let one capture the tunnel's own packets.
 *
 * Everything carries protocol 249; cleanup() removes our two rules and empties table 249 (ours
 * by construction; BIRD's leftovers of a killed run included).
 */
import { IpError, routeGet, type IpRunner } from './ip.js';

export const RULE_MAIN_PREF = 9000;
export const RULE_TABLE_PREF = 9001;

export interface InternetRulesOptions {
  runner: IpRunner;
  table: number;
  proto: number;
  /** Hold internet traffic (blackhole in the table) when GSA's routes are gone. */
  security: boolean;
}

interface RuleJson { priority?: number; table?: string; suppress_prefixlen?: number; protocol?: string; action?: string }

/** What a check found: every address on the underlay, or the first that is not and why. */
export type UnderlayCheck = { ok: true } | { ok: false; address: string; reason: string };

export class InternetRules {
  constructor(private readonly o: InternetRulesOptions) {}

  private ip(args: string[]) {
    return this.o.runner.run(args);
  }

  private async rules(): Promise<RuleJson[]> {
    const { stdout } = await this.ip(['-json', 'rule', 'show']);
    try {
      const v = JSON.parse(stdout.trim() || '[]') as unknown;
      return Array.isArray(v) ? (v as RuleJson[]) : [];
    } catch {
      return [];
    }
  }

  /**
   * Rule 9000 and, with security, the blackhole in our table and a `blackhole` rule at 9001 that
   * holds internet traffic until the first check passes (enable() swaps it for the lookup).
   */
  async prepare(): Promise<void> {
    await this.cleanup();
    await this.ip(['rule', 'add', 'pref', String(RULE_MAIN_PREF), 'lookup', 'main', 'suppress_prefixlength', '0', 'protocol', String(this.o.proto)]);
    if (this.o.security) {
      await this.ip(['route', 'replace', 'blackhole', '0.0.0.0/0', 'table', String(this.o.table), 'metric', '4294967295', 'proto', String(this.o.proto)]);
      await this.hold();
    }
  }

  private async holding(): Promise<boolean> {
    return (await this.rules()).some((r) => r.priority === RULE_TABLE_PREF && r.action === 'blackhole');
  }

  private async hold(): Promise<void> {
    if (!(await this.holding())) await this.ip(['rule', 'add', 'pref', String(RULE_TABLE_PREF), 'blackhole', 'protocol', String(this.o.proto)]);
  }

  private async unhold(): Promise<void> {
    if (await this.holding()) await this.ip(['rule', 'del', 'pref', String(RULE_TABLE_PREF), 'blackhole']).catch(ignoreGone);
  }

  /** Is rule 9001 (GSA's table consulted) in place? */
  async active(): Promise<boolean> {
    return (await this.rules()).some((r) => r.priority === RULE_TABLE_PREF && r.table === String(this.o.table));
  }

  async enable(): Promise<void> {
    if (!(await this.active())) await this.ip(['rule', 'add', 'pref', String(RULE_TABLE_PREF), 'lookup', String(this.o.table), 'protocol', String(this.o.proto)]);
    await this.unhold();
  }

  /** GSA's routes refused: security holds internet traffic (blackhole rule), productivity lets main decide. */
  async disable(): Promise<void> {
    if (this.o.security) await this.hold();
    for (const r of await this.rules()) {
      if (r.priority === RULE_TABLE_PREF && r.table === String(this.o.table)) {
        await this.ip(['rule', 'del', 'pref', String(RULE_TABLE_PREF), 'lookup', String(this.o.table)]).catch(ignoreGone);
      }
    }
  }

  /**
   * Each address must resolve (`ip route get`, policy rules included) to a unicast route that is
   * not through a tunnel interface, and to our /32 pin in main when `pinned` says one was wanted.
   */
  async checkUnderlay(addresses: readonly string[], tunnelDevs: ReadonlySet<string>, pinned: ReadonlySet<string>): Promise<UnderlayCheck> {
    for (const a of addresses) {
      let got;
      try {
        got = await routeGet(this.o.runner, a);
      } catch (err) {
        if (!(err instanceof IpError)) throw err;
        return { ok: false, address: a, reason: `no route: ${err.stderr || err.message}` };
      }
      if (got === undefined || got.type !== 'unicast' || got.dev === undefined) return { ok: false, address: a, reason: `resolves to ${got?.type ?? 'nothing'}` };
      if (tunnelDevs.has(got.dev)) return { ok: false, address: a, reason: `resolves into tunnel interface ${got.dev}` };
      if (pinned.has(a)) {
        const fib = await routeGet(this.o.runner, a, true).catch(() => undefined);
        if (fib?.dst !== `${a}/32` || fib.protocol !== String(this.o.proto)) return { ok: false, address: a, reason: `its /32 underlay pin is not installed (the lookup matched ${fib?.dst ?? 'nothing'})` };
      }
    }
    return { ok: true };
  }

  /** Remove our rules and empty our table. Safe to call when nothing is there. */
  async cleanup(): Promise<void> {
    for (const r of await this.rules()) {
      const ours = r.protocol === String(this.o.proto) || (r.priority === RULE_TABLE_PREF && r.table === String(this.o.table));
      if (ours && (r.priority === RULE_MAIN_PREF || r.priority === RULE_TABLE_PREF)) {
        const args = ['rule', 'del', 'pref', String(r.priority)];
        if (r.table !== undefined) args.push('lookup', r.table);
        else if (r.action === 'blackhole') args.push('blackhole');
        await this.ip(args).catch(ignoreGone);
      }
    }
    await this.ip(['route', 'flush', 'table', String(this.o.table)]).catch(ignoreGone);
  }
}

function ignoreGone(err: unknown): void {
  if (err instanceof IpError && /No such|does not exist|FIB table/i.test(err.stderr)) return;
  if (err instanceof IpError && err.stderr === '') return;
  throw err;
}
