/**
 * The IKE decoder on real bytes (test/fixtures/captured, strongSwan ↔ strongSwan and
 * branchgate ↔ strongSwan): every captured message decodes and re-encodes to the same octets, the
 * protected ones also inside their SK payload (opened with the keys strongSwan logged), fragments
 * reassemble; and mutations of those real messages never make decodeMessage or the Reassembler
 * throw, or take more than bounded time.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PayloadType, ExchangeType, NotifyType } from '../../../src/ike/constants.js';
import { decodeMessage, encodeMessage, type MessageHeaderFields } from '../../../src/ike/codec/message.js';
import { decodePayloads, encodePayloads } from '../../../src/ike/codec/payload-chain.js';
import { Reassembler, decodeReassembled } from '../../../src/ike/codec/reassembler.js';
import { DecodeError, type IkeMessage, type Payload } from '../../../src/ike/codec/types.js';
import { createSkCipher } from '../../../src/ike/crypto/sk-cipher.js';
import type { SkCipher } from '../../../src/ike/crypto/types.js';
import { CORPUS_DIR, ikeKeysFor, ikeMessages, loadCorpus, type CapturedDatagram } from './corpus.js';
import { applyIke, ikeMutations } from './mutate.js';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const MSGS = ikeMessages();
const POOL = MSGS.map((m) => m.ike);

function decoded(m: Uint8Array): IkeMessage {
  const r = decodeMessage(m);
  if (!r.ok) throw r.error;
  return r.value;
}

/** The direction's SkCipher for a captured message (initiator flag, RFC 7296 §3.1), if its keys were logged. */
function cipherFor(m: Uint8Array): SkCipher | undefined {
  const k = ikeKeysFor(m);
  if (!k) return undefined;
  const fromInitiator = (m[19]! & 0x08) !== 0;
  return createSkCipher({
    encrId: k.encrId, encrKeyBits: k.keyBits, integId: k.integId,
    encrKey: fromInitiator ? k.skEi : k.skEr, integKey: fromInitiator ? k.skAi : k.skAr,
  });
}

const where = (d: CapturedDatagram): string => `${d.file}:${d.line} ${d.label}`;
const types = (ps: Payload[]): (number | string)[] => ps.map((p) => p.type);

describe('the captured corpus', () => {
  it('holds every exchange the brief names, small enough to keep in the repository', () => {
    const labels = new Set(loadCorpus().flatMap((f) => f.datagrams.map((d) => d.label)));
    for (const want of [
      'IKE_SA_INIT-request', 'IKE_SA_INIT-response', 'IKE_SA_INIT-response-cookie', 'IKE_SA_INIT-request-cookie',
      'IKE_SA_INIT-response-invalid-ke', 'IKE_AUTH-request', 'IKE_AUTH-request-fragment', 'IKE_AUTH-response',
      'CREATE_CHILD_SA-request', 'CREATE_CHILD_SA-response', 'INFORMATIONAL-request', 'INFORMATIONAL-response', 'esp',
    ]) expect(labels, want).toContain(want);
    const files = readdirSync(CORPUS_DIR).filter((n) => n.endsWith('.txt'));
    expect(files.reduce((n, f) => n + statSync(join(CORPUS_DIR, f)).size, 0)).toBeLessThan(200_000);
    // both cipher families for ESP, and IKE with and without AEAD
    const esp = loadCorpus().flatMap((f) => f.espKeys.map((k) => k.encrId));
    expect(new Set(esp)).toEqual(new Set([20, 12]));
    expect(new Set(loadCorpus().flatMap((f) => f.ikeKeys.map((k) => k.encrId)))).toEqual(new Set([20, 12]));
  });
});

