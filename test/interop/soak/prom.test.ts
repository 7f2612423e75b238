/**
 * prom.ts's series lookup against text written by prom-client itself (the library the daemon's
 * exporter uses), so the format is the real one and not our own rendering of it.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Gauge, Registry } from 'prom-client';
import { seriesValue } from './prom.js';

async function exposition(): Promise<string> {
  const registry = new Registry();
  const rekeys = new Counter({ name: 'branchgate_rekeys_total', help: 'h', labelNames: ['tunnel', 'kind'], registers: [registry] });
  rekeys.inc({ kind: 'child', tunnel: 'gw' }, 7);
  rekeys.inc({ tunnel: 'gw', kind: 'ike' }, 2);
  rekeys.inc({ tunnel: 'gw2', kind: 'child' }, 40);
  new Gauge({ name: 'nodejs_eventloop_lag_p99_seconds', help: 'h', registers: [registry] }).set(0.0123);
  // a longer name that starts with the one looked up
  new Gauge({ name: 'nodejs_eventloop_lag_p99_seconds_extra', help: 'h', registers: [registry] }).set(9);
  return registry.metrics();
}

describe('seriesValue', () => {
  it('finds a series by name and a subset of its labels, in any order, and nothing for a longer name', async () => {
    const text = await exposition();
    expect(seriesValue(text, 'branchgate_rekeys_total', { tunnel: 'gw', kind: 'child' })).toBe(7);
    expect(seriesValue(text, 'branchgate_rekeys_total', { kind: 'ike', tunnel: 'gw' })).toBe(2);
    expect(seriesValue(text, 'branchgate_rekeys_total', { tunnel: 'gw2' })).toBe(40);
    expect(seriesValue(text, 'nodejs_eventloop_lag_p99_seconds')).toBe(0.0123);
    expect(seriesValue(text, 'branchgate_rekeys_total', { tunnel: 'gw3' })).toBeUndefined();
    expect(seriesValue(text, 'nodejs_eventloop_lag')).toBeUndefined();
  });

  it('reads garbage as absent, never throws', () => {
    for (const t of ['', '#', 'branchgate_rekeys_total{', 'branchgate_rekeys_total{tunnel="gw"} x', 'branchgate_rekeys_total{tunnel="gw"}']) {
      expect(seriesValue(t, 'branchgate_rekeys_total', { tunnel: 'gw' })).toBeUndefined();
    }
  });
});
