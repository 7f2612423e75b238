/**
 * The daemon's side of the Prometheus exporter (metrics.ts): what it scrapes and which engine
 * events it counts. daemon.ts only starts it, forwards events, reports a Child SA's last
 * counters before removing it, and closes it.
 *
 * Each scrape reads the list-sas document (Child SA ages, the UDP counters and, when the daemon
 * passes them, the datapath's drops by reason, the kernel's UDP socket drops and the control
 * socket's bound counters), the BGP neighbors from status, and the engine's drop counters: the
 * values are exactly what `status` and `list-sas` show, so an operator never sees two numbers
 * for one thing.
 */
import type { EngineEvent } from '../ike/actions.js';
import type { SaCounters } from '../dataplane/types.js';
import type { Logger } from '../log.js';
import type { ListSasDocument, StatusDocument } from './status.js';
import { MetricsExporter, type ListenAddress } from './metrics-http.js';
import { snapshotFromStatus, type ConfigLoadState, type MetricsEvent } from './metrics-input.js';
import { registerHaMetrics } from '../ha/metrics.js';
import type { HaStatus } from '../ha/supervisor.js';

export interface MetricsSource {
  status(): StatusDocument;
  listSas(): ListSasDocument;
  /** Cumulative dropped IKE datagrams by reason (IkeEngine.drops). */
  ikeDrops(): Readonly<Record<string, number>> | undefined;
  /** Half-open responder IKE SAs now (IkeEngine.halfOpenCount); undefined for test engines. */
  ikeHalfOpen?(): number | undefined;
  /** Whether the last config load succeeded, and when one last did. */
  configLoad?(): ConfigLoadState;
  /** Further exposition text (the Internet Access series, metrics-internet.ts). */
  extraText?(): string;
  /** The HA pair's state (src/ha/), when ha: is configured. */
  ha?(): HaStatus | undefined;
}

export interface DaemonMetrics {
  address(): ListenAddress;
  onEngineEvent(e: EngineEvent): void;
  /** A Child SA is about to be removed: its last counters, so no traffic goes uncounted. */
  childFinal(tunnel: string, spiIn: number, counters: SaCounters): void;
  close(): Promise<void>;
}

/** The exporter's view of an engine event (undefined: not counted). */
export function metricsEvent(e: EngineEvent): MetricsEvent | undefined {
  switch (e.type) {
    case 'child-rekeyed':
      return { type: 'rekey', tunnel: e.tunnel, kind: 'child' };
    case 'ike-rekeyed':
      return { type: 'rekey', tunnel: e.tunnel, kind: 'ike' };
    case 'dpd-dead':
      return { type: 'dpd-failed', tunnel: e.tunnel };
    case 'ike-up':
      return e.handshakeMs !== undefined ? { type: 'handshake', tunnel: e.tunnel, ms: e.handshakeMs } : undefined;
    default:
      return undefined;
  }
}

/** null when control.metrics is not set; rejects with MetricsBindError when it cannot listen. */
export async function startDaemonMetrics(listen: string | undefined, src: MetricsSource, logger: Logger): Promise<DaemonMetrics | null> {
  if (listen === undefined) return null;
  const exporter = await MetricsExporter.start({
    listen,
    logger,
    // process_* and nodejs_* (resident memory, open fds, heap, event-loop lag): a soak reads them.
    defaultMetrics: true,
    ...(src.extraText ? { extra: () => src.extraText!() } : {}),
    snapshot: () => {
      const drops = src.ikeDrops();
      const halfOpen = src.ikeHalfOpen?.();
      const bgp = src.status().bgp;
      const config = src.configLoad?.();
      return snapshotFromStatus(src.listSas(), { ...(drops ? { ikeDrops: drops } : {}), ...(halfOpen !== undefined ? { ikeHalfOpen: halfOpen } : {}),
        ...(bgp ? { bgp } : {}), ...(config ? { config } : {}) });
    },
  });
  if (src.ha) registerHaMetrics(exporter.metrics.registry, src.ha);
  const a = exporter.address();
  logger.info({ metrics: `${a.host}:${a.port}` }, 'metrics endpoint listening (GET /metrics)');
  return {
    address: () => exporter.address(),
    onEngineEvent(e) {
      const m = metricsEvent(e);
      if (m) exporter.onEvent(m);
    },
    childFinal: (tunnel, spiIn, counters) => exporter.onEvent({ type: 'child-final', tunnel, spiIn, counters }),
    close: () => exporter.close(),
  };
}
