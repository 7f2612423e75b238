/**
 * HA series on the daemon's Prometheus registry, read from HaSupervisor.status() at each scrape
 * (prom-client `collect`, the same scrape-time rule as metrics.ts):
 *
 * | series | type | labels |
 * |---|---|---|
 * | branchgate_ha_role | state set | role (master, backup, fault, unknown) |
 * | branchgate_ha_priority | gauge | the VRRP priority advertised now (tracking lowers it) |
 * | branchgate_ha_healthy | gauge 0/1 | a tunnel and its BGP session are up |
 * | branchgate_ha_split_brain | gauge 0/1 | both boxes master (probe) |
 * | branchgate_ha_role_changes_total | counter | |
 * | branchgate_ha_split_brain_events_total | counter | |
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HaStatus } from './supervisor.js';

const ROLES = ['master', 'backup', 'fault', 'unknown'] as const;

export function registerHaMetrics(registry: Registry, status: () => HaStatus | undefined): void {
  const registers = [registry];
  new Gauge({
    name: 'branchgate_ha_role', help: `HA role state set: 1 for the current VRRP role (${ROLES.join('|')})`, labelNames: ['role'], registers,
    collect() {
      const s = status();
      this.reset();
      if (s) for (const r of ROLES) this.set({ role: r }, r === s.role ? 1 : 0);
    },
  });
  const simple = (name: string, help: string, get: (s: HaStatus) => number) =>
    new Gauge({ name, help, registers, collect() { const s = status(); this.reset(); if (s) this.set(get(s)); } });
  simple('branchgate_ha_priority', 'VRRP priority this box advertises now (health tracking lowers it)', (s) => s.priority);
  simple('branchgate_ha_healthy', '1 while a tunnel and its BGP session are up (the tracking input)', (s) => (s.healthy ? 1 : 0));
  simple('branchgate_ha_split_brain', '1 while this box and its peer are both VRRP master', (s) => (s.splitBrain ? 1 : 0));
  const total = (name: string, help: string, get: (s: HaStatus) => number) => {
    let last = 0;
    new Counter({ name, help, registers, collect() { const s = status(); if (!s) return; const v = get(s); if (v > last) this.inc(v - last); last = v; } });
  };
  total('branchgate_ha_role_changes_total', 'VRRP role changes keepalived reported', (s) => s.roleChanges);
  total('branchgate_ha_split_brain_events_total', 'times split brain was detected', (s) => s.splitBrainEvents);
}
