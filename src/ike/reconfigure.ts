/**
 * Config reload for IkeEngine (`branchgate reload`, SIGHUP: untouched tunnels keep their
 * SAs). The new tunnel list is compared with the running one by value
 * (src/config-diff.ts):
 *
 *   unchanged → nothing at all: its entry, IKE SA, Child SAs, SPIs, timers, backoff stay as they are;
 *   changed   → taken down (a Delete to the peer, RFC 7296 §1.4.1) and started with the new config;
 *   removed   → taken down and forgotten;
 *   added     → started.
 *
 * A tunnel taken down leaves the datapath in the same batch of actions (remove-child for each of
 * its Child SAs, then ike-down), so the daemon can rebuild its device and routes at once; its
 * old IKE SA stays only to carry the Delete and is "retired": it belongs to no tunnel, accepts
 * no new work and goes quietly when the Delete is answered or times out.
 */
import type { TunnelConfig } from '../config/types.js';
import { diffTunnels } from '../config-diff.js';
import { dropChild } from './child-sa.js';
import type { EngineContext, IkeSa } from './sa.js';
import { hex } from './spi.js';
import { sendIkeDelete } from './tasks/ike-delete.js';
import type { EngineHost, TunnelEntry } from './engine-host.js';

/** Apply `next` to `engine`; `initiate` starts an initiating tunnel (the engine's own path). */
export function reconfigure(engine: EngineHost, ctx: EngineContext, next: TunnelConfig[], initiate: (t: TunnelEntry) => void): void {
  const prev = new Map(engine.tunnelList().map((t) => [t.config.name, t] as const));
  // Throws (duplicate names) before anything is touched.
  const d = diffTunnels([...prev.values()].map((t) => t.config), next);
  const keysOf = new Map(d.changed.map((c) => [c.name, c.keys]));

  for (const name of d.removed) {
    ctx.log('info', name, `reload: tunnel ${name} removed; deleting its SAs`);
    takeDown(engine, ctx, prev.get(name)!, 'removed from the config');
  }
  for (const { name, keys } of d.changed) {
    ctx.log('info', name, `reload: tunnel ${name} changed (keys: ${keys.join(', ')}); re-establishing it`, { keys: keys.join(',') });
    takeDown(engine, ctx, prev.get(name)!, 'config changed');
  }

  // The table follows the order of the new list; unchanged entries are the very same objects.
  engine.setTunnels(next.map((config): TunnelEntry => {
    const old = prev.get(config.name);
    if (old && !keysOf.has(config.name)) return old;
    // A tunnel the operator took down (`down NAME`) stays down across a reload.
    return { config, sa: null, wanted: old?.wanted ?? true, reconnect: null, failures: 0 };
  }));

  for (const config of next) {
    const name = config.name;
    const t = engine.tunnel(name)!;
    if (!keysOf.has(name) && prev.has(name)) {
      ctx.log('info', name, `reload: tunnel ${name} unchanged; its SAs are kept`);
      continue;
    }
    if (!prev.has(name)) ctx.log('info', name, `reload: tunnel ${name} added`);
    if (!t.wanted) ctx.log('info', name, `reload: tunnel ${name} stays down (taken down by the operator); \`up ${name}\` starts it`);
    else if (!config.initiate || config.remoteAddress === '%any') ctx.log('info', name, 'responder tunnel: waiting for the peer to initiate');
    else initiate(t);
  }
}

/**
 * Take every SA of a tunnel's old config out of service: half-open and connecting ones are
 * dropped, established ones are sent a Delete and retired, the rest (already deleting, or
 * replaced by a rekey) retired. Responder SAs still choosing among tunnels forget this one.
 */
function takeDown(engine: EngineHost, ctx: EngineContext, t: TunnelEntry, reason: string): void {
  const config = t.config;
  const current = t.sa;
  t.sa = null;
  t.reconnect = null;
  for (const sa of engine.saList()) {
    if (sa.retired) continue;
    const connecting = sa.state === 'half-open' || sa.state === 'init-sent' || sa.state === 'auth-sent';
    if (sa.tunnel !== config) {
      if (connecting && sa.candidates.includes(config)) sa.candidates = sa.candidates.filter((c) => c !== config);
      continue;
    }
    if (connecting) engine.remove(ctx, sa, reason, false);
    else retire(ctx, sa, reason, sa === current);
  }
}

function retire(ctx: EngineContext, sa: IkeSa, reason: string, current: boolean): void {
  const name = sa.tunnel.name;
  const wasUp = sa.state === 'established' || sa.state === 'deleting';
  if (sa.state === 'established') sendIkeDelete(ctx, sa, reason, false);
  for (const c of [...sa.children]) dropChild(ctx, sa, c, reason);
  sa.timers = [];
  sa.passiveRekey = null;
  sa.retired = true;
  if (current && wasUp) {
    ctx.actions.push({ kind: 'event', event: { type: 'ike-down', tunnel: name, reason } });
    ctx.log('info', name, `IKE SA deleted: ${reason}`, { spiI: hex(sa.spiI), spiR: hex(sa.spiR) });
  }
}
