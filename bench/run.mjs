#!/usr/bin/env node
/**
 * The benchmark runner (`npm run bench`; not part of `npm test`). Runs, in one invocation:
 *   1. crypto: the hot-path table (bench/crypto.mjs) and the acceptance rounds at 1400 B, with
 *      `openssl speed` measured in the same rounds;
 *   2. tunnels: every pairing of bench/tunnel.mjs in network namespaces (root, strongSwan, iperf3);
 *   3. handshakes: IKE SAs per second and memory per IKE SA (bench/handshake.mjs);
 * and writes bench/results/<stamp>.{json,md} plus bench/results/latest.{json,md}.
 *
 *   node bench/run.mjs [--only crypto,tunnel,handshake] [--rounds N] [--seconds S] [--quick] [--no-build]
 *   npm run bench -- --quick
 *
 * First it builds what it measures: the addon (npm run build:native, which must succeed), dist/
 * (tsc -p tsconfig.build.json: it emits even when a file elsewhere has a type error, so its exit
 * status is reported, not fatal) and the lab helpers (bench/tsconfig.lab.json → bench/.lab).
 *
 * Benchmarks are measurements, not tests: nothing here fails on a number. Ratios are always taken
 * against references measured in the same run (the machine is shared and noisy); with --rounds N
 * every acceptance figure is reported as median, min and max over the N rounds.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const quick = args.includes('--quick');
const only = new Set((opt('--only', 'crypto,tunnel,handshake')).split(','));
const rounds = Number(opt('--rounds', quick ? 1 : 3));
const seconds = Number(opt('--seconds', quick ? 3 : 6));
const outDir = opt('--out', join(ROOT, 'bench', 'results'));

if (!args.includes('--no-build')) {
  const step = (what, cmd, argv, fatal) => {
    const r = spawnSync(cmd, argv, { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`bench: ${what} exited ${r.status}${fatal ? '' : ' (continuing: it still emitted)'}`);
      if (fatal) process.exit(1);
    }
  };
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  step('npm run build:native', 'npm', ['run', 'build:native', '--silent'], true);
  step('tsc -p tsconfig.build.json', process.execPath, [tsc, '-p', 'tsconfig.build.json'], false);
  step('tsc -p bench/tsconfig.lab.json', process.execPath, [tsc, '-p', 'bench/tsconfig.lab.json'], false);
}

const sh = (cmd, argv) => {
  try {
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (e) {
    return `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || null;
  }
};

function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const flags = /^flags\s*:\s*(.*)$/m.exec(cpuinfo)?.[1].split(' ') ?? [];
  return {
    nproc: Number(sh('nproc', [])),
    cpuModel: model,
    cpuMHz: Number(/^cpu MHz\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? 0),
    cpuFlags: ['aes', 'pclmulqdq', 'avx2', 'vaes', 'vpclmulqdq', 'avx512f'].filter((f) => flags.includes(f)),
    hypervisor: flags.includes('hypervisor'),
    memGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: sh('uname', ['-r']),
    os: /^PRETTY_NAME="?(.*?)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null,
    node: process.version,
    nodeOpenssl: process.versions.openssl,
    openssl: sh('openssl', ['version']),
    strongswan: (sh('dpkg-query', ['-W', '-f=strongSwan ${Version}', 'charon-systemd']) ?? '').split('\n')[0] || null,
    iperf3: (sh('iperf3', ['--version']) ?? '').split('\n')[0] || null,
    gitCommit: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    gitDirty: (sh('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no']) ?? '').length > 0,
  };
}

const fmt = {
  k: (x) => (x == null ? '–' : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`),
  gb: (x) => (x == null ? '–' : x >= 1e9 ? `${(x / 1e9).toFixed(2)} GB/s` : `${(x / 1e6).toFixed(0)} MB/s`),
  r: (x, d = 2) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(d)),
  ms: (x, d = 1) => (x == null || !Number.isFinite(x) ? '–' : `${x.toFixed(d)} ms`),
  mbps: (x) => (x == null || !Number.isFinite(x) ? '–' : `${x.toFixed(0)}`),
};
const median = (xs) => {
  const s = xs.filter((x) => x != null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const spreadOf = (xs) => {
  const v = xs.filter((x) => x != null && Number.isFinite(x));
  return v.length ? { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length, all: v } : null;
};
const sp = (s, f = fmt.r) => (s ? (s.n > 1 ? `${f(s.median)} (${f(s.min)}–${f(s.max)})` : f(s.median)) : '–');

/** Acceptance 2 and the tunnel table: per pairing, per round; ratios per round, then spread. */
function tunnelSummary(t) {
  const get = (name) => t.pairings.find((p) => p.name === name);
  const metric = (p, f) => (p ? p.rounds.map((r) => (r.error ? null : f(r))) : []);
  const ratio = (a, b, f) => {
    const A = metric(get(a), f);
    const B = metric(get(b), f);
    return spreadOf(A.map((x, i) => (x != null && B[i] ? x / B[i] : null)));
  };
  const bgbg = 'branchgate ↔ branchgate';
  const sw = 'strongSwan ↔ strongSwan';
  const bgCpe = 'branchgate ↔ strongSwan';
  return {
    bgbgVsSwanTcp1: ratio(bgbg, sw, (r) => r.tcp1.mbps),
    bgbgVsSwanTcp1Reverse: ratio(bgbg, sw, (r) => r.tcp1Reverse.mbps),
    bgbgVsSwanTcp4: ratio(bgbg, sw, (r) => r.tcp4.mbps),
    bgCpeVsSwanCpeTcp1: ratio(bgCpe, sw, (r) => r.tcp1.mbps),
    bgCpeVsSwanCpeTcp1Reverse: ratio(bgCpe, sw, (r) => r.tcp1Reverse.mbps),
    bgCpeVsSwanCpeTcp4: ratio(bgCpe, sw, (r) => r.tcp4.mbps),
    perPairing: t.pairings.map((p) => ({
      name: p.name,
      errors: p.rounds.filter((r) => r.error).map((r) => r.error.split('\n')[0]),
      tcp1: spreadOf(metric(p, (r) => r.tcp1.mbps)),
      tcp1Reverse: spreadOf(metric(p, (r) => r.tcp1Reverse.mbps)),
      tcp4: spreadOf(metric(p, (r) => r.tcp4.mbps)),
      udpPps: spreadOf(metric(p, (r) => r.udp.packetsPerSec)),
      udpLossPct: spreadOf(metric(p, (r) => r.udp.lossPct)),
      pingAvgMs: spreadOf(metric(p, (r) => r.ping.rttAvgMs)),
      cpuCpe: spreadOf(metric(p, (r) => r.cpuCoresDuringTcp4.cpe)),
      cpuGw: spreadOf(metric(p, (r) => r.cpuCoresDuringTcp4.gw)),
      integrityOk: p.rounds.every((r) => !r.error && r.integrity?.up.ok && r.integrity?.down.ok),
      dataplane: p.rounds.map((r) => ({ cpe: r.cpeDataplane ?? 'strongSwan', gw: r.gwDataplane ?? 'strongSwan' }))[0],
      statusP99Ms: spreadOf(metric(p, (r) => r.statusUnderLoad?.socketRoundTripMs.p99)),
      statusMaxMs: spreadOf(metric(p, (r) => r.statusUnderLoad?.socketRoundTripMs.max)),
      statusCliMaxMs: spreadOf(metric(p, (r) => r.statusUnderLoad?.cliMs.max)),
      statusCliP50Ms: spreadOf(metric(p, (r) => r.statusUnderLoad?.cliMs.p50)),
      nodeStartP50Ms: spreadOf(metric(p, (r) => r.statusUnderLoad?.nodeStartMs?.p50)),
      nodeStartMaxMs: spreadOf(metric(p, (r) => r.statusUnderLoad?.nodeStartMs?.max)),
      statusFailures: p.rounds.reduce((a, r) => a + (r.statusUnderLoad?.failures ?? 0), 0),
      rekey: p.rounds.map((r) => r.rekeyUnderLoad).filter(Boolean),
    })),
  };
}

