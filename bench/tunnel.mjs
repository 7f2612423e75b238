/**
 * Tunnel throughput in network namespaces, every pairing in the same run, on the four-namespace
 * lab of test/interop/lab/topology.ts (compiled to bench/.lab/lab by bench/tsconfig.lab.json):
 *
 *   branch ──lan0── cpe ══wan0══ gw ──lan0── svc        branch 100.64.10.2 → svc 100.64.20.2
 *
 * The CPE role (cpe namespace, initiator) and the endpoint role (gw namespace, responder) are
 * each played by branchgate or by strongSwan 5.9.8 with kernel-libipsec (its userspace datapath:
 * this kernel has no ESP/GCM, see docs/testing.md). AES-256-GCM-16 for IKE and
 * ESP, ESP in UDP 4500. A fresh topology per pairing.
 *
 * Per pairing: ping latency (idle), iperf3 TCP 1 stream each way, TCP 4 streams, UDP packets/s
 * (unlimited rate, 1200-octet datagrams: what arrives), and the CPU the two IPsec daemons used
 * during the 4-stream run. With branchgate as the CPE: `branchgate status` latency during that
 * full load (the control-socket round trip and the whole CLI process), and a rekey under load
 * when `branchgate rekey` exists.
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADDR, createTopology } from './.lab/lab/topology.js';
import { Charon } from './.lab/lab/strongswan.js';
import { BIN, Branchgate } from './.lab/lab/branchgate.js';
import { exec, run, trackProcess, waitFor } from './.lab/lab/netns.js';
import { ping, requireTrafficTools } from './.lab/lab/traffic.js';
import { request } from '../dist/control/client.js';

const IKE = 'aes256gcm16-prfsha256-ecp256';
const ESP = 'aes256gcm16';
const PSK = 'bench-tunnel-psk-3c9e51';
const MTU = 1400; // strongSwan's ipsec0 has 1400 too
const MSS = MTU - 40;

export const PAIRINGS = [
  { name: 'strongSwan ↔ strongSwan', cpe: 'swan', gw: 'swan' },
  { name: 'branchgate ↔ strongSwan', cpe: 'bg', gw: 'swan' },
  { name: 'strongSwan ↔ branchgate', cpe: 'swan', gw: 'bg' },
  { name: 'branchgate ↔ branchgate', cpe: 'bg', gw: 'bg' },
  { name: 'branchgate (TS dataplane) ↔ strongSwan', cpe: 'bg-ts', gw: 'swan' },
  { name: 'branchgate (TS) ↔ branchgate (TS)', cpe: 'bg-ts', gw: 'bg-ts' },
];

let nextPort = 6201 + (process.pid % 300) * 10;

/** iperf3 server in serverNs, client in clientNs; returns the parsed JSON's end section. */
export async function iperf(clientNs, serverNs, addr, { seconds, parallel = 1, reverse = false, udp = false }) {
  const port = nextPort++;
  const server = spawn('ip', ['netns', 'exec', serverNs, 'iperf3', '-s', '-1', '--json', '-p', String(port)], { stdio: ['ignore', 'ignore', 'ignore'] });
  trackProcess(server);
  try {
    await waitFor(`iperf3 server on :${port}`, async () => {
      const r = await exec(serverNs, ['ss', '-Hltn', `sport = :${port}`], { allowFail: true });
      return r.stdout.includes(`:${port}`) ? true : undefined;
    }, 5000, 50);
    const argv = ['iperf3', '-c', addr, '-p', String(port), '-t', String(seconds), '-i', '1', '--json', '--connect-timeout', '5000',
      ...(parallel > 1 ? ['-P', String(parallel)] : []), ...(reverse ? ['-R'] : []), ...(udp ? ['-u', '-b', '0', '-l', '1200'] : [])];
    const r = await exec(clientNs, argv, { allowFail: true, timeoutMs: (seconds + 25) * 1000 });
    let doc;
    try {
      doc = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 gave no JSON (exit ${r.code}): ${r.stdout.slice(0, 500)}${r.stderr}`);
    }
    if (doc.error) throw new Error(`iperf3: ${doc.error}`);
    const intervals = (doc.intervals ?? []).map((i) => i.sum.bytes);
    if (udp) {
      const rcv = doc.end.sum_received;
      return { packetsPerSec: rcv.bytes / 1200 / rcv.seconds, mbps: rcv.bits_per_second / 1e6, lossPct: doc.end.sum.lost_percent, intervals };
    }
    return { mbps: doc.end.sum_received.bits_per_second / 1e6, retransmits: doc.end.sum_sent.retransmits ?? null, intervals };
  } finally {
    if (server.exitCode === null) setTimeout(() => server.exitCode === null && server.kill('SIGKILL'), 2000).unref();
  }
}

/*
 * Data integrity across a pairing: TCP through the lab checks nothing end to end once segments
 * are coalesced (a CHECKSUM_PARTIAL super-packet is trusted by the receiving stack), so a
 * pseudo-random stream of `mb` MiB is sent from clientNs to serverNs and both sides' SHA-256 compared.
 */
const SINK = `const s=require('net').createServer(c=>{const h=require('crypto').createHash('sha256');let n=0;c.on('data',d=>{h.update(d);n+=d.length});c.on('end',()=>{console.log(JSON.stringify({n,sha:h.digest('hex')}));s.close()})});s.listen(+process.argv[1],process.argv[2],()=>console.log('ready'))`;
const SOURCE = `const c=require('crypto');const h=c.createHash('sha256');const mb=+process.argv[3];let seed=c.createHash('sha256').update('bench').digest();const k=require('net').connect(+process.argv[1],process.argv[2],()=>{let i=0;const w=()=>{while(i<mb*16){seed=c.createHash('sha256').update(seed).digest();const b=Buffer.alloc(65536);for(let j=0;j<65536;j+=32)seed.copy(b,j);b.writeUInt32BE(i,(i*7)%65532);h.update(b);i++;if(!k.write(b))return k.once('drain',w)}k.end(()=>console.log(JSON.stringify({n:mb*1048576,sha:h.digest('hex')})))};w()})`;

export async function integrity(clientNs, serverNs, addr, mb = 48) {
  const port = nextPort++;
  const server = spawn('ip', ['netns', 'exec', serverNs, process.execPath, '-e', SINK, String(port), addr], { stdio: ['ignore', 'pipe', 'ignore'] });
  trackProcess(server);
  let out = '';
  server.stdout.on('data', (d) => (out += d));
  try {
    await waitFor('integrity sink', async () => (out.includes('ready') ? true : undefined), 10_000, 50);
    const r = await exec(clientNs, [process.execPath, '-e', SOURCE, String(port), addr, String(mb)], { timeoutMs: 120_000 });
    const sent = JSON.parse(r.stdout.trim().split('\n').pop());
    const got = await waitFor('integrity result', async () => {
      const l = out.trim().split('\n').pop();
      return l && l.startsWith('{') ? JSON.parse(l) : undefined;
    }, 20_000, 50);
    return { mb, ok: got.sha === sent.sha && got.n === sent.n, sentBytes: sent.n, receivedBytes: got.n };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

/** utime + stime of a process and its threads, in seconds (/proc/PID/stat fields 14 and 15). */
function cpuSeconds(pid) {
  if (!pid) return null;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return null;
  }
}

/** Which dataplane a running branchgate uses: the native engine names its I/O threads bg-dp-tx/rx. */
function dataplaneOf(pid) {
  try {
    const names = readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(join(`/proc/${pid}/task`, t, 'comm'), 'utf8').trim());
    return names.includes('bg-dp-tx') ? 'native' : 'ts';
  } catch {
    return 'unknown';
  }
}

function pct(list, p) {
  if (list.length === 0) return null;
  const s = [...list].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function startSwan(ns, role) {
  const c = await Charon.start(ns, { tag: `b${role}` });
  const cpe = role === 'cpe';
  c.writeConns([{
    name: cpe ? 'gw' : 'branch', localAddrs: cpe ? ADDR.cpeWan : ADDR.gwIke, remoteAddrs: cpe ? ADDR.gwIke : ADDR.cpeWan,
    localId: cpe ? ADDR.cpeWan : ADDR.gwIke, remoteId: cpe ? ADDR.gwIke : ADDR.cpeWan, psk: PSK, proposals: [IKE], espProposals: [ESP],
    localTs: [cpe ? ADDR.lanPrefix : ADDR.svcPrefix], remoteTs: [cpe ? ADDR.svcPrefix : ADDR.lanPrefix],
  }]);
  await c.loadAll();
  return { kind: 'swan', conn: cpe ? 'gw' : 'branch', c, pid: () => c.proc?.pid, stop: () => c.stop() };
}

async function startBg(ns, role, dataplane) {
  const cpe = role === 'cpe';
  const tunnel = {
    name: cpe ? 'gw' : 'branch', localAddress: cpe ? ADDR.cpeWan : ADDR.gwIke, remoteAddress: cpe ? ADDR.gwIke : ADDR.cpeWan, psk: PSK,
    ike: [IKE], esp: [ESP], initiate: cpe, dpd: 0, localTs: [cpe ? ADDR.lanPrefix : ADDR.svcPrefix], remoteTs: [cpe ? ADDR.svcPrefix : ADDR.lanPrefix],
    interface: cpe ? 'bg0' : 'bg1', mtu: MTU, mssClamp: MSS, routes: [cpe ? ADDR.svcPrefix : ADDR.lanPrefix],
  };
  const prev = process.env.BRANCHGATE_DATAPLANE;
  process.env.BRANCHGATE_DATAPLANE = dataplane;
  let b;
  try {
    b = await Branchgate.start(ns, [tunnel], { tag: `b${role}`, logLevel: 'warn', extra: { routing: { failMode: 'open', pinUnderlay: true } } });
  } finally {
    if (prev === undefined) delete process.env.BRANCHGATE_DATAPLANE;
    else process.env.BRANCHGATE_DATAPLANE = prev;
  }
  return { kind: 'bg', conn: tunnel.name, b, pid: () => b.pid(), stop: () => b.stop() };
}

async function rekeyAvailable() {
  const r = await run([process.execPath, BIN, 'rekey', '--help'], { allowFail: true, timeoutMs: 10_000 });
  return r.code === 0 && !/not available/i.test(r.stdout + r.stderr);
}

/** Poll `status` over the control socket (round trip) and through the CLI, until `done` resolves. */
async function statusUnderLoad(bg, done) {
  const rtt = [];
  const cli = [];
  let failures = 0;
  let finished = false;
  done.finally(() => (finished = true));
  const socketLoop = (async () => {
    while (!finished) {
      const t0 = performance.now();
      try {
        const r = await request(bg.socket, 'status', undefined, { timeoutMs: 5000 });
        if (!r.ok) failures++;
        rtt.push(performance.now() - t0);
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  // The same-run reference for the CLI figure: a bare `node -e 0` started the same way under the
  // same load. A `branchgate status` process can never be faster than Node's own start (about
  // 70 ms of CPU on the build machine), so the CLI's own cost is the difference of the two.
  const nodeStart = [];
  const cliLoop = (async () => {
    while (!finished) {
      const t0 = performance.now();
      const r = await bg.cli(['status', '--json'], true);
      if (r.code !== 0) failures++;
      else cli.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 250));
      const t1 = performance.now();
      const n = await run([process.execPath, '-e', '0'], { allowFail: true, timeoutMs: 10_000 });
      if (n.code === 0) nodeStart.push(performance.now() - t1);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  await Promise.all([socketLoop, cliLoop]);
  return {
    samples: rtt.length, failures,
    socketRoundTripMs: { p50: pct(rtt, 50), p99: pct(rtt, 99), max: Math.max(...rtt) },
    cliMs: { samples: cli.length, p50: pct(cli, 50), max: cli.length ? Math.max(...cli) : null },
    nodeStartMs: { samples: nodeStart.length, p50: pct(nodeStart, 50), max: nodeStart.length ? Math.max(...nodeStart) : null },
  };
}

/**
 * `branchgate rekey NAME --wait` during a 4-stream load: whether it completed (a new Child SA in
 * list-sas, its inbound SPI different from every one before), how long the command took, the
 * longest run of 1-second iperf3 intervals that moved nothing, and the load's throughput.
 */
async function rekeyUnderLoad(bg, conn, load) {
  const out = {};
  try {
    const before = (await bg.tunnel(conn))?.children.map((c) => c.spiIn) ?? [];
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    const r = await bg.cli(['rekey', conn, '--wait'], true);
    out.commandMs = performance.now() - t0;
    out.command = `${r.stdout}${r.stderr}`.trim().slice(0, 300);
    if (r.code !== 0) {
      out.ok = false;
    } else {
      const after = await waitFor('a new Child SA after rekey', async () => {
        const t = await bg.tunnel(conn);
        const fresh = t?.children.filter((c) => !before.includes(c.spiIn)) ?? [];
        return fresh.length > 0 ? t.children.map((c) => c.spiIn) : undefined;
      }, 20_000, 100).catch(() => null);
      out.newChildAfterMs = after ? performance.now() - t0 : null;
      out.ok = after !== null;
      out.spisBefore = before;
      out.spisAfter = after;
    }
  } finally {
    const res = await load; // never leave the load running past the pairing
    let stall = 0;
    let cur = 0;
    for (const b of res.intervals) {
      cur = b === 0 ? cur + 1 : 0;
      stall = Math.max(stall, cur);
    }
    out.longestStallS = stall;
    out.mbpsDuringRekey = res.mbps;
  }
  return out;
}

/** What a running branchgate says about itself: `version --json` and status's nativeFastPath. */
async function selfReport(bg) {
  const v = await run([process.execPath, BIN, 'version', '--json'], { allowFail: true, timeoutMs: 20_000 });
  const s = await bg.cli(['status', '--json'], true);
  let version = null;
  let nativeFastPath = null;
  try {
    version = JSON.parse(v.stdout);
  } catch {
    version = v.stdout.trim() || null;
  }
  try {
    nativeFastPath = JSON.parse(s.stdout).nativeFastPath ?? null;
  } catch {
    /* reported as null */
  }
  return { version, statusNativeFastPath: nativeFastPath };
}

/** One end of a pairing: 'swan', 'bg' (native dataplane) or 'bg-ts' (TypeScript dataplane). */
export function startEnd(ns, role, kind) {
  return kind === 'swan' ? startSwan(ns, role) : startBg(ns, role, kind === 'bg-ts' ? 'ts' : 'native');
}

async function runPairing(p, seconds, log, checkRekey) {
  const t = await createTopology({ tag: 'bench' });
  const ends = [];
  const out = { name: p.name, cpe: p.cpe, gw: p.gw };
  try {
    const start = startEnd;
    const gw = await start(t.gw, 'gw', p.gw); // the responder first
    ends.push(gw);
    const cpe = await start(t.cpe, 'cpe', p.cpe);
    ends.push(cpe);
    if (cpe.kind === 'swan') await cpe.c.initiate('net', 'gw', 20);
    for (const e of [cpe, gw]) {
      if (e.kind === 'swan') await e.c.waitEstablished(e.conn, 20_000);
      else await e.b.waitEstablished(e.conn, 20_000);
    }
    for (const e of [cpe, gw]) {
      if (e.kind !== 'bg') continue;
      const role = e === cpe ? 'cpe' : 'gw';
      out[`${role}Dataplane`] = { threads: dataplaneOf(e.pid()), ...(await selfReport(e.b)) };
    }
    await waitFor('ping through the tunnel', async () => ((await ping(t.branch, ADDR.svc, 1, { waitS: 1 })).received === 1 ? true : undefined), 15_000, 200);
    const pg = await ping(t.branch, ADDR.svc, 20, { intervalS: 0.05 });
    out.ping = { rttMinMs: pg.rttMinMs, rttAvgMs: pg.rttAvgMs, rttMaxMs: pg.rttMaxMs, lossPct: pg.lossPct };
    out.tcp1 = await iperf(t.branch, t.svc, ADDR.svc, { seconds });
    out.tcp1Reverse = await iperf(t.branch, t.svc, ADDR.svc, { seconds, reverse: true });
    const cpu0 = [cpuSeconds(cpe.pid()), cpuSeconds(gw.pid())];
    const w0 = performance.now();
    const load = iperf(t.branch, t.svc, ADDR.svc, { seconds, parallel: 4 });
    if (cpe.kind === 'bg') out.statusUnderLoad = await statusUnderLoad(cpe.b, load);
    out.tcp4 = await load;
    const wall = (performance.now() - w0) / 1000;
    const cpu1 = [cpuSeconds(cpe.pid()), cpuSeconds(gw.pid())];
    out.cpuCoresDuringTcp4 = { cpe: cpu0[0] === null ? null : (cpu1[0] - cpu0[0]) / wall, gw: cpu0[1] === null ? null : (cpu1[1] - cpu0[1]) / wall };
    out.udp = await iperf(t.branch, t.svc, ADDR.svc, { seconds: Math.max(3, Math.round(seconds / 2)), udp: true });
    out.integrity = { up: await integrity(t.branch, t.svc, ADDR.svc, 32), down: await integrity(t.svc, t.branch, ADDR.branch, 32) };
    if (cpe.kind === 'bg' && checkRekey) {
      const rekeyLoad = iperf(t.branch, t.svc, ADDR.svc, { seconds: seconds + 4, parallel: 4 });
      out.rekeyUnderLoad = await rekeyUnderLoad(cpe.b, cpe.conn, rekeyLoad);
    }
    for (const k of ['tcp1', 'tcp1Reverse', 'tcp4', 'udp']) if (out[k]) delete out[k].intervals;
    log(`  ${p.name}: TCP ${out.tcp1.mbps.toFixed(0)} / rev ${out.tcp1Reverse.mbps.toFixed(0)} / ×4 ${out.tcp4.mbps.toFixed(0)} Mbit/s, ` +
      `UDP ${(out.udp.packetsPerSec / 1e3).toFixed(0)}k pkt/s, ping ${out.ping.rttAvgMs?.toFixed(3)} ms` +
      (out.statusUnderLoad ? `, status p99 ${out.statusUnderLoad.socketRoundTripMs.p99?.toFixed(1)} ms` : ''));
  } catch (err) {
    out.error = err instanceof Error ? err.message.split('\n').slice(0, 6).join('\n') : String(err);
    log(`  ${p.name}: FAILED: ${out.error}`);
    for (const e of ends) if (e.kind === 'bg') out.error += `\n${e.b.logs(15)}`;
  } finally {
    for (const e of ends.reverse()) await e.stop().catch(() => undefined);
    await t.destroy();
  }
  return out;
}

export async function runTunnels({ seconds = 8, rounds = 1, pairings = PAIRINGS, log = console.log } = {}) {
  requireTrafficTools();
  const checkRekey = await rekeyAvailable();
  log(`tunnels: ${pairings.length} pairings × ${rounds} round(s), ${seconds} s per iperf3 run; rekey under load: ${checkRekey ? 'measured' : 'pending (no `branchgate rekey` yet)'}`);
  const byName = new Map(pairings.map((p) => [p.name, { name: p.name, cpe: p.cpe, gw: p.gw, rounds: [] }]));
  for (let k = 0; k < rounds; k++) {
    log(` round ${k + 1}/${rounds}`);
    for (const p of pairings) byName.get(p.name).rounds.push(await runPairing(p, seconds, log, checkRekey));
  }
  return { seconds, rounds, mtu: MTU, ike: IKE, esp: ESP, rekeyAvailable: checkRekey, pairings: [...byName.values()] };
}
