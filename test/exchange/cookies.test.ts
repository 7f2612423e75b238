/**
 * Responder COOKIEs (RFC 7296 §2.6) between engines on the fake network: the round trip with a
 * real initiator engine, what a cookie is bound to, secret rotation with its grace period, the
 * §2.6 rule that a cookie we do not recognise is ignored, and the initiator following a new one.
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, decodeOrFail, expectEstablishedPair, initiatorTunnel, logged, responderTunnel, seeded } from './harness.js';
import { arrivalFrom, cookieOf, initRequest, isFullAnswer } from './init-request.js';
import { encodeMessage } from '../../src/ike/codec/message.js';
import { ExchangeType, NotifyType, PayloadType } from '../../src/ike/constants.js';
import { createKeyExchange } from '../../src/ike/crypto/dh.js';
import { COOKIE_LENGTH, COOKIE_SECRET_GRACE_MS, COOKIE_SECRET_LIFETIME_MS } from '../../src/ike/cookie.js';
import { DEFAULT_LIMITS } from '../../src/ike/init-guard.js';
import type { LimitsConfig } from '../../src/config/types.js';
import type { IkeEngine } from '../../src/ike/engine.js';

const IKE = ['aes128gcm16-prfsha256-curve25519'];
const ESP = ['aes128gcm16'];
const limits = (o: Partial<LimitsConfig>): LimitsConfig => ({ ...DEFAULT_LIMITS, ...o });
const exchangeOf = (b: Uint8Array) => decodeOrFail(b).header.exchangeType;

/** A responder engine alone, and a way to hand it one IKE_SA_INIT and read what it sends back. */
function responder(l: Partial<LimitsConfig>): { net: Net; engine: IkeEngine; send: (bytes: Uint8Array, from: string, at?: number) => Uint8Array[] } {
  const net = new Net();
  const node = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(5), limits: limits(l) });
  const send = (bytes: Uint8Array, from: string, at = net.now) =>
    node.engine.onDatagram(bytes, arrivalFrom(from, R), at).flatMap((a) => (a.kind === 'send' ? [a.bytes] : []));
  return { net, engine: node.engine, send };
}

let spiSeed = 1;
function request(cookie?: Uint8Array, spi?: Uint8Array, nonce?: Uint8Array): { bytes: Uint8Array; spiI: Uint8Array; nonce: Uint8Array } {
  const rnd = seeded(spiSeed++);
  const spiI = spi ?? rnd(8);
  const ni = nonce ?? rnd(32);
  const bytes = initRequest({ spiI, nonce: ni, group: 31, ke: createKeyExchange(31).publicValue, proposals: initiatorTunnel({ ike: IKE, esp: ESP }).ikeProposals, ...(cookie ? { cookie } : {}) });
  return { bytes, spiI, nonce: ni };
}

const A = '198.51.100.7';
const B = '198.51.100.8';

