/**
 * IkeEngine.onDatagram on mutated real datagrams (test/fixtures/captured): a responder engine
 * configured to accept the corpus's proposals (so genuine IKE_SA_INITs reach the DH and get
 * answered) and an initiator engine with an exchange in flight. Whatever arrives: onDatagram never
 * throws, never installs or removes a Child SA, answers or counts every datagram under one named
 * drop reason, and returns in bounded time.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IkeEngine } from '../../../src/ike/engine.js';
import type { Action } from '../../../src/ike/actions.js';
import { tunnel, seeded } from '../../exchange/harness.js';
import { DEFAULT_LIMITS } from '../../../src/ike/init-guard.js';
import type { LimitsConfig } from '../../../src/config/types.js';
import { ikeMessages } from './corpus.js';
import { applyIke, ikeMutations } from './mutate.js';

const MSGS = ikeMessages();
const POOL = MSGS.map((m) => m.ike);
const PROPOSALS = ['aes256gcm16-prfsha256-modp2048', 'aes256-sha256-ecp256', 'aes256gcm16-prfsha384-modp2048'];

function engines(limits: LimitsConfig = DEFAULT_LIMITS): { responder: IkeEngine; initiator: IkeEngine } {
  const responder = new IkeEngine({
    limits,
    tunnels: [tunnel({ name: 'any', localAddress: '192.0.2.2', remoteAddress: '%any', remoteId: '%any', initiate: false, ike: PROPOSALS, esp: ['aes256gcm16', 'aes256-sha256'] })],
    random: seeded(7), udpEncapsulationOnly: true,
  });
  const initiator = new IkeEngine({
    tunnels: [tunnel({ name: 'gw', localAddress: '192.0.2.1', remoteAddress: '192.0.2.2', ike: PROPOSALS, esp: ['aes256gcm16'] })],
    random: seeded(9), udpEncapsulationOnly: true,
  });
  initiator.start(0);
  return { responder, initiator };
}

const dropTotal = (e: IkeEngine): number => Object.values(e.drops).reduce((a, b) => a + b, 0);

/**
 * The default limits, and a responder under load: every IKE_SA_INIT must bring a cookie
 * (cookieThreshold 0, RFC 7296 §2.6) and each source may send 2 a second, so the cookie and
 * rate-limit paths see the same hostile input.
 */
const INITS = MSGS.filter((d) => d.label.startsWith('IKE_SA_INIT-request'));
const CASES: [string, LimitsConfig, typeof MSGS, number][] = [
  ['default limits, every captured message', DEFAULT_LIMITS, MSGS, 800],
  // no DH on this path (cookies first), so more runs cost little
  ['cookies always required, 2 IKE_SA_INIT/s per source, the captured IKE_SA_INIT requests', { ...DEFAULT_LIMITS, cookieThreshold: 0, initRatePerSource: 2 }, INITS, 4000],
];

describe('IkeEngine.onDatagram on mutated captured datagrams (property)', () => {
  it.each(CASES)('%s: never throws or installs; every datagram is answered or counted under one reason; bounded time', (_name, limits, msgs, runs) => {
    const { responder, initiator } = engines(limits);
    let worst = 0;
    let answered = 0;
    let dropped = 0;
    let now = 1000;
    fc.assert(
      fc.property(fc.nat(msgs.length - 1), fc.option(ikeMutations, { freq: 5, nil: undefined }), (i, plan) => {
        const d = msgs[i]!;
        const bytes = plan ? applyIke(d.ike, plan, POOL) : d.ike;
        const engine = d.dst.address === '192.0.2.2' ? responder : initiator;
        const natT = d.dst.port === 4500;
        const before = dropTotal(engine);
        const t0 = performance.now();
        let actions: Action[] = [];
        expect(() => { actions = engine.onDatagram(bytes, { from: d.src, to: d.dst, natT }, (now += 10)); }).not.toThrow();
        worst = Math.max(worst, performance.now() - t0);
        for (const a of actions) expect(['install-child', 'remove-child', 'activate-child']).not.toContain(a.kind);
        const delta = dropTotal(engine) - before;
        const sent = actions.some((a) => a.kind === 'send');
        expect(delta, `drops moved by ${delta} for ${d.label}`).toBeLessThanOrEqual(1);
        // RFC 7296 §2.21: an unusable message is either answered (stateless notify, IKE_SA_INIT
        // response, retransmitted response) or dropped, and here every drop is counted
        expect(delta === 1 || sent, `${d.file}:${d.line} ${d.label}${plan ? ' (mutated)' : ''}: neither answered nor counted`).toBe(true);
        if (delta === 1) dropped++;
        if (sent) answered++;
      }),
      { numRuns: runs },
    );
    expect(worst).toBeLessThan(1000); // one DH (modp2048) is the slowest step: a few ms
    expect(dropped).toBeGreaterThan(0);
    expect(answered).toBeGreaterThan(0);
    // the engines survive: the initiator can still be ticked and reports its tunnel
    expect(() => initiator.onTick(now + 60_000)).not.toThrow();
    expect(initiator.status(now)[0]?.name).toBe('gw');
  });
});