describe('round trip on real bytes', () => {
  it('every captured IKE message decodes, its header matches the raw octets, and it re-encodes to the same octets', () => {
    expect(MSGS.length).toBeGreaterThanOrEqual(50);
    for (const d of MSGS) {
      const m = d.ike;
      const r = decodeMessage(m);
      expect(r.ok, `${where(d)}: ${r.ok ? '' : r.error.message}`).toBe(true);
      if (!r.ok) continue;
      const h = r.value.header;
      // RFC 7296 §3.1 read straight from the octets, independently of the decoder
      const dv = new DataView(m.buffer, m.byteOffset, m.byteLength);
      expect(h.exchangeType, where(d)).toBe(m[18]);
      expect(h.messageId, where(d)).toBe(dv.getUint32(20));
      expect(h.length, where(d)).toBe(m.length);
      expect(h.response, where(d)).toBe(d.label.includes('-response'));
      const { nextPayload: _n, length: _l, ...fields } = h;
      const again = encodeMessage(fields as MessageHeaderFields, r.value.payloads);
      expect(Buffer.from(again).toString('hex'), where(d)).toBe(Buffer.from(m).toString('hex'));
    }
  });

  it('IKE_SA_INIT: COOKIE and INVALID_KE_PAYLOAD as strongSwan sent them (RFC 7296 §2.6, §1.2)', () => {
    const inits = MSGS.filter((d) => d.ike[18] === ExchangeType.IKE_SA_INIT);
    for (const d of inits) {
      const ps = decoded(d.ike).payloads;
      if (d.label.endsWith('-cookie') && d.label.includes('response')) {
        // §2.6: the responder answers with only N(COOKIE), 1–64 octets of data
        expect(types(ps), where(d)).toEqual([PayloadType.NOTIFY]);
        const n = ps[0]!;
        expect(n.type === PayloadType.NOTIFY && n.notifyType === NotifyType.COOKIE && n.data.length >= 1 && n.data.length <= 64, where(d)).toBe(true);
      } else if (d.label.endsWith('-cookie')) {
        // §2.6: the retried request carries the cookie as its FIRST payload, then everything else
        const n = ps[0]!;
        expect(n.type === PayloadType.NOTIFY && n.notifyType === NotifyType.COOKIE, where(d)).toBe(true);
        expect(types(ps), where(d)).toContain(PayloadType.KE);
      } else if (d.label.endsWith('-invalid-ke')) {
        // §3.10.1: INVALID_KE_PAYLOAD carries the accepted group, 2 octets
        const n = ps.find((p) => p.type === PayloadType.NOTIFY);
        expect(n && n.type === PayloadType.NOTIFY && n.notifyType === NotifyType.INVALID_KE_PAYLOAD && n.data.length === 2, where(d)).toBe(true);
      } else {
        expect(types(ps), where(d)).toEqual(expect.arrayContaining([PayloadType.SA, PayloadType.KE, PayloadType.NONCE]));
      }
    }
  });

  it('protected messages open with the logged keys, and their inner chain re-encodes to the plaintext', () => {
    let opened = 0;
    const reassemblers = new Map<string, Reassembler>();
    let completed = 0;
    for (const d of MSGS) {
      const msg = decoded(d.ike);
      const last = msg.payloads.at(-1);
      if (!last || (last.type !== PayloadType.SK && last.type !== PayloadType.SKF)) continue;
      const cipher = cipherFor(d.ike);
      expect(cipher, `${where(d)}: no logged keys for this IKE SA`).toBeDefined();
      if (!cipher) continue;
      let plain: Uint8Array | null;
      let innerNext: number;
      if (last.type === PayloadType.SK) {
        const skStart = d.ike.length - 4 - last.body.length;
        plain = cipher.open(d.ike.slice(0, skStart + 4), last.body);
        innerNext = last.innerNext;
      } else {
        const key = `${d.file}|${Buffer.from(d.ike.subarray(0, 16)).toString('hex')}|${d.ike[19]! & 0x08}`;
        const r = reassemblers.get(key) ?? new Reassembler(cipher);
        reassemblers.set(key, r);
        const res = r.accept(d.ike, msg, 0);
        expect(res.status, `${where(d)}: ${JSON.stringify(res)}`).not.toBe('dropped');
        if (res.status !== 'complete') continue;
        completed++;
        plain = res.plaintext;
        innerNext = res.innerNext;
        expect(decodeReassembled(innerNext, plain).ok, where(d)).toBe(true);
      }
      expect(plain, `${where(d)}: ICV does not verify with the logged key`).not.toBeNull();
      if (!plain) continue;
      const inner = decodePayloads(plain, innerNext);
      expect(inner.ok, `${where(d)}: ${inner.ok ? '' : inner.error.message}`).toBe(true);
      if (!inner.ok) continue;
      expect(Buffer.from(encodePayloads(inner.value)).toString('hex'), where(d)).toBe(Buffer.from(plain).toString('hex'));
      checkContents(d, msg, inner.value);
      opened++;
    }
    expect(opened).toBeGreaterThan(30);
    expect(completed).toBeGreaterThanOrEqual(2); // the fragmented IKE_AUTH and IKE rekey requests
  });
});