describe('responder COOKIEs (RFC 7296 §2.6)', () => {
  it('round trip: with cookieThreshold 0 the initiator gets a COOKIE, retries with it first, and both sides establish', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })], { random: seeded(1) });
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(2), limits: limits({ cookieThreshold: 0 }) });
    let halfOpenAfterFirst = -1;
    net.filter = (p) => {
      if (p.from.address === R && cookieOf(p.bytes)) halfOpenAfterFirst = r.engine.halfOpenCount;
      return 'deliver';
    };
    net.start(I);
    expectEstablishedPair(net);
    const inits = net.wire.filter((p) => exchangeOf(p.bytes) === ExchangeType.IKE_SA_INIT);
    expect(inits.map((p) => p.from.address)).toEqual([I, R, I, R]);
    const challenge = cookieOf(inits[1]!.bytes)!;
    expect(challenge).toHaveLength(COOKIE_LENGTH);
    // Stateless and not amplifying: nothing was created for the cookie-less request, and the
    // challenge (header + one Notify) is smaller than the request it answers.
    expect(halfOpenAfterFirst).toBe(0);
    expect(inits[1]!.bytes.length).toBe(28 + 8 + COOKIE_LENGTH);
    expect(inits[1]!.bytes.length).toBeLessThan(inits[0]!.bytes.length);
    const retry = decodeOrFail(inits[2]!.bytes).payloads[0]!;
    expect(retry.type === PayloadType.NOTIFY && retry.notifyType === NotifyType.COOKIE && Buffer.from(retry.data).equals(Buffer.from(challenge))).toBe(true);
    expect(isFullAnswer(inits[3]!.bytes)).toBe(true);
    expect(r.engine.drops['cookie-required']).toBe(1);
    expect(r.engine.drops['invalid-cookie']).toBe(0);
    expect(r.engine.halfOpenCount).toBe(0); // authenticated: no longer half-open
    expect(logged(i, /responder asked for a COOKIE/)).toBe(true);
  });

  it('a cookie is bound to the address, the SPI and the nonce: any other one is refused and answered with a fresh cookie', () => {
    const { send, engine } = responder({ cookieThreshold: 0 });
    const first = request();
    const cookie = cookieOf(send(first.bytes, A)[0]!)!;
    expect(cookie).not.toBeNull();
    const others = [
      { what: 'another address', bytes: request(cookie, first.spiI, first.nonce).bytes, from: B },
      { what: 'another SPI', bytes: request(cookie, undefined, first.nonce).bytes, from: A },
      { what: 'another nonce', bytes: request(cookie, first.spiI).bytes, from: A },
      { what: 'a flipped octet', bytes: request(Uint8Array.from(cookie, (b, k) => (k === COOKIE_LENGTH - 1 ? b ^ 1 : b)), first.spiI, first.nonce).bytes, from: A },
      { what: 'a short cookie', bytes: request(cookie.subarray(0, 20), first.spiI, first.nonce).bytes, from: A },
    ];
    for (const o of others) {
      const out = send(o.bytes, o.from);
      expect(out, o.what).toHaveLength(1);
      const fresh = cookieOf(out[0]!);
      expect(fresh, `${o.what}: answered with a COOKIE`).not.toBeNull();
      expect(engine.halfOpenCount, o.what).toBe(0);
    }
    expect(engine.drops['invalid-cookie']).toBe(others.length);
    // The right cookie from the right sender passes: a real answer and one half-open SA.
    const ok = send(request(cookie, first.spiI, first.nonce).bytes, A);
    expect(isFullAnswer(ok[0]!)).toBe(true);
    expect(engine.halfOpenCount).toBe(1);
  });

  it('secret rotation: a cookie of the previous secret verifies within the grace period and not after it', () => {
    const { send, engine, net } = responder({ cookieThreshold: 0 });
    const t0 = net.now;
    const early = request();
    const late = request();
    const cookieEarly = cookieOf(send(early.bytes, A, t0)[0]!)!;
    const cookieLate = cookieOf(send(late.bytes, B, t0)[0]!)!;
    // After the lifetime a new secret is in use: a new request gets a cookie of another version.
    const rotatedAt = t0 + COOKIE_SECRET_LIFETIME_MS + 1;
    const next = cookieOf(send(request().bytes, A, rotatedAt)[0]!)!;
    expect(Buffer.from(next.subarray(0, 4)).equals(Buffer.from(cookieEarly.subarray(0, 4)))).toBe(false);
    // Within the grace period the old cookie still verifies.
    const withinGrace = send(request(cookieEarly, early.spiI, early.nonce).bytes, A, t0 + COOKIE_SECRET_LIFETIME_MS + COOKIE_SECRET_GRACE_MS - 1);
    expect(isFullAnswer(withinGrace[0]!)).toBe(true);
    expect(engine.drops['invalid-cookie']).toBe(0);
    // After it, the same kind of cookie is refused (ignored, §2.6: a fresh cookie instead).
    const afterGrace = send(request(cookieLate, late.spiI, late.nonce).bytes, B, t0 + COOKIE_SECRET_LIFETIME_MS + COOKIE_SECRET_GRACE_MS + 1);
    expect(cookieOf(afterGrace[0]!)).not.toBeNull();
    expect(engine.drops['invalid-cookie']).toBe(1);
    expect(engine.halfOpenCount).toBe(1);
  });

  it('§2.6: a cookie we do not recognise, while cookies are not required, is ignored and the request processed', () => {
    const { send, engine } = responder({});
    const out = send(request(new Uint8Array(COOKIE_LENGTH).fill(9)).bytes, A);
    expect(isFullAnswer(out[0]!)).toBe(true);
    expect(engine.halfOpenCount).toBe(1);
    expect(engine.drops['invalid-cookie']).toBe(0);
  });

  it('setLimits applies at once: the default threshold lets a request through, cookieThreshold 0 then challenges the next', () => {
    const { send, engine } = responder({});
    expect(isFullAnswer(send(request().bytes, A)[0]!)).toBe(true);
    engine.setLimits(limits({ cookieThreshold: 0 }));
    expect(cookieOf(send(request().bytes, B)[0]!)).not.toBeNull();
    expect(engine.drops['cookie-required']).toBe(1);
  });

  it('the initiator follows a new COOKIE (a responder that rotated its secret) and ignores a repeated one', () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })], { random: seeded(3) });
    net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(4) });
    const c1 = Uint8Array.from({ length: 20 }, (_, k) => k + 1);
    const c2 = Uint8Array.from({ length: 20 }, (_, k) => 100 + k);
    const challenge = (req: Uint8Array, cookie: Uint8Array) => {
      const h = decodeOrFail(req).header;
      return encodeMessage({ ...h, spiR: new Uint8Array(8), initiator: false, response: true }, [{ type: PayloadType.NOTIFY, protocol: 0, spi: new Uint8Array(0), notifyType: NotifyType.COOKIE, data: cookie }]);
    };
    // 1st request: c1; 2nd (with c1): c1 again (ignored) and then c2; 3rd (with c2): delivered.
    let n = 0;
    net.filter = (p) => {
      if (p.to.address !== R || exchangeOf(p.bytes) !== ExchangeType.IKE_SA_INIT) return 'deliver';
      n++;
      if (n === 1) net.queue.push({ from: p.to, to: p.from, natT: false, bytes: challenge(p.bytes, c1) });
      if (n === 2) {
        net.queue.push({ from: p.to, to: p.from, natT: false, bytes: challenge(p.bytes, c1) });
        net.queue.push({ from: p.to, to: p.from, natT: false, bytes: challenge(p.bytes, c2) });
      }
      return n <= 2 ? 'drop' : 'deliver';
    };
    net.start(I);
    expectEstablishedPair(net);
    const sent = net.wire.filter((p) => p.from.address === I && exchangeOf(p.bytes) === ExchangeType.IKE_SA_INIT).map((p) => decodeOrFail(p.bytes).payloads[0]!);
    const cookies = sent.map((p) => (p.type === PayloadType.NOTIFY && p.notifyType === NotifyType.COOKIE ? Buffer.from(p.data).toString('hex') : null));
    expect(cookies).toEqual([null, Buffer.from(c1).toString('hex'), Buffer.from(c2).toString('hex')]);
    expect(logged(i, /responder asked for a new COOKIE/)).toBe(true);
  });
});
