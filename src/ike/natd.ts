/**
 * NAT detection (RFC 7296 §2.23): each side sends SHA-1(SPIi | SPIr | IP | port) of its own
 * source (NAT_DETECTION_SOURCE_IP) and of the destination it sent to; a mismatch on arrival
 * means an address was rewritten on the way.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Endpoint } from './actions.js';

function ipv4Bytes(address: string): Uint8Array {
  const parts = address.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new RangeError(`not an IPv4 address: ${address}`);
  }
  return Uint8Array.from(parts);
}

export function natHash(spiI: Uint8Array, spiR: Uint8Array, ep: Endpoint): Uint8Array {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(ep.port);
  return new Uint8Array(createHash('sha1').update(spiI).update(spiR).update(ipv4Bytes(ep.address)).update(port).digest());
}

/**
 * The NAT_DETECTION_SOURCE_IP value to send. With `force` it is deliberately wrong, so the peer
 * believes we are behind a NAT and both sides encapsulate in UDP 4500 (what strongSwan's
 * `encap = yes` does; GSA accepts it, docs/gsa.md).
 */
export function sourceHash(spiI: Uint8Array, spiR: Uint8Array, local: Endpoint, force: boolean): Uint8Array {
  return force ? new Uint8Array(randomBytes(20)) : natHash(spiI, spiR, local);
}

export interface NatResult {
  /** The peer's source address was rewritten: the peer is behind a NAT. */
  peerBehindNat: boolean;
  /** The address the peer sent to is not ours: we are behind a NAT. */
  selfBehindNat: boolean;
}

/**
 * Compare received NAT-D notify data against what we see. `sourceHashes` may hold several
 * values (one per address of a multi-homed peer); any match means "not rewritten".
 */
export function checkNat(
  spiI: Uint8Array,
  spiR: Uint8Array,
  from: Endpoint,
  to: Endpoint,
  sourceHashes: Uint8Array[],
  destinationHash: Uint8Array | undefined,
): NatResult | null {
  if (sourceHashes.length === 0 || destinationHash === undefined) return null;
  const eq = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
  const src = natHash(spiI, spiR, from);
  const dst = natHash(spiI, spiR, to);
  return {
    peerBehindNat: !sourceHashes.some((h) => eq(h, src)),
    selfBehindNat: !eq(destinationHash, dst),
  };
}
