/**
 * Handshakes: IKE SAs established per second by two in-process sans-IO IkeEngines (the shape of
 * test/exchange/harness.ts: every datagram handed from one engine to the other, no sockets), for
 * ecp256 and modp2048. Time spent inside the initiator's calls and inside the responder's calls is
 * accumulated separately, so "initiator SAs/s" and "responder SAs/s" are what one core could do in
 * each role (IKE_SA_INIT + IKE_AUTH with PSK and the first Child SA, i.e. one DH and the key
 * derivation each side).
 *
 * Memory: one initiator engine with 1,000 tunnels and one responder engine with 1,000 matching
 * tunnels, all established; heap growth after a full GC, divided by the 2,000 IKE SAs (each with
 * its first Child SA) the two engines then hold.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { IkeEngine } from '../dist/ike/engine.js';
import { parseConfig } from '../dist/config/load.js';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc');

const PSK = 'bench-psk-5f1c0e7a9b3d';
const I = '192.0.2.1';

function tunnels(list) {
  const r = parseConfig(JSON.stringify({ tunnels: list.map((t) => ({ psk: PSK, ...t })) }), 'bench.yaml', {});
  if (!r.ok) throw new Error(`bench config invalid: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.config.tunnels;
}

function hr() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Drive a set of engines until no datagram is in flight; returns ms spent in each engine. */
function pump(engines, queue, now, spent) {
  let n = 0;
  while (queue.length > 0) {
    if (++n > 100_000) throw new Error('handshake bench: exchange loop');
    const p = queue.shift();
    const e = engines.get(p.to.address);
    if (!e) continue;
    const t0 = hr();
    const actions = e.engine.onDatagram(p.bytes, { from: p.from, to: p.to, natT: p.natT }, now);
    spent[e.role] += hr() - t0;
    for (const a of actions) if (a.kind === 'send') queue.push(a);
  }
}

function established(engine) {
  return engine.status(0).filter((s) => s.state === 'established').length;
}

/** n fresh engine pairs, one handshake each. */
function rate(dh, n) {
  const ike = [`aes256gcm16-prfsha256-${dh}`];
  const esp = ['aes256gcm16'];
  const [ti] = tunnels([{ name: 'gsa', localAddress: I, remoteAddress: '198.51.100.2', ike, esp }]);
  const [tr] = tunnels([{ name: 'branch', localAddress: '198.51.100.2', remoteAddress: '%any', remoteId: '%any', initiate: false, ike, esp }]);
  const spent = { initiator: 0, responder: 0 };
  let ok = 0;
  const wall0 = hr();
  for (let k = 0; k < n; k++) {
    const init = new IkeEngine({ tunnels: [ti] });
    const resp = new IkeEngine({ tunnels: [tr] });
    const engines = new Map([[I, { engine: init, role: 'initiator' }], ['198.51.100.2', { engine: resp, role: 'responder' }]]);
    const queue = [];
    const t0 = hr();
    for (const a of init.start(0)) if (a.kind === 'send') queue.push(a);
    spent.initiator += hr() - t0;
    pump(engines, queue, 0, spent);
    if (established(init) === 1 && established(resp) === 1) ok++;
  }
  const wall = hr() - wall0;
  if (ok !== n) throw new Error(`handshake bench (${dh}): only ${ok}/${n} established`);
  return { dh, handshakes: n, initiatorPerSec: n / (spent.initiator / 1000), responderPerSec: n / (spent.responder / 1000), bothPerSec: n / (wall / 1000) };
}

function memory(count) {
  const ike = ['aes256gcm16-prfsha256-ecp256'];
  const esp = ['aes256gcm16'];
  const addr = (i) => `100.64.${(i >> 8) & 255}.${(i & 255) + 0}`;
  const ti = tunnels(Array.from({ length: count }, (_, i) => ({ name: `t${i}`, localAddress: I, remoteAddress: addr(i), ike, esp })));
  const tr = tunnels(Array.from({ length: count }, (_, i) => ({ name: `r${i}`, localAddress: addr(i), remoteAddress: I, initiate: false, ike, esp })));
  // One initiator address brings 1,000 tunnels up in the same instant: the default responder
  // limits (config `limits:`) rightly treat that as a flood (rate-limited, cookies, per-source
  // half-open cap) and only a handful would establish. This measures memory per SA, so they are
  // lifted here; the limits' own tables are bounded and tested by test/exchange/responder-limits.test.ts.
  const unlimited = { halfOpen: 1_000_000, cookieThreshold: 1_000_000, cookieThresholdPerSource: 1_000_000, halfOpenPerSource: 1_000_000, initRatePerSource: 0 };
  const init = new IkeEngine({ tunnels: ti });
  const resp = new IkeEngine({ tunnels: tr, limits: unlimited });
  const engines = new Map([[I, { engine: init, role: 'initiator' }]]);
  for (let i = 0; i < count; i++) engines.set(addr(i), { engine: resp, role: 'responder' });
  gc();
  gc();
  const before = process.memoryUsage();
  const queue = [];
  for (const a of init.start(0)) if (a.kind === 'send') queue.push(a);
  pump(engines, queue, 0, { initiator: 0, responder: 0 });
  gc();
  gc();
  const after = process.memoryUsage();
  const up = established(init);
  const down = established(resp);
  if (up !== count || down !== count) throw new Error(`memory bench: ${up}/${down} of ${count} established`);
  const sas = 2 * count;
  return {
    ikeSas: sas, heapBytesPerIkeSa: (after.heapUsed - before.heapUsed) / sas,
    externalBytesPerIkeSa: (after.external + after.arrayBuffers - before.external - before.arrayBuffers) / sas,
    rssBytesPerIkeSa: (after.rss - before.rss) / sas,
    // Keep the engines alive until after the measurement.
    _keep: init.tunnels.size + resp.tunnels.size,
  };
}

export async function runHandshakes({ quick = false, log = console.log } = {}) {
  log('handshakes: ecp256 and modp2048, then memory at 1,000 IKE SAs per engine');
  const out = { rates: [], memory: null };
  for (const [dh, n] of [['ecp256', quick ? 50 : 300], ['modp2048', quick ? 20 : 80]]) {
    const r = rate(dh, n);
    log(`  ${dh}: initiator ${r.initiatorPerSec.toFixed(0)}/s, responder ${r.responderPerSec.toFixed(0)}/s, both in one process ${r.bothPerSec.toFixed(0)}/s`);
    out.rates.push(r);
  }
  const m = memory(1000);
  delete m._keep;
  log(`  memory: ${(m.heapBytesPerIkeSa / 1024).toFixed(1)} KiB heap per IKE SA (+${(m.externalBytesPerIkeSa / 1024).toFixed(1)} KiB external)`);
  out.memory = m;
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runHandshakes({ quick: process.argv.includes('--quick') }), null, 2));
}
