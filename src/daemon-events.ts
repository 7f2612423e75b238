/**
 * The daemon's words for engine events: one log line each, with what happened and why. The
 * same text answers `rekey --wait` when the tunnel goes down instead.
 */
import type { EngineEvent } from './ike/actions.js';

/** One log line per engine event: what happened, in words, and why. */
export function describeEvent(e: EngineEvent): { msg: string; reason?: string; level: 'info' | 'warn' } {
  const by = (initiator: boolean): string => (initiator ? 'we started it' : 'the peer started it');
  switch (e.type) {
    case 'ike-up': return { msg: `IKE SA established (${e.spiI}_i ${e.spiR}_r)`, level: 'info' };
    case 'ike-down': return { msg: `IKE SA gone: ${e.reason}`, reason: e.reason, level: 'info' };
    case 'child-up': return { msg: `Child SA installed (in ${e.spiIn}, out ${e.spiOut})`, level: 'info' };
    case 'child-down': return { msg: `Child SA removed (in ${e.spiIn}): ${e.reason}`, reason: e.reason, level: 'info' };
    case 'child-rekeyed':
      return { msg: `Child SA rekeyed: in ${e.oldSpiIn} -> ${e.spiIn} (out ${e.spiOut}); ${by(e.initiator)}`,
        reason: e.initiator ? 'rekey started by us' : 'rekey started by the peer', level: 'info' };
    case 'ike-rekeyed':
      return { msg: `IKE SA rekeyed: ${e.oldSpiI}_i ${e.oldSpiR}_r -> ${e.spiI}_i ${e.spiR}_r; ${by(e.initiator)}`,
        reason: e.initiator ? 'rekey started by us' : 'rekey started by the peer', level: 'info' };
    case 'dpd-dead': {
      const reason = `no answer to liveness checks; nothing heard for ${(e.silentMs / 1000).toFixed(1)} s`;
      return { msg: `peer declared dead: ${reason}`, reason, level: 'warn' };
    }
    case 'reconnect':
      return { msg: `reconnecting in ${(e.inMs / 1000).toFixed(1)} s (attempt ${e.attempt}): ${e.reason}`, reason: e.reason, level: 'info' };
    case 'remote-moved': {
      const reason = `peer's NAT mapping moved from ${e.from} to ${e.to}`;
      return { msg: `remote endpoint moved: ${e.from} -> ${e.to}`, reason, level: 'info' };
    }
  }
}
