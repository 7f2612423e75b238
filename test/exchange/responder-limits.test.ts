/**
 * Responder protection besides cookies: per-source IKE_SA_INIT rate, the half-open
 * caps in all and per source, the order of the checks (a retransmission is answered from the
 * cache even when cookies are required; a valid cookie passes a source that spoofers pushed
 * over its rate), the bounded source table, log-flood control, the bounded task queue, and
 * the engine's default limits being the config's.
 */
import { describe, expect, it } from 'vitest';
import { Net, R, initiatorTunnel, responderTunnel, seeded } from './harness.js';
import { arrivalFrom, cookieOf, initRequest, isFullAnswer, withCookie } from './init-request.js';
import { pair, ikeSa } from './lifecycle.js';
import { createKeyExchange } from '../../src/ike/crypto/dh.js';
import { DEFAULT_LIMITS } from '../../src/ike/init-guard.js';
import { SourceRateLimiter } from '../../src/ike/rate-limit.js';
import { FLOOD_LOG_BURST, FLOOD_LOG_WINDOW_MS } from '../../src/ike/log-limiter.js';
import { MAX_QUEUED_TASKS, type Task } from '../../src/ike/sa.js';
import { HALF_OPEN_TIMEOUT_MS } from '../../src/ike/timers.js';
import { parseConfig } from '../../src/config/load.js';
import type { LimitsConfig } from '../../src/config/types.js';
import type { Action } from '../../src/ike/actions.js';

const IKE = ['aes128gcm16-prfsha256-curve25519'];
const ESP = ['aes128gcm16'];
const limits = (o: Partial<LimitsConfig>): LimitsConfig => ({ ...DEFAULT_LIMITS, ...o });
const PROPOSALS = initiatorTunnel({ ike: IKE, esp: ESP }).ikeProposals;

let seed = 100;
function request(cookie?: Uint8Array): Uint8Array {
  const rnd = seeded(seed++);
  return initRequest({ spiI: rnd(8), nonce: rnd(32), group: 31, ke: createKeyExchange(31).publicValue, proposals: PROPOSALS, ...(cookie ? { cookie } : {}) });
}

function responder(l: Partial<LimitsConfig>, tunnels = [responderTunnel({ ike: IKE, esp: ESP })]) {
  const net = new Net();
  const node = net.add(R, tunnels, { random: seeded(9), limits: limits(l) });
  const actions: Action[] = [];
  const send = (bytes: Uint8Array, from: string, port = 500): Uint8Array[] => {
    const out = node.engine.onDatagram(bytes, arrivalFrom(from, R, port), net.now);
    actions.push(...out);
    return out.flatMap((a) => (a.kind === 'send' ? [a.bytes] : []));
  };
  return { net, engine: node.engine, send, actions };
}

const A = '198.51.100.7';
const B = '198.51.100.8';
const C = '198.51.100.9';

