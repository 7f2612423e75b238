/**
 * The native TUN addon, for real: a TUN device inside a network namespace this file creates and
 * removes, UDP through it in both directions, and the error paths.
 *
 * A process cannot move itself into a namespace, so the traffic tests run a child node script
 * under `ip netns exec`. The child uses the real TunDevice: src/net/tun.ts is transpiled with
 * TypeScript's transpileModule (it imports only node builtins) and handed the addon explicitly.
 * The child prints one JSON line; the assertions live here. It must also exit on its own, which
 * proves that no libuv handle outlives close()/unwatch().
 *
 * Needs root, /dev/net/tun, `ip` and the built addon. Without them every test here FAILS with
 * what is missing (CI runs as root); it never skips.
 */
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadNative,
  MAX_BATCHES_PER_WAKEUP,
  slotSizeFor,
  TunDevice,
  type NativeTun,
  type NativeWatch,
} from '../../../src/net/tun.js';
import { nativeFastPath } from '../../../src/version.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const NS = `bgt${process.pid}tun`;
const IFNAME = `bgt${process.pid}`;
const NOT_OPEN_FD = 99_999; // far above anything this process has open

function missingRequirements(): string[] {
  const missing: string[] = [];
  const uid = process.getuid?.();
  if (uid !== 0) missing.push(`root (running as uid ${uid ?? 'unknown'}; CI runs these as root)`);
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (modprobe tun; in a container --device /dev/net/tun)');
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    missing.push('the `ip` command (Debian package iproute2)');
  }
  const n = loadNative();
  if (n.api === null) missing.push(`the built addon: ${n.reason}`);
  return missing;
}

const MISSING = missingRequirements();

/** Called first in every test that needs the real thing: fail loudly, never skip. */
function native(): NativeTun {
  if (MISSING.length > 0) throw new Error(`native TUN tests cannot run; missing: ${MISSING.join('; ')}`);
  return loadNative().api as NativeTun;
}

