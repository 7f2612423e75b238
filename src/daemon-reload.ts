/**
 * `branchgate reload` / SIGHUP (daemon.ts serializes the calls): re-read the config file and
 * apply it. A file that does not load changes nothing (the errors are logged and returned).
 * Tunnels whose config is equal by value keep their SAs; changed ones are re-established, removed
 * ones deleted, added ones started (engine.reconfigure), and the responder limits, the datapath,
 * BGP and the key export follow. What can only change at start is refused with the reason: a new
 * local address (UDP is bound at start), and `privileges` (the user switch happens once).
 */
import type { Config } from './config/types.js';
import type { Action } from './ike/actions.js';
import type { EngineApi } from './ike/engine-api.js';
import type { Logger } from './log.js';
import { resolveLocal, type UdpTransport } from './net/udp.js';
import { ControlError } from './control/server.js';
import type { Datapath } from './datapath.js';
import { createDaemonBgp, type DaemonBgp } from './bgp/daemon-bgp.js';
import { reloadHa, type DaemonHa } from './ha/daemon-ha.js';
import { diffTunnels, type TunnelDiff } from './config-diff.js';
import { ConfigLoadError, loadConfigAsync } from './config-file.js';
import type { Identity } from './native/privileges.js';
import { restartNeededMessage, samePrivileges, unreadableHints } from './privileges/daemon-privileges.js';
import type { PrivilegesConfig } from './config/types.js';

export type ReloadResult = TunnelDiff & { restartNeeded?: string[] };

/** The daemon as a reload sees it. */
export interface ReloadHost {
  readonly configPath: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly transport: UdpTransport;
  readonly datapath: Datapath;
  readonly engine: Pick<EngineApi, 'reconfigure' | 'setLimits'>;
  /** Who the daemon switched to at start (null: it did not switch). */
  readonly switchedTo: Identity | null;
  /** `privileges` as it was at start. */
  readonly startPrivileges: PrivilegesConfig | undefined;
  config: Config;
  bgp: DaemonBgp | null;
  ha: DaemonHa | null;
  run(fn: (now: number) => Action[]): void;
  setKeyExport(c: Config): void;
}

export async function applyReload(d: ReloadHost): Promise<ReloadResult> {
  let next: Config;
  try {
    const loaded = await loadConfigAsync(d.configPath, d.env);
    next = loaded.config;
    for (const w of loaded.warnings) d.logger.warn(`config: ${w}`);
  } catch (err) {
    const issues = err instanceof ConfigLoadError ? err.issues : [String(err)];
    // After the switch a file root could read may not be readable any more: say so.
    const lines = d.switchedTo ? [...issues, ...unreadableHints(issues, d.switchedTo)] : issues;
    d.logger.error({ errors: lines }, 'reload: the config did not load; the running config stays');
    throw new ControlError('bad-request', `the config did not load; nothing changed:\n${lines.join('\n')}`);
  }
  const { tunnels, bind } = await resolveLocal(next.tunnels, d.logger);
  const bound = new Set(d.transport.endpoints().map((e) => e.address));
  const unbound = [...new Set(bind)].filter((a) => !bound.has(a) && !bound.has('0.0.0.0'));
  if (unbound.length > 0) {
    const msg = `reload: ${unbound.join(', ')} is a new local address; UDP 500/4500 are bound only at start — restart branchgate to use it`;
    d.logger.error(msg);
    throw new ControlError('failed', `${msg}; nothing changed`);
  }
  const diff = diffTunnels(d.config.tunnels, tunnels);
  d.run((now) => d.engine.reconfigure(tunnels, now));
  d.engine.setLimits?.(next.limits);
  // The user switch happens once, at start: a changed privileges: is reported, not applied.
  const restartNeeded = samePrivileges(d.startPrivileges, next.privileges) ? [] : ['privileges'];
  if (restartNeeded.length > 0) d.logger.warn(restartNeededMessage(d.startPrivileges, next.privileges, runningAs(d.switchedTo)));
  // gsa.profiles, defaultRoute, bypass and ipv6 are applied at start only (docs/gsa.md §7).
  if (JSON.stringify(next.internet) !== JSON.stringify(d.config.internet)) {
    d.logger.warn('reload: gsa.profiles, routing.defaultRoute, bypass or ipv6 changed; they take effect at the next restart of branchgate');
  }
  const { privileges: _ignored, ...rest } = next;
  const resolved: Config = { ...rest, tunnels, ...(d.config.privileges ? { privileges: d.config.privileges } : {}) };
  await d.datapath.reconfigure(resolved, diff);
  await reloadBgp(d, resolved);
  await reloadHa(d.ha, resolved, d.logger);
  d.setKeyExport(resolved);
  d.config = resolved;
  d.logger.info({ unchanged: diff.unchanged, changed: diff.changed.map((c) => c.name), added: diff.added, removed: diff.removed }, 'reload: done');
  return restartNeeded.length > 0 ? { ...diff, restartNeeded } : diff;
}

function runningAs(id: Identity | null): string {
  return id ? `${id.user}:${id.group}` : `uid ${process.geteuid?.() ?? '?'}`;
}

async function reloadBgp(d: ReloadHost, next: Config): Promise<void> {
  try {
    if (d.bgp && next.bgp) await d.bgp.update(next);
    else if (d.bgp && !next.bgp) {
      await d.bgp.stop();
      d.bgp = null;
    } else if (!d.bgp && next.bgp) {
      d.bgp = createDaemonBgp(next, d.logger);
      await d.bgp?.start();
    }
  } catch (err) {
    d.logger.error({ err }, 'reload: BGP did not follow the new config; see the BIRD log');
  }
}
