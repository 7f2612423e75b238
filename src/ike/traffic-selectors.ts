/**
 * Traffic selector narrowing (RFC 7296 §2.9). The responder answers with the intersection of
 * what the initiator proposed and what its policy allows, or TS_UNACCEPTABLE when it is empty.
 */
import type { TrafficSelector } from './codec/types.js';

function cmp(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) {
    if (a[i]! !== b[i]!) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

function intersectOne(a: TrafficSelector, b: TrafficSelector): TrafficSelector | null {
  if (a.tsType !== b.tsType || a.startAddr.length !== b.startAddr.length) return null;
  // Protocol 0 means "any" (RFC 7296 §3.13.1).
  if (a.ipProtocol !== 0 && b.ipProtocol !== 0 && a.ipProtocol !== b.ipProtocol) return null;
  const startAddr = cmp(a.startAddr, b.startAddr) >= 0 ? a.startAddr : b.startAddr;
  const endAddr = cmp(a.endAddr, b.endAddr) <= 0 ? a.endAddr : b.endAddr;
  if (cmp(startAddr, endAddr) > 0) return null;
  const startPort = Math.max(a.startPort, b.startPort);
  const endPort = Math.min(a.endPort, b.endPort);
  if (startPort > endPort) return null;
  return {
    tsType: a.tsType,
    ipProtocol: a.ipProtocol !== 0 ? a.ipProtocol : b.ipProtocol,
    startPort,
    endPort,
    startAddr: new Uint8Array(startAddr),
    endAddr: new Uint8Array(endAddr),
  };
}

/** Every non-empty pairwise intersection, without duplicates, in the proposer's order. */
export function narrow(proposed: TrafficSelector[], allowed: TrafficSelector[]): TrafficSelector[] {
  const out: TrafficSelector[] = [];
  for (const p of proposed) {
    for (const a of allowed) {
      const n = intersectOne(p, a);
      if (n && !out.some((o) => equalSelector(o, n))) out.push(n);
    }
  }
  return out;
}

export function equalSelector(a: TrafficSelector, b: TrafficSelector): boolean {
  return (
    a.tsType === b.tsType &&
    a.ipProtocol === b.ipProtocol &&
    a.startPort === b.startPort &&
    a.endPort === b.endPort &&
    cmp(a.startAddr, b.startAddr) === 0 &&
    cmp(a.endAddr, b.endAddr) === 0
  );
}

/** True when `inner` lies entirely inside `outer`. */
export function contains(outer: TrafficSelector, inner: TrafficSelector): boolean {
  const n = intersectOne(outer, inner);
  return n !== null && equalSelector(n, inner);
}

/** The initiator accepts a narrowed answer only if each selector is inside something it proposed. */
export function isSubsetOf(answer: TrafficSelector[], proposed: TrafficSelector[]): boolean {
  return answer.length > 0 && answer.every((s) => proposed.some((p) => contains(p, s)));
}
