/**
 * Defaults of the bgp: section's BIRD-facing settings, shared by the loader (which fills them
 * into the resolved Config) and src/bgp (which accepts a BgpConfig built by hand, e.g. in tests).
 * Why each value is what it is: docs/gsa.md "BGP settings".
 */
import { basename, dirname, join } from 'node:path';

export type MaxPrefixAction = 'disable' | 'restart' | 'block' | 'warn';

export const BGP_DEFAULTS = {
  /** Per-neighbor import limit. GSA's Microsoft 365 profile is ~25 routes (gsa.md §4.2). */
  maxPrefixes: 1000,
  /** BIRD "import limit ... action": disable = drop the session and its routes, stay down. */
  maxPrefixAction: 'disable' as MaxPrefixAction,
  /** Seconds; RFC 4271 §10 suggests 90. The session uses min(ours, the peer's). */
  holdTime: 90,
  /** ECMP over neighbors advertising the same prefix (zone redundancy active/active). */
  multipath: true,
  /** Kernel route metric of BGP-learned routes (BIRD's own default is 32). */
  kernelMetric: 32,
  /** Reject learned prefixes that contain a tunnel's remote endpoint (gsa.md §9 item 9). */
  acceptCoveringEndpoint: false,
} as const;

export interface BirdPaths {
  binary: string;
  socket: string;
  config: string;
}

/**
 * BIRD's control socket and config file default to siblings of branchgate's control socket,
 * so two daemons (which must already have two control sockets) never share a BIRD:
 * /run/branchgate/control.sock → /run/branchgate/control.bird.ctl and control.bird.conf.
 */
export function defaultBirdPaths(controlSocket: string): BirdPaths {
  const stem = basename(controlSocket).replace(/\.sock$/, '');
  const dir = dirname(controlSocket);
  return { binary: 'bird', socket: join(dir, `${stem}.bird.ctl`), config: join(dir, `${stem}.bird.conf`) };
}