describe('responder limits', () => {
  it('the engine defaults are the config defaults (config/schema.ts LimitsShape)', () => {
    const r = parseConfig(JSON.stringify({ tunnels: [{ name: 't', localAddress: '192.0.2.1', remoteAddress: '192.0.2.9', psk: 'x'.repeat(20) }] }), 'l.yaml', {});
    if (!r.ok) throw new Error(r.errors.map((e) => e.message).join('; '));
    expect(r.config.limits).toEqual(DEFAULT_LIMITS);
  });

  it('per-source rate: a burst of twice the rate passes, the next is dropped, tokens come back with time', () => {
    const { send, engine, net } = responder({ initRatePerSource: 2, cookieThreshold: 1000, cookieThresholdPerSource: 1000, halfOpenPerSource: 100 });
    for (let k = 0; k < 4; k++) expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(send(request(), A)).toEqual([]);
    expect(engine.drops['rate-limited']).toBe(1);
    // Another source has its own bucket.
    expect(isFullAnswer(send(request(), B)[0]!)).toBe(true);
    net.now += 500; // one token at 2/s
    expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(send(request(), A)).toEqual([]);
    expect(engine.drops['rate-limited']).toBe(2);
    expect(engine.halfOpenCount).toBe(6);
  });

  it('a source spoofed over its rate still gets through with a valid cookie (return routability beats the rate)', () => {
    const { send, engine } = responder({ initRatePerSource: 1, cookieThreshold: 0 });
    const legit = request();
    const cookie = cookieOf(send(legit, A)[0]!)!; // 1 of 2 tokens
    for (let k = 0; k < 5; k++) send(request(), A); // a spoofer with A's address empties the bucket
    expect(engine.drops['rate-limited']).toBeGreaterThanOrEqual(4);
    // The legitimate retry: the same request with the COOKIE first.
    const retry = withCookie(legit, cookie);
    const out = send(retry, A);
    expect(isFullAnswer(out[0]!)).toBe(true);
    expect(engine.halfOpenCount).toBe(1);
    // A junk cookie over the rate gets nothing at all (no reflection), counted as invalid.
    const before = engine.drops['invalid-cookie'];
    expect(send(withCookie(request(), new Uint8Array(36).fill(1)), A)).toEqual([]);
    expect(engine.drops['invalid-cookie']).toBe(before + 1);
  });

  it('hard caps: limits.halfOpen in all, limits.halfOpenPerSource per address; room again when one expires', () => {
    const { send, engine, net } = responder({ halfOpen: 3, halfOpenPerSource: 2, cookieThreshold: 1000, cookieThresholdPerSource: 1000 });
    expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(send(request(), A)).toEqual([]);
    expect(engine.drops['half-open-source-limit']).toBe(1);
    expect(isFullAnswer(send(request(), B)[0]!)).toBe(true);
    expect(send(request(), C)).toEqual([]);
    expect(engine.drops['half-open-limit']).toBe(1);
    expect(engine.halfOpenCount).toBe(3);
    net.now += HALF_OPEN_TIMEOUT_MS;
    engine.onTick(net.now);
    expect(engine.halfOpenCount).toBe(0);
    expect(isFullAnswer(send(request(), C)[0]!)).toBe(true);
  });

  it('per-source cookie threshold: past cookieThresholdPerSource half-open SAs, that source (only) must show a cookie', () => {
    const { send, engine } = responder({ cookieThresholdPerSource: 2 });
    expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(isFullAnswer(send(request(), A)[0]!)).toBe(true);
    expect(cookieOf(send(request(), A)[0]!)).not.toBeNull();
    expect(isFullAnswer(send(request(), B)[0]!)).toBe(true);
    expect(engine.drops['cookie-required']).toBe(1);
  });

  it('a retransmitted IKE_SA_INIT is answered from the cache even once cookies are required', () => {
    const { send, engine } = responder({ cookieThreshold: 1 });
    const req = request();
    const first = send(req, A);
    expect(isFullAnswer(first[0]!)).toBe(true);
    expect(engine.halfOpenCount).toBe(1); // now at the threshold: cookies required
    const again = send(req, A);
    expect(again).toHaveLength(1);
    expect(Buffer.from(again[0]!).equals(Buffer.from(first[0]!))).toBe(true);
    expect(engine.halfOpenCount).toBe(1);
    expect(cookieOf(send(request(), B)[0]!)).not.toBeNull();
    expect(engine.drops['cookie-required']).toBe(1);
  });

  it('the source table stays bounded under spoofed sources; debts are kept until the bucket would be full again', () => {
    const rl = new SourceRateLimiter(1, 64); // 1/s, bursts of 2, refilled after 2 s
    let t = 0;
    for (let k = 0; k < 10_000; k++) {
      expect(rl.take(`100.64.${(k >> 8) & 0xff}.${k & 0xff}`, t)).toBe(true);
      expect(rl.size).toBeLessThanOrEqual(64);
      t += 1;
    }
    expect(rl.take('192.0.2.77', t)).toBe(true);
    expect(rl.take('192.0.2.77', t)).toBe(true);
    expect(rl.take('192.0.2.77', t)).toBe(false);
    // Half a token later it is still over the limit: its bucket was not forgotten…
    rl.expire(t + 500);
    expect(rl.take('192.0.2.77', t + 500)).toBe(false);
    // …and idle entries go once they would be full again (within two refill times).
    rl.expire(t + 2500);
    rl.expire(t + 4500);
    expect(rl.size).toBe(0);
  });

  it('log-flood control: 1000 datagrams that match no tunnel give 5 lines, then one summary with the count', () => {
    const net = new Net();
    const node = net.add(R, [responderTunnel({ ike: IKE, esp: ESP, remoteAddress: '192.0.2.200' })], { random: seeded(1) });
    const logs: { msg: string }[] = [];
    const take = (as: Action[]) => as.forEach((a) => a.kind === 'log' && logs.push(a));
    for (let k = 0; k < 1000; k++) take(node.engine.onDatagram(request(), arrivalFrom(`100.64.0.${k % 250}`, R), net.now + k));
    expect(node.engine.drops['no-tunnel']).toBe(1000);
    expect(logs.filter((l) => /matches no tunnel/.test(l.msg))).toHaveLength(FLOOD_LOG_BURST);
    const wake = node.engine.nextWakeup();
    expect(wake).toBe(net.now + FLOOD_LOG_WINDOW_MS);
    take(node.engine.onTick(wake!));
    const summary = logs.filter((l) => /suppressed/.test(l.msg));
    expect(summary).toHaveLength(1);
    expect(summary[0]!.msg).toContain(`${1000 - FLOOD_LOG_BURST} more 'no-tunnel' log lines suppressed`);
    expect(node.engine.nextWakeup()).toBeNull();
  });

  it(`an SA queues at most ${MAX_QUEUED_TASKS} jobs; a Delete queued in front still gets in`, () => {
    const { i, net } = pair();
    const sa = ikeSa(i);
    const ctx = i.engine.ctx(net.now);
    const job = (name: Task['name']): Task => ({ name, build: () => null, onResponse: () => undefined });
    sa.outstanding = { messageId: 99, exchange: 37, datagrams: [], tries: 0, nextAt: Infinity, firstSentAt: net.now, task: null, policy: sa.policy };
    for (let k = 0; k < 100; k++) sa.queue(ctx, job('dpd'));
    expect(sa.tasks).toHaveLength(MAX_QUEUED_TASKS);
    sa.queue(ctx, job('ike-delete'), true);
    expect(sa.tasks).toHaveLength(MAX_QUEUED_TASKS);
    expect(sa.tasks[0]!.name).toBe('ike-delete');
  });
});
