/**
 * In process: an IKE_SA_INIT flood of 5,000 datagrams per second of
 * simulated time from spoofed sources (a fresh address, SPI, nonce and KE value each) for 10
 * simulated seconds, with the default limits, while a legitimate initiator engine connects.
 * It must establish (after a COOKIE round), the responder must have issued cookies instead of
 * computing Diffie-Hellman, and the half-open and per-source tables must stay within their
 * bounds. The real CPU time the responder spent per flooded datagram is printed (not asserted:
 * timing belongs in bench/; the count of DH computations is what the test holds to).
 */
import { describe, expect, it } from 'vitest';
import { Net, I, R, initiatorTunnel, responderTunnel, seeded } from './harness.js';
import { arrivalFrom, cookieOf, initRequest, isFullAnswer } from './init-request.js';
import { DEFAULT_LIMITS } from '../../src/ike/init-guard.js';
import { SOURCE_TABLE_MAX } from '../../src/ike/rate-limit.js';
import { HALF_OPEN_TIMEOUT_MS } from '../../src/ike/timers.js';

const IKE = ['aes256gcm16-prfsha384-curve25519'];
const ESP = ['aes256gcm16'];
const RATE = 5000;
const SECONDS = 10;
const PER_MS = RATE / 1000;

/** The k-th spoofed source: distinct addresses in 100.64.0.0/10. */
const spoofed = (k: number) => `100.${64 + (k >> 16)}.${(k >> 8) & 0xff}.${k & 0xff}`;

describe('IKE_SA_INIT flood', () => {
  it(`${RATE}/s from spoofed sources for ${SECONDS} s: the legitimate initiator establishes after a COOKIE round; no DH for the flood`, () => {
    const net = new Net();
    const i = net.add(I, [initiatorTunnel({ ike: IKE, esp: ESP })], { random: seeded(1) });
    const r = net.add(R, [responderTunnel({ ike: IKE, esp: ESP })], { random: seeded(2), limits: { ...DEFAULT_LIMITS } });
    const proposals = initiatorTunnel({ ike: IKE, esp: ESP }).ikeProposals;
    const rnd = seeded(3);
    const startAt = net.now;
    const legitAt = startAt + 2000;
    let legitUp = -1;
    let flooded = 0;
    let fullAnswers = 0;
    let cookies = 0;
    let floodLogs = 0;
    let biggestRatio = 0;
    let maxHalfOpen = 0;
    let maxSources = 0;
    let cpuMicros = 0;

    for (let ms = 0; ms < SECONDS * 1000; ms++) {
      if (net.now === legitAt) net.start(I);
      const batch: Uint8Array[] = [];
      for (let k = 0; k < PER_MS; k++) batch.push(initRequest({ spiI: rnd(8), nonce: rnd(32), group: 31, ke: rnd(32), proposals }));
      const t0 = process.cpuUsage();
      const outs = batch.map((bytes, k) => r.engine.onDatagram(bytes, arrivalFrom(spoofed(flooded + k), R), net.now));
      const dt = process.cpuUsage(t0);
      cpuMicros += dt.user + dt.system;
      outs.forEach((actions, k) => {
        for (const a of actions) {
          if (a.kind === 'log') floodLogs++;
          if (a.kind !== 'send') continue;
          if (cookieOf(a.bytes)) {
            cookies++;
            biggestRatio = Math.max(biggestRatio, a.bytes.length / batch[k]!.length);
          } else if (isFullAnswer(a.bytes)) fullAnswers++;
        }
      });
      flooded += PER_MS;
      maxHalfOpen = Math.max(maxHalfOpen, r.engine.halfOpenCount);
      maxSources = Math.max(maxSources, r.engine.guard.rate.size);
      net.advance(1);
      if (legitUp < 0 && i.events.some((e) => e.type === 'ike-up')) legitUp = net.now;
    }

    const perDatagram = cpuMicros / flooded;
    console.log(
      `flood: ${flooded} IKE_SA_INIT in ${SECONDS} simulated s; responder CPU ${(cpuMicros / 1000).toFixed(0)} ms in all, ` +
        `${perDatagram.toFixed(1)} µs per datagram (${((perDatagram * RATE) / 10_000).toFixed(1)} % of one core at ${RATE}/s); ` +
        `${cookies} cookies, ${fullAnswers} DH answers; legitimate tunnel up ${legitUp - legitAt} ms after it started`,
    );

    // The legitimate initiator: established, both sides, through one COOKIE round.
    expect(legitUp, 'the legitimate tunnel came up').toBeGreaterThanOrEqual(legitAt);
    expect(legitUp - legitAt).toBeLessThan(5000);
    expect(i.engine.status(net.now)[0]!.state).toBe('established');
    expect(r.engine.status(net.now)[0]!.state).toBe('established');
    expect(i.logs.some((l) => /responder asked for a COOKIE/.test(l.msg))).toBe(true);

    // Only the first cookieThreshold spoofed requests cost a DH computation; the rest got cookies.
    expect(fullAnswers).toBe(DEFAULT_LIMITS.cookieThreshold);
    expect(cookies).toBe(flooded - DEFAULT_LIMITS.cookieThreshold);
    expect(r.engine.drops['cookie-required']).toBe(cookies + 1); // + the legitimate first request
    expect(biggestRatio, 'no COOKIE answer is bigger than its request (no amplification)').toBeLessThan(1);

    // Bounded tables and bounded logging.
    expect(maxHalfOpen).toBeLessThanOrEqual(DEFAULT_LIMITS.cookieThreshold);
    expect(maxSources).toBeLessThanOrEqual(SOURCE_TABLE_MAX);
    expect(r.engine.guard.rate.size).toBeLessThanOrEqual(SOURCE_TABLE_MAX);
    expect(floodLogs, 'log lines for 50,000 hostile datagrams').toBeLessThan(40);

    // After the flood: the spoofed half-open SAs expire, cookies calm down, plain requests pass again.
    net.advance(HALF_OPEN_TIMEOUT_MS);
    expect(r.engine.halfOpenCount).toBe(0);
    const later = r.engine.onDatagram(initRequest({ spiI: rnd(8), nonce: rnd(32), group: 31, ke: rnd(32), proposals }), arrivalFrom('198.51.100.99', R), net.now);
    expect(later.some((a) => a.kind === 'send' && isFullAnswer(a.bytes))).toBe(true);
  }, 120_000);
});
