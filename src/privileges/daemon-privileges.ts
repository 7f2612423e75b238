/**
 * The daemon's least-privilege policy, decided at start and applied once setup is done.
 *
 * The capability set the daemon keeps, and why (docs/privileges.md has the long form):
 *   CAP_NET_ADMIN         TUN devices created later (a tunnel added by `reload`), kernel routes
 *                         (`ip route`, inherited as an ambient capability), BIRD's kernel protocol
 *                         and the BGP address on lo.
 *   CAP_NET_BIND_SERVICE  BIRD's TCP 179 after a BIRD restart (UDP 500/4500 are bound before the
 *                         switch and stay open).
 * Nothing else: no CAP_SETUID (the switch is one way), no CAP_DAC_OVERRIDE (files must really be
 * readable by the user), no CAP_NET_RAW (ESP travels in UDP 4500; there is no raw socket).
 *
 * Four ways to start:
 *   root, privileges set       switch after setup (planned here, switched by applySwitch);
 *   root, no privileges        keep running as root, with one warn line recommending privileges;
 *   the user itself            nothing to switch (systemd User= with AmbientCapabilities=);
 *   any other non-root user    refused when privileges names someone else.
 * In every case the capabilities the config needs must be effective at start, else the start
 * fails naming the missing one, instead of a TUN or bind error later.
 */