function markdown(doc) {
  const m = doc.machine;
  const L = [];
  L.push(`# branchgate benchmark results (${doc.startedAt})`, '');
  L.push(`Machine: ${m.nproc} × ${m.cpuModel}${m.hypervisor ? ' (virtual machine)' : ''}, ${m.cpuMHz.toFixed(0)} MHz, flags ${m.cpuFlags.join(' ')}, ${m.memGiB} GiB; ` +
    `Linux ${m.kernel} (${m.os}); Node ${m.node} (OpenSSL ${m.nodeOpenssl}); ${m.openssl}; ${m.strongswan ?? 'strongSwan ?'}; ${m.iperf3 ?? 'iperf3 ?'}. ` +
    `Commit ${m.gitCommit}${m.gitDirty ? ' (with uncommitted changes)' : ''}. Load average at start ${doc.loadStart.map((x) => x.toFixed(2)).join(' ')}, at end ${doc.loadEnd?.map((x) => x.toFixed(2)).join(' ') ?? '?'}. ` +
    `The machine is shared with other work; figures in parentheses are min–max over ${rounds} round(s).`, '');
  if (doc.crypto) {
    const a = doc.crypto.acceptance.spread;
    L.push('## Crypto hot path (AES-256-GCM-16, one core)', '');
    L.push(`Acceptance 1 at ${doc.crypto.acceptance.size} B, ${doc.crypto.acceptance.rounds.length} interleaved rounds (median (min–max)); rates per ${doc.crypto.acceptance.clock === 'wall' ? 'wall-clock second (openssl -elapsed)' : 'CPU-user second of the measuring process, as `openssl speed` counts by default'}:`, '');
    L.push('| figure | value |', '|---|---|');
    L.push(`| \`openssl speed -evp aes-256-gcm -bytes 1400\` encrypt / decrypt | ${sp(a.opensslEncBytesPerSec, fmt.gb)} / ${sp(a.opensslDecBytesPerSec, fmt.gb)} |`);
    L.push(`| native batched seal / open | ${sp(a.nativeSealBytesPerSec, fmt.gb)} / ${sp(a.nativeOpenBytesPerSec, fmt.gb)} |`);
    L.push(`| native seal ÷ openssl encrypt | **${sp(a.sealVsOpensslEnc)}** |`);
    L.push(`| native open ÷ openssl encrypt (÷ openssl decrypt) | **${sp(a.openVsOpensslEnc)}** (${sp(a.openVsOpensslDec)}) |`);
    L.push(`| native seal+open ÷ openssl encrypt+decrypt (harmonic) | ${sp(a.sealOpenVsOpenssl)} |`);
    L.push(`| TypeScript path (node:crypto per packet) seal / open | ${sp(a.tsSealPps, fmt.k)} / ${sp(a.tsOpenPps, fmt.k)} pkt/s |`);
    L.push(`| native batched seal / open ÷ TypeScript path | **${sp(a.sealVsTs, (x) => `${x.toFixed(1)}×`)}** / **${sp(a.openVsTs, (x) => `${x.toFixed(1)}×`)}** |`);
    L.push(`| native single call seal / open | ${sp(a.nativeSingleSealPps, fmt.k)} / ${sp(a.nativeSingleOpenPps, fmt.k)} pkt/s |`, '');
    L.push('Full table (one pass, 0.5 s per cell; ratio = bytes/s ÷ `openssl speed -evp aes-256-gcm -bytes SIZE` in this run):', '');
    L.push('| size | path | seal pkt/s | seal bytes/s | ratio | open pkt/s | open bytes/s | ratio | OpenSSL 256 / 128 |', '|---|---|---|---|---|---|---|---|---|');
    for (const size of [...new Set(doc.crypto.table.rows.map((r) => r.size))]) {
      const ref = doc.crypto.table.openssl[`ref${size}`];
      for (const path of ['noble', 'ts', 'nativeSingle', 'nativeBatch']) {
        const s = doc.crypto.table.rows.find((r) => r.size === size && r.path === path && r.dir === 'seal');
        const o = doc.crypto.table.rows.find((r) => r.size === size && r.path === path && r.dir === 'open');
        const name = { noble: '@noble/ciphers', ts: 'TypeScript (node:crypto)', nativeSingle: 'native, 1 per call', nativeBatch: 'native, 64 per call' }[path];
        L.push(`| ${size} | ${name} | ${fmt.k(s.packetsPerSec)} | ${fmt.gb(s.bytesPerSec)} | ${fmt.r(s.ratioToOpensslExact)} | ${fmt.k(o.packetsPerSec)} | ${fmt.gb(o.bytesPerSec)} | ${fmt.r(o.ratioToOpensslExact)} | ${path === 'noble' ? `${fmt.gb(ref.exactBytesPerSec)} / ${fmt.gb(ref.aes128ExactBytesPerSec)}` : ''} |`);
      }
    }
    const t256 = doc.crypto.table.openssl['aes-256-gcm'].table;
    const t128 = doc.crypto.table.openssl['aes-128-gcm'].table;
    L.push('', `\`openssl speed -evp\` standard table: aes-256-gcm ${Object.entries(t256).map(([k, v]) => `${k} B ${fmt.gb(v)}`).join(', ')}; aes-128-gcm ${Object.entries(t128).map(([k, v]) => `${k} B ${fmt.gb(v)}`).join(', ')}.`, '');
  }
  if (doc.tunnel) {
    const s = doc.tunnelSummary;
    L.push('## Tunnels in network namespaces', '');
    L.push(`branch ─ CPE ═ endpoint ─ service, four namespaces on this machine (every daemon, iperf3 and the kernel's forwarding share the ${m.nproc} cores); ${doc.tunnel.ike} / ESP ${doc.tunnel.esp} in UDP 4500, MTU ${doc.tunnel.mtu}, ${doc.tunnel.seconds} s per iperf3 run, ${doc.tunnel.rounds} round(s) of all pairings. strongSwan ${m.strongswan ?? ''} uses kernel-libipsec (its userspace datapath; this kernel has no ESP/GCM).`, '');
    L.push('Acceptance 2 (ratios per round, median (min–max)):', '');
    L.push('| ratio | TCP 1 stream | TCP 1 stream, reverse | TCP 4 streams |', '|---|---|---|---|');
    L.push(`| branchgate↔branchgate ÷ strongSwan↔strongSwan | **${sp(s.bgbgVsSwanTcp1)}** | ${sp(s.bgbgVsSwanTcp1Reverse)} | ${sp(s.bgbgVsSwanTcp4)} |`);
    L.push(`| branchgate CPE ↔ strongSwan endpoint ÷ strongSwan CPE ↔ strongSwan endpoint | **${sp(s.bgCpeVsSwanCpeTcp1)}** | ${sp(s.bgCpeVsSwanCpeTcp1Reverse)} | ${sp(s.bgCpeVsSwanCpeTcp4)} |`, '');
    L.push('| CPE ↔ endpoint | TCP Mbit/s | reverse | ×4 streams | UDP pkt/s (1200 B) | UDP loss % | ping avg | CPU cores CPE / endpoint (×4) | data intact |', '|---|---|---|---|---|---|---|---|---|');
    for (const p of s.perPairing) {
      L.push(`| ${p.name}${p.errors.length ? ` (${p.errors.length} failed round(s))` : ''} | ${sp(p.tcp1, fmt.mbps)} | ${sp(p.tcp1Reverse, fmt.mbps)} | ${sp(p.tcp4, fmt.mbps)} | ${sp(p.udpPps, fmt.k)} | ${sp(p.udpLossPct, (x) => x.toFixed(0))} | ${sp(p.pingAvgMs, (x) => `${x.toFixed(2)} ms`)} | ${sp(p.cpuCpe)} / ${sp(p.cpuGw)} | ${p.integrityOk ? 'yes' : 'NO'} |`);
    }
    const dp = s.perPairing.filter((p) => p.dataplane && (typeof p.dataplane.cpe === 'object' || typeof p.dataplane.gw === 'object'));
    L.push('', 'Dataplane each branchgate ran (the native engine names its I/O threads bg-dp-tx/bg-dp-rx; `status --json` nativeFastPath only says the addon loaded):', '');
    for (const p of dp) {
      const d = (x) => (typeof x === 'object' ? `${x.threads} (nativeFastPath ${x.statusNativeFastPath})` : x);
      L.push(`- ${p.name}: CPE ${d(p.dataplane.cpe)}, endpoint ${d(p.dataplane.gw)}`);
    }
    L.push('', 'Control under full load (4 iperf3 streams through a branchgate CPE):', '');
    L.push('| pairing | `status` over the control socket: p99 / max | `branchgate status --json` as a new CLI process: p50 / max | bare `node -e 0` under the same load: p50 / max | failures | rekey under load |', '|---|---|---|---|---|---|');
    for (const p of s.perPairing.filter((x) => x.statusP99Ms)) {
      const rk = p.rekey.length === 0 ? (doc.tunnel.rekeyAvailable ? '–' : 'not measured: `branchgate rekey` not available') :
        p.rekey.map((r) => (r.ok ? `ok, new Child SA after ${fmt.ms(r.newChildAfterMs, 0)}, longest stall ${r.longestStallS} s, ${fmt.mbps(r.mbpsDuringRekey)} Mbit/s` : `FAILED: ${r.command ?? ''}`)).join('; ');
      const node = p.nodeStartP50Ms ? `${sp(p.nodeStartP50Ms, fmt.ms)} / ${sp(p.nodeStartMaxMs, fmt.ms)}` : '–';
      L.push(`| ${p.name} | ${sp(p.statusP99Ms, fmt.ms)} / ${sp(p.statusMaxMs, fmt.ms)} | ${sp(p.statusCliP50Ms, fmt.ms)} / ${sp(p.statusCliMaxMs, fmt.ms)} | ${node} | ${p.statusFailures} | ${rk} |`);
    }
    L.push('');
  }
  if (doc.handshake) {
    L.push('## Handshakes (two in-process sans-IO engines, one core)', '');
    L.push('| DH | initiator IKE SAs/s | responder IKE SAs/s | both in one process |', '|---|---|---|---|');
    for (const r of doc.handshake.rates) L.push(`| ${r.dh} | ${r.initiatorPerSec.toFixed(0)} | ${r.responderPerSec.toFixed(0)} | ${r.bothPerSec.toFixed(0)} |`);
    const mm = doc.handshake.memory;
    L.push('', `Memory at ${mm.ikeSas} IKE SAs (1,000 per engine, each with its first Child SA): ${(mm.heapBytesPerIkeSa / 1024).toFixed(1)} KiB heap + ${(mm.externalBytesPerIkeSa / 1024).toFixed(1)} KiB external per IKE SA (RSS growth ${(mm.rssBytesPerIkeSa / 1024).toFixed(1)} KiB per IKE SA).`, '');
  }
  if (doc.errors.length) L.push('## Errors', '', ...doc.errors.map((e) => `- ${e}`), '');
  L.push(`Reproduce: \`npm run bench\` (as root, with strongSwan, iperf3 and nftables installed; ${((doc.finishedMs - doc.startedMs) / 60000).toFixed(0)} min here). Raw numbers: the JSON file next to this one.`);
  return L.join('\n') + '\n';
}

