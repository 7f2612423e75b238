/**
 * Which engine events the exporter counts, and as what (src/control/daemon-metrics.ts), checked
 * through the exporter's own rendering: a rekey, a dead peer and a handshake each move their
 * series; events the exporter has no series for move nothing.
 */
import { describe, expect, it } from 'vitest';
import type { EngineEvent } from '../../../src/ike/actions.js';
import { BranchgateMetrics } from '../../../src/control/metrics.js';
import type { MetricsSnapshot } from '../../../src/control/metrics-input.js';
import { metricsEvent } from '../../../src/control/daemon-metrics.js';

const SNAP: MetricsSnapshot = { nativeFastPath: true, tunnels: [{ name: 'gw', state: 'established', ikeEstablishedAt: null, children: [] }] };

async function render(events: EngineEvent[]): Promise<string> {
  const m = new BranchgateMetrics({ defaultMetrics: false });
  for (const e of events) {
    const me = metricsEvent(e);
    if (me) m.onEvent(me);
  }
  return m.render(SNAP);
}

describe('engine events → metrics', () => {
  it('child-rekeyed and ike-rekeyed count as rekeys of their kind', async () => {
    const text = await render([
      { type: 'child-rekeyed', tunnel: 'gw', oldSpiIn: 'c0000001', spiIn: 'c0000002', spiOut: 'd0000002', initiator: true },
      { type: 'child-rekeyed', tunnel: 'gw', oldSpiIn: 'c0000002', spiIn: 'c0000003', spiOut: 'd0000003', initiator: false },
      { type: 'ike-rekeyed', tunnel: 'gw', oldSpiI: '01', oldSpiR: '02', spiI: '03', spiR: '04', initiator: true },
    ]);
    expect(text).toMatch(/^branchgate_rekeys_total\{tunnel="gw",kind="child"\} 2$/m);
    expect(text).toMatch(/^branchgate_rekeys_total\{tunnel="gw",kind="ike"\} 1$/m);
  });

  it('dpd-dead counts as a DPD failure; ike-up with its duration is a handshake observation', async () => {
    const text = await render([
      { type: 'dpd-dead', tunnel: 'gw', silentMs: 2300 },
      { type: 'ike-up', tunnel: 'gw', spiI: '01', spiR: '02', handshakeMs: 40 },
    ]);
    expect(text).toMatch(/^branchgate_dpd_failures_total\{tunnel="gw"\} 1$/m);
    expect(text).toMatch(/^branchgate_handshake_duration_seconds_count\{tunnel="gw"\} 1$/m);
    expect(text).toMatch(/^branchgate_handshake_duration_seconds_sum\{tunnel="gw"\} 0\.04$/m);
  });

  it('events without a series are not counted', () => {
    for (const e of [
      { type: 'child-up', tunnel: 'gw', spiIn: '1', spiOut: '2' },
      { type: 'reconnect', tunnel: 'gw', attempt: 1, inMs: 500, reason: 'x' },
      { type: 'remote-moved', tunnel: 'gw', from: 'a', to: 'b' },
    ] satisfies EngineEvent[]) expect(metricsEvent(e)).toBeUndefined();
  });
});
