/**
 * The EngineContext IkeEngine hands to everything it calls for one input (a datagram, a tick, a
 * command): the clock and randomness the caller gave it, the list the actions go into, and the
 * two log functions, the second limited per kind (log-limiter.ts).
 */
import type { Action, LogLevel } from './actions.js';
import type { EngineContext, EngineOps } from './sa.js';
import type { FloodKind, FloodLog, Summary } from './log-limiter.js';

export interface ContextDeps {
  random: (n: number) => Uint8Array;
  udpEncapsulationOnly: boolean;
  exportKeys: boolean;
  ops: EngineOps;
  floods: FloodLog;
}

export function makeContext(now: number, d: ContextDeps): EngineContext {
  const actions: Action[] = [];
  const log: EngineContext['log'] = (level, tunnel, msg, fields) =>
    void actions.push({ kind: 'log', level, msg, ...(tunnel ? { tunnel } : {}), ...(fields ? { fields } : {}) });
  return {
    now,
    actions,
    random: d.random,
    udpEncapsulationOnly: d.udpEncapsulationOnly,
    exportKeys: d.exportKeys,
    ops: d.ops,
    log,
    floodLog: (kind, level, tunnel, msg, fields) => {
      const ended: Summary[] = [];
      const ok = d.floods.allow(kind, level, now, ended);
      for (const s of ended) log(s.level, undefined, s.msg);
      if (ok) log(level, tunnel, msg, fields);
    },
  };
}

/**
 * Log a line about one hostile or broken datagram: rate-limited by kind when the context has a
 * FloodLog (the engine's always does), written as is otherwise.
 */
export function logFlood(
  ctx: EngineContext, kind: FloodKind, level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>,
): void {
  if (ctx.floodLog) ctx.floodLog(kind, level, tunnel, msg, fields);
  else ctx.log(level, tunnel, msg, fields);
}
