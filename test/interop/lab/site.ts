/**
 * The lab's standard site-to-site tunnel: branchgate in cpe initiates to strongSwan in gw, the
 * branch LAN (ADDR.lanPrefix) on one side and the service prefix (ADDR.svcPrefix) on the other,
 * AES-256-GCM with ECDH P-256, ESP in UDP. Tests that need that tunnel and something more start
 * from these two and override only what they are about, so the common part is written once.
 */
import type { BgTunnelConfig } from './branchgate.js';
import type { SwanConn } from './strongswan.js';
import { ADDR } from './topology.js';

export const SITE_IKE = 'aes256gcm16-prfsha256-ecp256';
export const SITE_ESP = 'aes256gcm16';

/** strongSwan's side in gw: answers the cpe's WAN address, IDs are the addresses. */
export function siteConn(name: string, psk: string, over: Partial<SwanConn> = {}): SwanConn {
  return {
    name, localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan, psk,
    proposals: [SITE_IKE], espProposals: [SITE_ESP], localTs: [ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix],
    ...over,
  };
}

/** branchgate's side in cpe: initiates, no DPD, TUN bg0 at MTU 1380, the service prefix routed into it. */
export function siteTunnel(name: string, psk: string, over: Partial<BgTunnelConfig> = {}): BgTunnelConfig {
  return {
    name, localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, psk, ike: [SITE_IKE], esp: [SITE_ESP],
    initiate: true, dpd: 0, localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix],
    interface: 'bg0', mtu: 1380, routes: [ADDR.svcPrefix],
    ...over,
  };
}