import { readFileSync } from 'node:fs';
import type { Config, PrivilegesConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { raiseAmbient, resolveIdentity, switchUser, type Identity, type NativePrivilegesApi } from '../native/privileges.js';
import { checkWritable, handOver, handoverFor, missingLevels, type Handover } from './handover.js';
import {
  CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, capMask, capNames, readProcCredentials, readThreadCredentials,
  type ProcCredentials,
} from './proc-status.js';

/** The documented capability set, kept after the switch. */
export const KEPT_CAPABILITIES: readonly number[] = [CAP_NET_ADMIN, CAP_NET_BIND_SERVICE];

/** Why the daemon needs what it needs, from this config and these options. */
export interface PrivilegeNeeds {
  /** TUN devices and kernel routes, or BIRD's kernel routes. */
  netAdmin: boolean;
  /** Ports this daemon (or BIRD) binds, each with what for. */
  ports: { port: number; what: string }[];
}

export type PrivilegePlan =
  | { kind: 'switch'; id: Identity; handover: Handover; created: string[] }
  /**
   * warning: the line to log at start (root without privileges). raise: kept capabilities this
   * non-root process has permitted but not ambient (file capabilities), to raise at once.
   */
  | { kind: 'stay'; id: Identity | null; warning?: string; raise?: number[] };

/** A plan the daemon cannot follow: `config` marks a configuration error (exit 2). */
export class PrivilegePlanError extends Error {
  constructor(message: string, readonly config: boolean) {
    super(message);
    this.name = 'PrivilegePlanError';
  }
}

export interface PlanInput {
  privileges: PrivilegesConfig | undefined;
  /** 'privileges' or '--user', for messages. */
  source: string;
  config: Config;
  socketPath: string;
  needs: PrivilegeNeeds;
  euid?: number;
  creds?: () => ProcCredentials;
  unprivilegedPortStart?: () => number;
  api?: NativePrivilegesApi;
}

/** The one line logged at start when root runs without privileges. */
export const ROOT_WARNING =
  'running as root: set privileges.user (e.g. `privileges: { user: branchgate }`, or `branchgate run --user branchgate`) ' +
  'so that branchgate drops root once its sockets and TUN devices are open and keeps only CAP_NET_ADMIN and ' +
  'CAP_NET_BIND_SERVICE (docs/privileges.md)';

/** net.ipv4.ip_unprivileged_port_start of this network namespace (1024 when unreadable). */
export function unprivilegedPortStart(): number {
  try {
    const n = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
    return Number.isInteger(n) && n >= 0 ? n : 1024;
  } catch {
    return 1024;
  }
}

/** Sentences naming each capability the needs call for that `eff` lacks. */
export function missingCapabilities(needs: PrivilegeNeeds, eff: bigint, portStart: number): string[] {
  const out: string[] = [];
  if (needs.netAdmin && !(eff & capMask([CAP_NET_ADMIN]))) {
    out.push('CAP_NET_ADMIN is not effective: it is needed to create TUN devices and change routes');
  }
  const low = needs.ports.filter((p) => p.port > 0 && p.port < portStart);
  if (low.length > 0 && !(eff & capMask([CAP_NET_BIND_SERVICE]))) {
    out.push(`CAP_NET_BIND_SERVICE is not effective: it is needed to bind ${low.map((p) => `${p.port} (${p.what})`).join(', ')}, ` +
      `below net.ipv4.ip_unprivileged_port_start=${portStart}`);
  }
  return out;
}

function who(c: ProcCredentials, euid: number): string {
  return `uid ${euid}, effective capabilities: ${capNames(c.capEff).join(', ') || 'none'}`;
}

const CAP_REMEDY = 'start it as root with privileges.user set, or grant the user the capabilities ' +
  '(systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE; docker: --cap-add NET_ADMIN); see docs/privileges.md';

/** Decide at start, before anything is opened. Throws PrivilegePlanError. */
export function planPrivileges(input: PlanInput): PrivilegePlan {
  const euid = input.euid ?? process.geteuid?.() ?? 0;
  const creds = (input.creds ?? (() => readProcCredentials()))();
  const missing = missingCapabilities(input.needs, creds.capEff, (input.unprivilegedPortStart ?? unprivilegedPortStart)());
  if (missing.length > 0) {
    throw new PrivilegePlanError(`${missing.join('; ')} (this process: ${who(creds, euid)}) — ${CAP_REMEDY}`, false);
  }
  const p = input.privileges;
  // Not root: capabilities from file capabilities are not passed on to `ip` and BIRD unless
  // they are ambient (systemd's AmbientCapabilities= already makes them so).
  const raise = euid === 0 ? [] : KEPT_CAPABILITIES.filter((c) => (creds.capPrm >> BigInt(c)) & 1n && !((creds.capAmb >> BigInt(c)) & 1n));
  const stay = (id: Identity | null): PrivilegePlan => (raise.length > 0 ? { kind: 'stay', id, raise } : { kind: 'stay', id });
  if (p === undefined) return euid === 0 ? { kind: 'stay', id: null, warning: ROOT_WARNING } : stay(null);
  let id: Identity;
  try {
    id = resolveIdentity(p.user, p.group, input.api);
  } catch (err) {
    const e = err as Error & { code?: string };
    const fix = e.code === 'unknown-group' ? `create the group (groupadd --system ${p.group ?? p.user}) or fix ${input.source}`
      : `create the user (useradd --system --no-create-home --shell /usr/sbin/nologin ${p.user}) or fix ${input.source}`;
    throw new PrivilegePlanError(`${input.source}: ${e.message} — ${fix}`, e.code === 'unknown-user' || e.code === 'unknown-group');
  }
  if (id.uid === 0 || id.gid === 0) {
    throw new PrivilegePlanError(`${input.source}: ${id.user}:${id.group} is uid ${id.uid}, gid ${id.gid}; ` +
      'name an unprivileged user and group (neither uid nor gid 0)', true);
  }
  if (euid !== 0) {
    if (euid === id.uid) return stay(id);
    throw new PrivilegePlanError(`${input.source} names ${id.user} (uid ${id.uid}) but branchgate runs as uid ${euid}, ` +
      `which cannot switch users: start it as root, or as ${id.user} directly (systemd User=${id.user})`, false);
  }
  const handover = handoverFor(input.config, input.socketPath);
  const problems = checkWritable(handover.dirs, id);
  if (problems.length > 0) throw new PrivilegePlanError(`${input.source}: ${problems.join('; ')}`, false);
  const created = [...new Set(handover.dirs.flatMap((d) => missingLevels(d.path)))];
  return { kind: 'switch', id, handover, created };
}

/** A start without root whose capabilities are not ambient: make them so, before any child. */
export function applyStay(plan: Extract<PrivilegePlan, { kind: 'stay' }>, logger: Logger, api?: NativePrivilegesApi): void {
  if (plan.warning !== undefined) logger.warn(plan.warning);
  if (plan.raise === undefined) return;
  raiseAmbient(plan.raise, api);
  logger.info({ capabilities: capNames(capMask(plan.raise)) },
    `made ${capNames(capMask(plan.raise)).join(' and ')} ambient so that ip and BIRD inherit them (they came from file capabilities)`);
}

/**
 * Setup is done: hand the writable paths over, switch, and check that the kernel did what was
 * asked on every thread. Throws (the daemon must stop) when anything is not exactly so.
 */
export function applySwitch(plan: Extract<PrivilegePlan, { kind: 'switch' }>, logger: Logger, api?: NativePrivilegesApi): void {
  const { id } = plan;
  const chowned = handOver(plan.handover, plan.created, id);
  switchUser(id, KEPT_CAPABILITIES, api);
  const problems = verifySwitch(id, readThreadCredentials(), readProcCredentials());
  if (problems.length > 0) throw new Error(`after switching to ${id.user}: ${problems.join('; ')} — refusing to run half-privileged`);
  logger.info({ user: id.user, uid: id.uid, group: id.group, gid: id.gid, groups: id.groups, handedOver: chowned,
    capabilities: capNames(capMask(KEPT_CAPABILITIES)) }, `dropped root: running as ${id.user}:${id.group} with ${capNames(capMask(KEPT_CAPABILITIES)).join(' and ')}`);
}

/**
 * What is wrong after a switch to `id`: any thread with a uid or gid other than id's (glibc
 * switches every thread; a thread it missed would still be root), or a main thread whose
 * capability sets are not exactly the kept set.
 */
export function verifySwitch(id: Identity, threads: Map<number, ProcCredentials>, main: ProcCredentials): string[] {
  const problems: string[] = [];
  for (const [tid, c] of threads) {
    if (c.uid.some((u) => u !== id.uid) || c.gid.some((g) => g !== id.gid)) {
      problems.push(`thread ${tid} (${c.name}) has uid ${c.uid.join('/')} gid ${c.gid.join('/')}`);
    }
  }
  const want = capMask(KEPT_CAPABILITIES);
  for (const [set, v] of [['permitted', main.capPrm], ['effective', main.capEff], ['bounding', main.capBnd], ['ambient', main.capAmb]] as const) {
    if (v !== want) problems.push(`the ${set} capabilities are ${capNames(v).join(',') || 'empty'}, not ${capNames(want).join(',')}`);
  }
  return problems;
}

/** Equal by value (absent and absent are equal). */
export function samePrivileges(a: PrivilegesConfig | undefined, b: PrivilegesConfig | undefined): boolean {
  return a?.user === b?.user && a?.group === b?.group;
}

const show = (p: PrivilegesConfig | undefined): string => (p === undefined ? '(none)' : p.group ? `${p.user}:${p.group}` : p.user);

/** The reload line when privileges changed: it needs a restart, and nothing else changes. */
export function restartNeededMessage(before: PrivilegesConfig | undefined, after: PrivilegesConfig | undefined, running: string): string {
  return `reload: privileges changed from ${show(before)} to ${show(after)}; that takes a restart of branchgate ` +
    `(the switch happens once, at start). Still running as ${running}; everything else in the file was applied`;
}

/**
 * Extra lines for a config that did not load after the switch: each file the user could not
 * read, named with the user and what to do. [] when no issue is a permission error.
 */
export function unreadableHints(issues: readonly string[], id: Identity): string[] {
  const files = new Set<string>();
  for (const line of issues) {
    const m = /cannot read (\S.*?): permission denied/.exec(line) ?? /^(\S.*?): cannot read: permission denied/.exec(line);
    const f = m?.[1];
    if (f !== undefined) files.add(f.replace(/^.*?:\d+:\d+: /, ''));
  }
  return [...files].map((f) => `${f} is not readable by ${id.user} (uid ${id.uid}), the user branchgate runs as since it ` +
    `dropped root at start: chgrp ${id.group} ${f} && chmod g+r ${f}, or chown ${id.user} ${f}`);
}

/** What this config needs: NET_ADMIN for TUN/routes (kernel datapath) or BIRD; the ports bound. */
export function privilegeNeeds(config: Config, kernelDatapath: boolean, ports: { ike: number; natT: number }): PrivilegeNeeds {
  return {
    netAdmin: kernelDatapath || config.bgp !== undefined,
    ports: [
      { port: ports.ike, what: 'UDP, IKE' },
      { port: ports.natT, what: 'UDP, IKE and ESP in UDP' },
      ...(config.bgp !== undefined ? [{ port: 179, what: 'TCP, BGP in BIRD' }] : []),
    ],
  };
}
