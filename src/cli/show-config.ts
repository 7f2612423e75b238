/**
 * `branchgate show-config`: the configuration the daemon would run, as plain data — profiles
 * (gsa-default, gsa-custom) expanded into their proposals in strongSwan syntax, identities as
 * written, every default filled, and every secret replaced by "(hidden)".
 */
import { stringify } from 'yaml';
import type { Config, TunnelConfig } from '../config/types.js';
import { proposalToString } from '../config/proposals.js';
import { Secret } from '../secret.js';

const HIDDEN = '(hidden)';

function tunnel(t: TunnelConfig): Record<string, unknown> {
  const { psk: _psk, ikeProposals, espProposals, localId, remoteId, ...rest } = t;
  return {
    ...rest,
    localId: localId.display,
    remoteId: remoteId === null ? '%any' : remoteId.display,
    psk: HIDDEN,
    ike: ikeProposals.map(proposalToString),
    esp: espProposals.map(proposalToString),
  };
}

/** Plain JSON data; no Secret, Identity bytes or Uint8Array survive. */
export function effectiveConfig(c: Config): unknown {
  const doc = { ...c, tunnels: c.tunnels.map(tunnel) };
  return JSON.parse(JSON.stringify(doc, (_k, v: unknown) =>
    v instanceof Secret ? HIDDEN : v instanceof Uint8Array ? HIDDEN : v)) as unknown;
}

export function showConfigText(c: Config, asJson: boolean): string {
  const data = effectiveConfig(c);
  return asJson ? `${JSON.stringify(data, null, 2)}\n` : stringify(data, { lineWidth: 0 });
}
