#!/usr/bin/env node
/**
 * The soak run (not part of `npm test`): the built daemon as CPE against strongSwan in
 * network namespaces, iperf3 TCP through the tunnel for the whole run, a Child rekey every 30 s
 * and an IKE rekey every 5 min through `branchgate rekey NAME [--ike] --wait`, and a sample of
 * the daemon's RSS, VmHWM, fds, threads, CPU, event-loop delay, heap, rekey and ESP counters
 * every 10 s, and RSS and the live heap right after a forced full GC at the start, at minute 5
 * and at the end. Writes bench/results/soak-<stamp>.{json,md} and soak-latest.{json,md} and
 * exits 0 when the verdict passes (RSS right after a full GC grew < 5 % from minute 5 to the
 * end, no fd or thread growth, every rekey completed, no iperf3 second without data, the tunnel
 * up, no ESP auth failure), 1 if not.
 *
 *   node bench/soak.mjs [--minutes 30] [--rate unpaced|100M] [--child-every 30] [--ike-every 300]
 *                       [--sample 10] [--out DIR] [--no-build]
 *
 * As root, with strongSwan (charon-systemd, libcharon-extra-plugins), iperf3 and nftables
 * (scripts/install-deps.sh). It builds dist/ and compiles test/interop/{lab,soak} to bench/.lab
 * (bench/tsconfig.lab.json) first. The 2-minute version of the same code is
 * test/interop/soak.test.ts. docs/soak.md explains the figures.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const num = (k, d) => {
  const v = Number(opt(k, d));
  if (!Number.isFinite(v) || v <= 0) {
    console.error(`soak: ${k} wants a positive number`);
    process.exit(2);
  }
  return v;
};
const minutes = num('--minutes', 30);
const rate = opt('--rate', 'unpaced');
const childEveryS = num('--child-every', 30);
const ikeEveryS = num('--ike-every', 300);
const sampleEveryS = num('--sample', 10);
const outDir = opt('--out', join(ROOT, 'bench', 'results'));
const durationS = Math.round(minutes * 60);
// "Between minute 5 and minute 30": RSS is compared right after a full GC at minute 5 (half-way
// through a shorter run) and at the end; fds and threads compare minutes 5–10 with the last 5.
const baselineS = Math.min(300, Math.floor(durationS / 2));
const windowS = Math.min(300, Math.floor(durationS / 6));

if (!args.includes('--no-build')) {
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  for (const p of ['tsconfig.build.json', 'bench/tsconfig.lab.json']) {
    const r = spawnSync(process.execPath, [tsc, '-p', p], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) {
      console.error(`soak: tsc -p ${p} exited ${r.status}`);
      process.exit(1);
    }
  }
}

const { runSoak } = await import('./.lab/soak/run.js');
const { writeResults } = await import('./.lab/soak/report.js');
const t = Date.now();
const log = (line) => console.log(`[soak ${((Date.now() - t) / 1000).toFixed(0).padStart(5)} s] ${line}`);
log(`${minutes} min, Child rekey every ${childEveryS} s, IKE rekey every ${ikeEveryS} s, sample every ${sampleEveryS} s, iperf3 ${rate}`);
const result = await runSoak({
  durationS, childEveryS, ikeEveryS, sampleEveryS, ...(rate === 'unpaced' ? {} : { bitrate: rate }), chunkS: 300, tag: 'soak',
  criteria: { baselineS, windowS, rssGrowthMaxPct: 5, fdGrowthMax: 0 },
  log,
});
const files = writeResults(outDir, result);
for (const c of result.verdict.checks) log(`${c.pass ? 'pass' : 'FAIL'}  ${c.name}: ${c.value}`);
log(`verdict ${result.verdict.pass ? 'PASS' : 'FAIL'}; wrote ${files.md} and ${files.json} (and soak-latest.*)`);
process.exit(result.verdict.pass ? 0 : 1);
