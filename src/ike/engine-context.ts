/**
 * The EngineContext IkeEngine hands to everything it calls for one input (a datagram, a tick, a
 * command): the clock and randomness the caller gave it, the list the actions go into, and the
 * two log functions, the second limited per kind (log-limiter.ts).
 */
import type { Action } from './actions.js';
import type { EngineContext, EngineOps } from './sa-types.js';
import type { FloodLog, Summary } from './log-limiter.js';

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