const startedMs = Date.now();
const doc = { startedAt: new Date(startedMs).toISOString(), startedMs, options: { rounds, seconds, quick, only: [...only] }, machine: machine(), loadStart: loadavg(), errors: [] };
console.log(`bench: ${doc.machine.nproc} × ${doc.machine.cpuModel}, Linux ${doc.machine.kernel}, Node ${doc.machine.node}; rounds ${rounds}, ${seconds} s per run`);

if (only.has('crypto')) {
  try {
    const { runCrypto, runCryptoAcceptance } = await import('./crypto.mjs');
    const acceptance = await runCryptoAcceptance({ rounds: quick ? 2 : Math.max(5, rounds) });
    const table = await runCrypto({ seconds: quick ? 0.25 : 0.5 });
    doc.crypto = { acceptance, table };
  } catch (e) {
    doc.errors.push(`crypto: ${e.stack ?? e}`);
    console.error(e);
  }
}
if (only.has('tunnel')) {
  try {
    const { runTunnels } = await import('./tunnel.mjs');
    doc.tunnel = await runTunnels({ seconds, rounds });
    doc.tunnelSummary = tunnelSummary(doc.tunnel);
  } catch (e) {
    doc.errors.push(`tunnel: ${e.stack ?? e}`);
    console.error(e);
  }
}
if (only.has('handshake')) {
  try {
    const { runHandshakes } = await import('./handshake.mjs');
    doc.handshake = await runHandshakes({ quick });
  } catch (e) {
    doc.errors.push(`handshake: ${e.stack ?? e}`);
    console.error(e);
  }
}
doc.loadEnd = loadavg();
doc.finishedMs = Date.now();
mkdirSync(outDir, { recursive: true });
const stamp = doc.startedAt.replace(/[:]/g, '').replace(/\..*$/, '').replace('T', '-');
const md = markdown(doc);
for (const base of [stamp, 'latest']) {
  writeFileSync(join(outDir, `${base}.json`), JSON.stringify(doc, null, 1) + '\n');
  writeFileSync(join(outDir, `${base}.md`), md);
}
console.log(`\n${md}\nwritten: ${join(outDir, `${stamp}.{json,md}`)} and latest.{json,md}`);
process.exit(0);
