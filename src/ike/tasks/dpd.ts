/**
 * Liveness checks (RFC 7296 §2.4): an empty INFORMATIONAL request, sent only when nothing
 * authenticated — IKE or ESP (IkeEngine.noteInboundEsp) — has arrived for `dpd` seconds and no
 * other request is in flight (any request is a liveness check). Its retransmits follow
 * retransmit.ts livenessPolicy; when they are spent the engine declares the peer dead.
 */
import { ExchangeType } from '../constants.js';
import type { Payload } from '../codec/types.js';
import type { IkeSa, Task } from '../sa.js';

class DpdTask implements Task {
  readonly name = 'dpd';
  build(): { exchange: number; payloads: Payload[] } {
    return { exchange: ExchangeType.INFORMATIONAL, payloads: [] };
  }
  onResponse(): void {
    // Any authenticated answer already moved lastInboundAt.
  }
}

/** When the next liveness check is due, or null (dpd off, not established, a request in flight). */
export function dpdDueAt(sa: IkeSa): number | null {
  if (sa.tunnel.dpd <= 0 || sa.state !== 'established' || sa.outstanding || sa.tasks.length > 0) return null;
  return sa.lastInboundAt + sa.tunnel.dpd * 1000;
}

export function dpdTask(): Task {
  return new DpdTask();
}
