/**
 * The engine's install-child action, as the Dataplane seam wants it: our inbound SA decrypts
 * with the keys the peer encrypts with, and ESP always travels in UDP 4500 (RFC 3948) — the
 * userspace datapath has no raw ESP socket, as with strongSwan's kernel-libipsec.
 */
import type { Action } from '../ike/actions.js';
import type { ChildSaSpec } from './types.js';

export function childSpec(a: Extract<Action, { kind: 'install-child' }>): ChildSaSpec {
  const c = a.child;
  const common = { encrId: c.encrId, encrKeyBits: c.encrKeyBits, integId: c.integId, esn: c.esn };
  return {
    tunnel: c.tunnel,
    inbound: { ...common, spi: c.spiIn, encrKey: a.keys.encrIn, integKey: a.keys.integIn },
    outbound: { ...common, spi: c.spiOut, encrKey: a.keys.encrOut, integKey: a.keys.integOut },
    localTs: a.selectors.local,
    remoteTs: a.selectors.remote,
    local: { address: c.local.address, port: 4500 },
    remote: { address: c.remote.address, port: c.encap ? c.remote.port : 4500 },
  };
}
