/**
 * Profiling helper (not part of `npm run bench`): brings one pairing of bench/tunnel.mjs up, runs
 * iperf3 TCP through it for --seconds while `perf record -a` samples the whole machine, and
 * prints `perf report` by command and symbol. Usage:
 *   node bench/profile.mjs bg bg [--seconds 6] [--parallel 1] [--out /tmp/perf.data]
 */
import { spawn } from 'node:child_process';
import { ADDR, createTopology } from './.lab/lab/topology.js';
import { exec, run } from './.lab/lab/netns.js';
import { startEnd, iperf } from './tunnel.mjs';

const args = process.argv.slice(2);
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const [cpeKind = 'bg', gwKind = 'bg'] = args.filter((a) => !a.startsWith('--') && !/^\d|^\//.test(a));
const seconds = Number(opt('--seconds', 6));
const out = opt('--out', '/tmp/perf.data');
const t = await createTopology({ tag: 'prof' });
const ends = [];
try {
  const gw = await startEnd(t.gw, 'gw', gwKind);
  ends.push(gw);
  const cpe = await startEnd(t.cpe, 'cpe', cpeKind);
  ends.push(cpe);
  if (cpe.kind === 'swan') await cpe.c.initiate('net', 'gw', 20);
  for (const e of [cpe, gw]) await (e.kind === 'swan' ? e.c.waitEstablished(e.conn, 20_000) : e.b.waitEstablished(e.conn, 20_000));
  await exec(t.branch, ['ping', '-c', '3', '-i', '0.2', ADDR.svc], { allowFail: true });
  const load = iperf(t.branch, t.svc, ADDR.svc, { seconds: seconds + 2, parallel: Number(opt('--parallel', 1)) });
  await new Promise((r) => setTimeout(r, 1000));
  const perf = spawn('perf', ['record', '-a', ...(args.includes('-g') ? ['-g'] : []), '-o', out, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
  await new Promise((r) => perf.on('exit', r));
  const res = await load;
  console.log(`iperf3: ${res.mbps.toFixed(0)} Mbit/s, retransmits ${res.retransmits}`);
} finally {
  for (const e of ends.reverse()) await e.stop().catch(() => undefined);
  await t.destroy();
}
const rep = await run(['perf', 'report', '-i', out, '--no-children', '--sort', 'comm,dso', '--stdio'], { allowFail: true, timeoutMs: 60_000 });
console.log(rep.stdout.split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 30).join('\n'));