/** What RFC 7296 puts in each exchange (§1.2, §1.3, §1.4), checked on the decoded real messages. */
function checkContents(d: CapturedDatagram, msg: IkeMessage, inner: Payload[]): void {
  const t = types(inner);
  const x = msg.header.exchangeType;
  const req = !msg.header.response;
  if (x === ExchangeType.IKE_AUTH) {
    expect(t, where(d)).toEqual(expect.arrayContaining([req ? PayloadType.IDi : PayloadType.IDr, PayloadType.AUTH, PayloadType.SA, PayloadType.TSi, PayloadType.TSr]));
  } else if (x === ExchangeType.CREATE_CHILD_SA) {
    expect(t, where(d)).toEqual(expect.arrayContaining([PayloadType.SA, PayloadType.NONCE]));
  } else if (x === ExchangeType.INFORMATIONAL) {
    // DPD is empty (§2.4); otherwise Delete (§3.11) or notifies
    for (const p of inner) expect([PayloadType.DELETE, PayloadType.NOTIFY], where(d)).toContain(p.type);
  }
}

describe('mutated real messages (property)', () => {
  it('decodeMessage returns a value or a DecodeError, never throws, in bounded time', () => {
    let worst = 0;
    fc.assert(
      fc.property(fc.nat(MSGS.length - 1), ikeMutations, (i, plan) => {
        const b = applyIke(MSGS[i]!.ike, plan, POOL);
        const t0 = performance.now();
        const r = decodeMessage(b);
        worst = Math.max(worst, performance.now() - t0);
        if (!r.ok) expect(r.error).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 4000 },
    );
    // a decode takes microseconds; a pathological input (quadratic walk, runaway allocation) would
    // take seconds. 1 s leaves room for a GC pause or preemption on a loaded 2-core box.
    expect(worst).toBeLessThan(1000);
  });

  it('the Reassembler on mutated real fragments: typed results, and a completed message is never altered', () => {
    const frags = MSGS.filter((d) => d.label.includes('-fragment'));
    const groups = new Map<string, typeof frags>();
    for (const f of frags) {
      const k = `${f.file}|${Buffer.from(f.ike.subarray(0, 16)).toString('hex')}|${Buffer.from(f.ike.subarray(20, 24)).toString('hex')}`;
      groups.set(k, [...(groups.get(k) ?? []), f]);
    }
    const sets = [...groups.values()].filter((g) => g.length > 1);
    expect(sets.length).toBeGreaterThanOrEqual(2);
    // the genuine plaintext of each set, reassembled once from the untouched fragments
    const genuine = sets.map((g) => {
      const r = new Reassembler(cipherFor(g[0]!.ike)!);
      const last = g.map((f) => r.accept(f.ike, decoded(f.ike), 0)).at(-1);
      if (last?.status !== 'complete') throw new Error(`${where(g[0]!)}: the captured set does not reassemble`);
      return last.plaintext;
    });
    fc.assert(
      fc.property(
        fc.nat(sets.length - 1),
        fc.array(fc.record({ i: fc.nat(), plan: fc.option(ikeMutations, { nil: undefined }) }), { minLength: 1, maxLength: 12 }),
        (si, steps) => {
          const g = sets[si]!;
          const r = new Reassembler(cipherFor(g[0]!.ike)!);
          for (const { i, plan } of steps) {
            const b = plan ? applyIke(g[i % g.length]!.ike, plan, POOL) : g[i % g.length]!.ike;
            const d = decodeMessage(b);
            if (!d.ok) {
              expect(d.error).toBeInstanceOf(DecodeError);
              continue;
            }
            const res = r.accept(b, d.value, 0);
            expect(['dropped', 'pending', 'complete']).toContain(res.status);
            if (res.status === 'dropped' && res.error !== undefined) expect(res.error).toBeInstanceOf(DecodeError);
            if (res.status === 'complete') expect(Buffer.from(res.plaintext).equals(Buffer.from(genuine[si]!))).toBe(true);
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
