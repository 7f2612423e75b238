/**
 * The named timer table (src/ike/timers.ts): nextWakeup() is exactly the earliest `due` of the
 * tables, nothing fires before it, and a tick at it pops what was due (the next wakeup is later),
 * through rekeys, liveness checks, NAT keepalives, retransmits and lifetimes of a running pair.
 */
import { describe, expect, it } from 'vitest';
import { SA_TIMERS, TUNNEL_TIMERS, nextDue } from '../../src/ike/timers.js';
import type { Node } from './harness.js';
import { pair } from './lifecycle.js';

function tableMin(n: Node): number | null {
  const env = { udpEncapsulationOnly: true };
  const times = [...n.engine.sas.values()].map((sa) => nextDue(SA_TIMERS, sa, env));
  times.push(...[...n.engine.tunnels.values()].map((t) => nextDue(TUNNEL_TIMERS, t, env)));
  const set = times.filter((t): t is number => t !== null);
  return set.length ? Math.min(...set) : null;
}

describe('named timers', () => {
  it('every timer has its own name', () => {
    const names = [...SA_TIMERS, ...TUNNEL_TIMERS].map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('the wakeup is the earliest deadline; a tick before it does nothing, a tick at it pops the due timers', () => {
    const { net, i, r } = pair({
      i: { dpd: 30, childLifetime: 300, ikeLifetime: 900 },
      r: { dpd: 30, childLifetime: 600, ikeLifetime: 1800 },
      udpEncapsulationOnly: true,
    });
    // Every ninth datagram is lost, so requests are retransmitted too.
    let sent = 0;
    net.filter = () => (++sent % 9 === 0 ? 'drop' : 'deliver');
    const fired = new Map<string, number>();
    for (let step = 0; step < 200; step++) {
      const nodes = [i, r].map((n) => ({ n, w: n.engine.nextWakeup() }));
      for (const { n, w } of nodes) expect(w, n.address).toBe(tableMin(n));
      const next = nodes.filter((x) => x.w !== null).sort((a, b) => a.w! - b.w!)[0]!;
      const w = next.w!;
      if (w - 1 >= net.now) expect(next.n.engine.onTick(w - 1), `nothing is due before ${w}`).toEqual([]);
      net.now = Math.max(net.now, w);
      const dueNames = [...next.n.engine.sas.values()].flatMap((sa) => SA_TIMERS.filter((t) => {
        const at = t.due(sa, { udpEncapsulationOnly: true });
        return at !== null && at <= net.now;
      }).map((t) => t.name));
      for (const name of dueNames) fired.set(name, (fired.get(name) ?? 0) + 1);
      net.perform(next.n, next.n.engine.onTick(net.now));
      // Before any answer arrives (an answer may arm a timer due at once, e.g. a new SA's first keepalive).
      const after = next.n.engine.nextWakeup();
      expect(after === null || after > net.now, `a tick at ${net.now} left a timer due`).toBe(true);
      net.run();
    }
    // The walk went through the kinds of deadline a running tunnel has.
    expect([...fired.keys()].sort()).toEqual(['child-rekey', 'dpd', 'ike-rekey', 'nat-keepalive', 'one-shot', 'retransmit']);
    expect(i.engine.status(net.now)[0]!.state).toBe('established');
  });
});