function caught(f: () => unknown): Error & { code?: string; written?: number } {
  try {
    f();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

// ------------------------------------------------------------------------------------------
// The child: runs inside the namespace, prints one JSON line.

const CHILD = String.raw`
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
const [addonPath, tunUrl, scenario, ifname] = process.argv.slice(2);
const native = createRequire(import.meta.url)(addonPath);
const { TunDevice } = await import(tunUrl);
const ip = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
const linkInfo = (name) => JSON.parse(ip('-j', 'link', 'show', 'dev', name))[0];
const linkExists = (name) => { try { ip('link', 'show', 'dev', name); return true; } catch { return false; } };
const errInfo = (f) => { try { f(); return null; } catch (e) { return { name: e.name, code: e.code, message: e.message }; } };
const within = (ms, what, p) => { let t; return Promise.race([p, new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timed out: ' + what)), ms); })]).finally(() => clearTimeout(t)); };
const bound = (addr) => new Promise((res) => { const s = dgram.createSocket('udp4'); s.bind(0, addr, () => res(s)); });

function csum(b, off, len) {
  let s = 0;
  for (let i = 0; i < len; i += 2) s += (b[off + i] << 8) | (b[off + i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}
/** IPv4 + UDP (checksum 0 = none, allowed for IPv4) written at slab[off]; returns its length. */
function udp4(slab, off, src, dst, sport, dport, payload) {
  const p = Buffer.from(payload), len = 28 + p.length;
  slab.fill(0, off, off + 28);
  slab[off] = 0x45; slab.writeUInt16BE(len, off + 2); slab[off + 8] = 64; slab[off + 9] = 17;
  src.split('.').forEach((o, i) => { slab[off + 12 + i] = +o; });
  dst.split('.').forEach((o, i) => { slab[off + 16 + i] = +o; });
  slab.writeUInt16BE(csum(slab, off, 20), off + 10);
  slab.writeUInt16BE(sport, off + 20); slab.writeUInt16BE(dport, off + 22); slab.writeUInt16BE(8 + p.length, off + 24);
  p.copy(slab, off + 28);
  return len;
}

async function traffic() {
  const out = { readBatchCalls: [], wakeups: 0 };
  // Count every readBatch (including ones that return 0) and every readiness event.
  const api = { ...native,
    readBatch: (...a) => { const n = native.readBatch(...a); out.readBatchCalls.push(n); return n; },
    watch: (fd, cb) => native.watch(fd, (e) => { out.wakeups++; cb(e); }) };
  const dev = TunDevice.open(ifname, 1400, { api });
  const l = linkInfo(dev.name);
  out.link = { name: dev.name, mtu: l.mtu, flags: l.flags, slotSize: dev.slotSize };
  ip('addr', 'add', '100.64.50.1/24', 'dev', dev.name);

  const tx = await bound('100.64.50.1');
  const N = 200;
  out.sent = N;
  out.udp = []; out.other = 0; out.batches = [];
  await within(5000, 'UDP packets on the TUN', new Promise((resolve, reject) => {
    dev.onPackets((slab, lengths, count, slotSize) => {
      out.batches.push(count);
      for (let i = 0; i < count; i++) {
        const p = slab.subarray(i * slotSize, i * slotSize + lengths[i]);
        if (p[0] >> 4 !== 4 || p[9] !== 17) { out.other++; continue; } // e.g. IPv6 noise
        const ihl = (p[0] & 15) * 4;
        out.udp.push({ len: lengths[i], totalLength: p.readUInt16BE(2), src: [...p.subarray(12, 16)].join('.'),
          dst: [...p.subarray(16, 20)].join('.'), dport: p.readUInt16BE(ihl + 2), payload: p.subarray(ihl + 8).toString() });
      }
      if (out.udp.length >= N) resolve();
    }, reject);
    // All sent in one synchronous burst: the packets queue on the TUN before its first wake-up.
    for (let i = 0; i < N; i++) tx.send('pkt-' + i, 9999, '100.64.50.2');
  }));

  // Back the other way: several UDP packets (and one that is not IP) in one writeBatch.
  const rx = await bound('100.64.50.1');
  const port = rx.address().port;
  const K = 10;
  const slab = Buffer.alloc(64 * (K + 1)), offsets = new Uint32Array(K + 1), lengths = new Uint32Array(K + 1);
  const expected = [];
  for (let k = 0, j = 0; k <= K; k++) {
    offsets[k] = k * 64;
    if (k === 5) { lengths[k] = 20; continue; } // all zero: version 0, the kernel refuses it (EINVAL)
    const payload = 'reply-' + j++;
    expected.push(payload);
    lengths[k] = udp4(slab, k * 64, '100.64.50.2', '100.64.50.1', 9999, port, payload);
  }
  const got = [];
  const arrived = new Promise((resolve) => rx.on('message', (m, r) => { got.push({ payload: m.toString(), from: r.address + ':' + r.port }); if (got.length === K + 1) resolve(); }));
  out.written = dev.writeBatch(slab, offsets, lengths, K + 1);
  const one = Buffer.alloc(64);
  out.singleWrite = dev.write(one.subarray(0, udp4(one, 0, '100.64.50.2', '100.64.50.1', 9999, port, 'single')));
  expected.push('single');
  await within(5000, 'UDP packets written to the TUN', arrived);
  out.expectedBack = expected; out.gotBack = got;
  out.counters = dev.counters;

  dev.close();
  dev.close(); // idempotent
  out.onPacketsAfterClose = errInfo(() => dev.onPackets(() => {}));
  out.linkAfterClose = linkExists(ifname);
  tx.close(); rx.close();
  return out;
}

async function errors() {
  const out = {};
  out.notTun = errInfo(() => native.open('lo', 1400));
  out.badName = errInfo(() => native.open('a b', 1400));
  const a = native.open(ifname, 1400);
  out.busy = errInfo(() => native.open(ifname, 1400));

  // watch, then close(fd) without unwatch: the next open reuses the fd number, and watching it
  // again works only if close() really stopped the first poll.
  const h1 = native.watch(a.fd, () => {});
  out.watchTwice = errInfo(() => native.watch(a.fd, () => {}));
  native.close(a.fd);
  const b = native.open(ifname, 1400);
  out.fdReused = b.fd === a.fd;
  const h2 = native.watch(b.fd, () => {});
  native.unwatch(h1); native.unwatch(h2); native.unwatch(h2); // all no-ops or idempotent
  native.close(b.fd);

  // An existing persistent device is attached to, and gets our MTU and IFF_UP.
  const pname = ifname + 'p';
  ip('tuntap', 'add', 'dev', pname, 'mode', 'tun');
  const before = linkInfo(pname);
  const p = native.open(pname, 1280);
  const after = linkInfo(pname);
  out.reattach = { name: p.name, upBefore: before.flags.includes('UP'), upAfter: after.flags.includes('UP'), mtu: after.mtu };
  native.close(p.fd);
  out.persistentSurvivesClose = linkExists(pname);
  ip('tuntap', 'del', 'dev', pname, 'mode', 'tun');

  // An empty name: the kernel picks one.
  const k = native.open('', 1400);
  out.kernelName = k.name;
  native.close(k.fd);

  // A packet bigger than the slot is dropped and counted, never truncated.
  const c = native.open(ifname, 1400);
  ip('addr', 'add', '100.64.51.1/24', 'dev', ifname);
  const s = await bound('100.64.51.1');
  await new Promise((r) => s.send(Buffer.alloc(1000, 1), 9999, '100.64.51.2', r));
  await new Promise((r) => s.send(Buffer.alloc(100, 2), 9999, '100.64.51.2', r));
  const slab = Buffer.alloc(4 * 256), lengths = new Uint32Array(4), stats = new Uint32Array(1);
  const seen = [];
  for (let tries = 0; tries < 50 && seen.filter((l) => l === 128).length === 0; tries++) {
    const n = native.readBatch(c.fd, slab, 256, lengths, stats);
    for (let i = 0; i < n; i++) seen.push(lengths[i]);
    if (n === 0) await new Promise((r) => setTimeout(r, 10));
  }
  out.oversize = { lengths: seen, dropped: stats[0] };
  s.close();
  native.close(c.fd);

  // The device is deleted under a watching TunDevice: the read error reaches onError.
  const dev = TunDevice.open(ifname, 1400, { api: native });
  const err = await within(5000, 'onError after ip link del', new Promise((resolve) => {
    dev.onPackets(() => {}, resolve);
    ip('link', 'del', 'dev', ifname);
  }));
  out.deleted = { code: err.code, message: err.message };
  out.writeAfterDelete = errInfo(() => dev.write(Buffer.from([0x45, 0, 0, 20])));
  dev.close();

  // close() from inside the packet handler (the handler runs inside the libuv poll callback).
  const d2 = TunDevice.open(ifname, 1400, { api: native });
  ip('addr', 'add', '100.64.52.1/24', 'dev', ifname);
  const s2 = await bound('100.64.52.1');
  await within(5000, 'a packet to close on', new Promise((resolve) => {
    d2.onPackets(() => { d2.close(); resolve(); });
    for (let i = 0; i < 100; i++) s2.send('x', 9999, '100.64.52.2');
  }));
  out.closedInHandler = d2.closed;
  s2.close();
  return out;
}

const result = scenario === 'traffic' ? await traffic() : await errors();
process.stdout.write(JSON.stringify(result) + '\n');
// No process.exit(): if a poll handle were still open the process would hang and the test fail.
`;

let dir = '';

beforeAll(() => {
  if (MISSING.length > 0) return; // every test fails with the reason
  dir = mkdtempSync(join(tmpdir(), 'bg-tun-'));
  // tun.ts and the one module it imports (the addon loader), transpiled into the same layout
  // (net/, native/) as ES modules; the child hands TunDevice the addon itself.
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  for (const rel of ['net/tun', 'native/addon-file']) {
    const src = readFileSync(join(ROOT, 'src', `${rel}.ts`), 'utf8');
    const js = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    mkdirSync(join(dir, dirname(rel)), { recursive: true });
    writeFileSync(join(dir, `${rel}.js`), js);
  }
  writeFileSync(join(dir, 'child.mjs'), CHILD);
  execFileSync('ip', ['netns', 'add', NS]);
  // No IPv6 in the namespace: fewer unrelated packets (router solicitations, MLD) on the TUN.
  try {
    execFileSync('ip', ['netns', 'exec', NS, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], { stdio: 'ignore' });
  } catch {
    // no IPv6 at all: nothing to silence
  }
});

afterAll(() => {
  if (dir !== '') {
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

function inNamespace(scenario: 'traffic' | 'errors'): Promise<Record<string, any>> {
  const path = loadNative().path as string;
  const argv = ['netns', 'exec', NS, process.execPath, join(dir, 'child.mjs'), path, pathToFileURL(join(dir, 'net', 'tun.js')).href, scenario, IFNAME];
  return new Promise((resolve, reject) => {
    execFile('ip', argv, { timeout: 15_000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) {
        const hung = (err as { killed?: boolean }).killed === true;
        reject(new Error(`${hung ? 'child did not exit (a handle kept it alive?)' : `child failed (${err.message.split('\n')[0]})`}\n${stderr}${stdout}`));
        return;
      }
      resolve(JSON.parse(stdout) as Record<string, any>);
    });
  });
}

describe('native TUN addon in a network namespace', () => {
  it('opens the device with our MTU and up, and reads UDP packets in batches', async () => {
    native();
    const r = await inNamespace('traffic');
    expect(r.link).toMatchObject({ name: IFNAME, mtu: 1400, slotSize: 1408 });
    expect(r.link.flags).toContain('UP');

    // Every datagram arrived, intact, as an IPv4 packet to 100.64.50.2:9999.
    const udp = r.udp as { len: number; totalLength: number; src: string; dst: string; dport: number; payload: string }[];
    expect(udp).toHaveLength(r.sent);
    for (const p of udp) {
      expect(p).toMatchObject({ src: '100.64.50.1', dst: '100.64.50.2', dport: 9999 });
      expect(p.len).toBe(p.totalLength);
    }
    expect(udp.map((p) => p.payload).sort()).toEqual(Array.from({ length: r.sent }, (_, i) => `pkt-${i}`).sort());

    // Batching: many packets per readBatch call and per readiness event.
    const calls = r.readBatchCalls as number[];
    const nonEmpty = calls.filter((n) => n > 0);
    const packets = nonEmpty.reduce((a, b) => a + b, 0);
    const stats = {
      packets,
      readBatchCalls: calls.length,
      nonEmptyCalls: nonEmpty.length,
      maxPerCall: Math.max(...calls),
      meanPerNonEmptyCall: +(packets / nonEmpty.length).toFixed(1),
      wakeups: r.wakeups,
      perWakeup: +(packets / r.wakeups).toFixed(1),
    };
    console.info(`native TUN readBatch: ${JSON.stringify(stats)}`);
    expect(stats.maxPerCall).toBeGreaterThan(1);
    expect(stats.perWakeup).toBeGreaterThan(1);
    expect(Math.max(...(r.batches as number[]))).toBeLessThanOrEqual(64);

    // And back: writeBatch delivered the 10 UDP packets to the socket and skipped the non-IP one.
    expect(r.written).toBe(10);
    expect(r.singleWrite).toBe(true);
    expect((r.gotBack as { payload: string }[]).map((g) => g.payload).sort()).toEqual([...(r.expectedBack as string[])].sort());
    for (const g of r.gotBack as { from: string }[]) expect(g.from).toBe('100.64.50.2:9999');
    expect(r.counters).toMatchObject({ packetsIn: packets, packetsOut: 11, dropsOut: 1 });

    // close() removed the (non-persistent) device; the child then exited on its own.
    expect(r.linkAfterClose).toBe(false);
    expect(r.onPacketsAfterClose.message).toMatch(/closed/);
  });

  it('reports kernel refusals with a remedy, reattaches, drops oversize packets, survives deletion', async () => {
    native();
    const r = await inNamespace('errors');
    expect(r.notTun.code).toBe('EINVAL');
    expect(r.notTun.message).toMatch(/cannot create or attach TUN device "lo".*not a single-queue TUN device.*ip link del lo/);
    expect(r.badName.message).toMatch(/"a b".*not a valid interface name/);
    expect(r.busy.code).toBe('EBUSY');
    expect(r.busy.message).toMatch(new RegExp(`${IFNAME} is already attached to another file descriptor`));
    expect(r.watchTwice.message).toMatch(/already watched; unwatch it first/);
    expect(r.fdReused).toBe(true);
    expect(r.reattach).toEqual({ name: `${IFNAME}p`, upBefore: false, upAfter: true, mtu: 1280 });
    expect(r.persistentSurvivesClose).toBe(true);
    expect(r.kernelName).toMatch(/^tun\d+$/);
    // 1000 B of payload makes a 1028 B packet: too big for a 256 B slot, dropped and counted;
    // the 128 B packet behind it is delivered whole.
    expect(r.oversize).toEqual({ lengths: [128], dropped: 1 });
    expect(r.deleted.code).toBe('EBADFD');
    expect(r.deleted.message).toMatch(/TUN device was deleted.*reopen/);
    expect(r.writeAfterDelete.code).toBe('EBADFD');
    expect(r.closedInHandler).toBe(true);
  });
});

describe('native TUN addon: bad arguments throw, never crash', () => {
  const slab = Buffer.alloc(4 * 1500);
  const lengths = new Uint32Array(4);

  it('open', () => {
    const t = native();
    expect(caught(() => t.open(123 as unknown as string, 1400))).toBeInstanceOf(TypeError);
    const long = caught(() => t.open('x'.repeat(16), 1400));
    expect(long).toBeInstanceOf(RangeError);
    expect(long.message).toMatch(/16 bytes; Linux allows at most 15/);
    expect(caught(() => t.open('bgtmtu', 20)).message).toMatch(/mtu must be an integer from 68 to 65535 \(got 20\)/);
    expect(caught(() => t.open('bgtmtu', 1400.5))).toBeInstanceOf(RangeError);
    expect(caught(() => (t.open as unknown as () => void)()).message).toMatch(/both arguments are required/);
  });

  it('readBatch', () => {
    const t = native();
    expect(caught(() => t.readBatch(-1, slab, 1500, lengths)).message).toMatch(/fd must be an integer from 0/);
    expect(caught(() => t.readBatch('3' as unknown as number, slab, 1500, lengths))).toBeInstanceOf(TypeError);
    expect(caught(() => t.readBatch(0, [] as unknown as Buffer, 1500, lengths)).message).toMatch(/slab must be a Buffer or Uint8Array/);
    expect(caught(() => t.readBatch(0, slab, 1500, new Float64Array(4) as unknown as Uint32Array)).message).toMatch(/lengths must be a Uint32Array/);
    expect(caught(() => t.readBatch(0, slab, 0, lengths))).toBeInstanceOf(RangeError);
    expect(caught(() => t.readBatch(0, Buffer.alloc(100), 1500, lengths)).message).toMatch(/no room for a packet/);
    const bad = caught(() => t.readBatch(NOT_OPEN_FD, slab, 1500, lengths));
    expect(bad.code).toBe('EBADF');
    expect(bad.message).toBe(
      `readBatch: read from TUN fd ${NOT_OPEN_FD} failed: Bad file descriptor (EBADF) — the fd is closed or was never opened by open()`,
    );
  });

  it('writeBatch checks every slice before writing anything', () => {
    const t = native();
    const off = Uint32Array.of(0, 5990);
    const len = Uint32Array.of(20, 20);
    // Bounds are checked before the (bad) fd is touched: RangeError, not EBADF.
    expect(caught(() => t.writeBatch(NOT_OPEN_FD, slab, off, len, 2)).message).toMatch(/packet 1 \(offset 5990, length 20\) runs past the end of the slab \(6000 bytes\)/);
    expect(caught(() => t.writeBatch(NOT_OPEN_FD, slab, off, len, 3)).message).toMatch(/count must be an integer from 0 to 2/);
    expect(t.writeBatch(NOT_OPEN_FD, slab, off, len, 0)).toBe(0);
    const bad = caught(() => t.writeBatch(NOT_OPEN_FD, slab, off, len, 1));
    expect(bad.code).toBe('EBADF');
    expect(bad.written).toBe(0);
  });

  it('watch, unwatch and close', () => {
    const t = native();
    expect(caught(() => t.watch(0, 'x' as unknown as () => void))).toBeInstanceOf(TypeError);
    expect(caught(() => t.watch(NOT_OPEN_FD, () => {})).message).toMatch(/watch: cannot poll fd 99999/);
    // A regular file cannot be polled (epoll refuses it).
    const file = join(tmpdir(), `bg-tun-${process.pid}.txt`);
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    try {
      expect(caught(() => t.watch(fd, () => {})).message).toMatch(/cannot be polled; pass a TUN fd/);
    } finally {
      closeSync(fd);
      rmSync(file);
    }
    for (const h of [undefined, {}, { fd: 1 }, 7]) {
      expect(caught(() => t.unwatch(h as unknown as NativeWatch)).message).toBe('unwatch: handle must be the value returned by watch()');
    }
    const closed = caught(() => t.close(NOT_OPEN_FD));
    expect(closed.code).toBe('EBADF');
    expect(closed.message).toMatch(/not open \(closed twice\?\)/);
  });
});

describe('loading the addon', () => {
  it('nativeFastPath reports the addon and its file', () => {
    native();
    const nf = nativeFastPath();
    expect(nf.loaded).toBe(true);
    expect(nf.reason).toBe(`native TUN addon loaded (${join(ROOT, 'native/build/Release/branchgate_native.node')})`);
  });

  it('BRANCHGATE_NO_NATIVE=1 forces the fallback', () => {
    process.env.BRANCHGATE_NO_NATIVE = '1';
    try {
      expect(loadNative()).toEqual({ api: null, reason: 'native TUN addon disabled by BRANCHGATE_NO_NATIVE=1', path: null });
      expect(nativeFastPath().loaded).toBe(false);
      expect(() => TunDevice.open('bgtx', 1400)).toThrow(/cannot open TUN device bgtx: .*BRANCHGATE_NO_NATIVE=1/);
    } finally {
      delete process.env.BRANCHGATE_NO_NATIVE;
    }
  });
});

// ------------------------------------------------------------------------------------------
// TunDevice's drain loop against a scripted fake addon (no kernel involved).

function fakeAddon(batches: (number | Error)[]) {
  const log: string[] = [];
  let onReadable: ((e?: Error) => void) | null = null;
  const api: NativeTun = {
    open: (name) => ({ fd: 42, name }),
    readBatch: (_fd, _slab, _slot, lengths) => {
      const next = batches.shift() ?? 0;
      log.push(`read:${next instanceof Error ? 'error' : next}`);
      if (next instanceof Error) throw next;
      lengths.fill(60, 0, next);
      return next;
    },
    writeBatch: (_fd, _slab, _off, _len, count) => Math.max(0, count - 1),
    watch: (fd, cb) => {
      log.push(`watch:${fd}`);
      onReadable = cb;
      return { fd };
    },
    unwatch: () => void log.push('unwatch'),
    close: (fd) => void log.push(`close:${fd}`),
  };
  return { api, log, fire: (e?: Error) => onReadable?.(e) };
}

describe('TunDevice drain loop', () => {
  it('slot size is the MTU rounded up to 64 bytes', () => {
    expect([68, 1280, 1400, 1500, 9000, 65535].map(slotSizeFor)).toEqual([128, 1280, 1408, 1536, 9024, 65536]);
  });

  it('drains full batches, at most MAX_BATCHES_PER_WAKEUP per wake-up, and stops at a short one', () => {
    const f = fakeAddon([4, 4, 4, 4, 4, 4, 2]);
    const dev = TunDevice.open('t', 1400, { api: f.api, slots: 4 });
    const seen: number[] = [];
    dev.onPackets((_slab, lengths, count, slotSize) => {
      expect(slotSize).toBe(1408);
      expect(lengths[count - 1]).toBe(60);
      seen.push(count);
    });
    f.fire();
    expect(seen).toEqual(Array(MAX_BATCHES_PER_WAKEUP).fill(4));
    f.fire();
    expect(seen.slice(MAX_BATCHES_PER_WAKEUP)).toEqual([4, 4, 2]);
    expect(dev.counters).toMatchObject({ batchesIn: 7, packetsIn: 26 });
    f.fire(); // spurious wake-up: one empty read, no handler call
    expect(f.log.at(-1)).toBe('read:0');
    expect(seen).toHaveLength(7);
  });

  it('a read error stops watching and goes to onError; close unwatches once and closes once', () => {
    const f = fakeAddon([new Error('EBADFD')]);
    const dev = TunDevice.open('t', 1400, { api: f.api });
    const errors: Error[] = [];
    dev.onPackets(() => {}, (e) => errors.push(e));
    f.fire();
    expect(errors.map((e) => e.message)).toEqual(['EBADFD']);
    dev.close();
    dev.close();
    expect(f.log).toEqual(['watch:42', 'read:error', 'unwatch', 'close:42']);
  });

  it('a poll error that reading does not explain is reported too', () => {
    const f = fakeAddon([0]);
    const dev = TunDevice.open('t', 1400, { api: f.api });
    const errors: Error[] = [];
    dev.onPackets(() => {}, (e) => errors.push(e));
    f.fire(new Error('poll failed'));
    expect(errors.map((e) => e.message)).toEqual(['poll failed']);
    expect(f.log).toContain('unwatch');
  });

  it('counts write drops', () => {
    const f = fakeAddon([]);
    const dev = TunDevice.open('t', 1400, { api: f.api });
    expect(dev.writeBatch(Buffer.alloc(100), new Uint32Array(3), Uint32Array.of(20, 20, 20), 3)).toBe(2);
    expect(dev.write(Buffer.alloc(20))).toBe(false);
    expect(dev.counters).toMatchObject({ packetsOut: 2, dropsOut: 2 });
  });
});
