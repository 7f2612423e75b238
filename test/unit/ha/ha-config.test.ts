/**
 * The ha: section: schema, rules (FILE:LINE:COL messages), the keepalived.conf it becomes (checked
 * by `keepalived -t`, the real parser), the notify FIFO's line grammar and the split-brain probe's
 * codec with hostile input.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig, formatIssue } from '../../../src/config/load.js';
import { checkHaRules } from '../../../src/config/ha-rules.js';
import type { HaConfig } from '../../../src/config/ha-schema.js';
import { effectivePriority, keepalivedPaths, renderKeepalivedConfig } from '../../../src/ha/keepalived-config.js';
import { parseNotifyLine } from '../../../src/ha/notify-fifo.js';
import { decodeProbe, encodeProbe, PROBE_LENGTH } from '../../../src/ha/probe.js';
import { renderBirdConfig } from '../../../src/bgp/bird-config.js';

const dir = mkdtempSync(join(tmpdir(), 'bgt-haconf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const KEEPALIVED = ['/usr/sbin/keepalived', '/usr/bin/keepalived'].find((p) => existsSync(p));

const BASE = `tunnels:
  - name: gsa
    remoteAddress: 198.51.100.2
    localAddress: 192.0.2.2
    psk: unit-test-psk-ha
`;

function load(ha: string) {
  const file = join(dir, 'branchgate.yaml');
  const text = `${BASE}ha:\n${ha}`;
  writeFileSync(file, text);
  return parseConfig(text, file, {});
}

const errors = (ha: string): string[] => {
  const r = load(ha);
  return r.ok ? [] : r.errors.map(formatIssue);
};

describe('ha: config', () => {
  it('a valid section resolves paths and defaults', () => {
    writeFileSync(join(dir, 'vrrp.pass'), 's3cret\n', { mode: 0o600 });
    const r = load('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 51\n  priority: 200\n  peer: 100.64.10.4\n  authPassFile: vrrp.pass\n  probe: { peer: 192.0.2.6 }\n');
    expect(r.ok, r.ok ? '' : r.errors.map(formatIssue).join('\n')).toBe(true);
    if (!r.ok) return;
    expect(r.config.ha).toMatchObject({
      interface: 'lan0', virtualAddresses: ['100.64.10.1/24'], routerId: 51, priority: 200, peer: '100.64.10.4',
      authPassFile: join(dir, 'vrrp.pass'), advertInterval: 1, preempt: true, probe: { peer: '192.0.2.6', port: 5406 },
    });
    expect(r.config.ha!.runtimeDir).toBe('/run/branchgate/ha');
  });

  it('refuses VRIDs, priorities and intervals outside VRRP\'s ranges, with positions', () => {
    const e = errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 256\n  priority: 255\n  advertInterval: 50\n');
    expect(e.join('\n')).toMatch(/branchgate\.yaml:9:\d+: .*routerId/);
    expect(e.join('\n')).toMatch(/:10:\d+: .*priority/);
    expect(e.join('\n')).toMatch(/:11:\d+: .*advertInterval is 0\.01\.\.40\.95/);
    expect(errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 0\n  priority: 0\n').length).toBe(2);
    expect(errors('  interface: lan0\n  virtualAddresses: [not-an-address]\n  routerId: 1\n  priority: 9\n').join('\n')).toMatch(/prefix length/);
  });

  it('unknown keys in ha: and ha.probe are refused with a suggestion', () => {
    const e = errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 1\n  priority: 9\n  prempt: true\n  probe: { peeer: 192.0.2.6 }\n').join('\n');
    expect(e).toMatch(/:11:\d+: .*prempt.*preempt/);
    expect(e).toMatch(/:12:\d+: .*peeer.*peer/);
  });

  it('auth pass: readable, at most 8 characters, and only with whole-second (VRRPv2) intervals', () => {
    writeFileSync(join(dir, 'long.pass'), 'much-too-long-password\n');
    const e1 = errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 1\n  priority: 9\n  authPassFile: long.pass\n').join('\n');
    expect(e1).toMatch(/:11:\d+: .*at most 8/);
    expect(e1).not.toContain('much-too-long');
    expect(errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 1\n  priority: 9\n  authPassFile: missing.pass\n').join('\n')).toMatch(/cannot read .*missing\.pass: ENOENT/);
    writeFileSync(join(dir, 'ok.pass'), 'abc\n');
    expect(errors('  interface: lan0\n  virtualAddresses: [100.64.10.1/24]\n  routerId: 1\n  priority: 9\n  authPassFile: ok.pass\n  advertInterval: 0.2\n').join('\n')).toMatch(/whole seconds/);
  });

  it('peer and virtual addresses against the interface\'s subnets when the interface is known', () => {
    const raw = { ha: { interface: 'lan0', virtualAddresses: ['100.64.10.1/24', '10.9.9.9/24', '100.64.10.3/24'], peer: '100.64.10.1', routerId: 1, priority: 9 } };
    const subnets = () => [{ address: '100.64.10.3', prefix: 24 }];
    const r = checkHaRules(raw, dir, subnets);
    const m = r.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    expect(m).toMatch(/ha\.peer: the peer 100\.64\.10\.1 is virtual address 1/);
    expect(m).toMatch(/ha\.virtualAddresses\.1: 10\.9\.9\.9 is outside every subnet of lan0/);
    expect(m).not.toMatch(/virtualAddresses\.2/); // on the master the address is on the interface
    expect(checkHaRules(raw, dir, () => undefined).issues.map((i) => i.path.join('.'))).toEqual(['ha.peer']);
    const w = checkHaRules({ ha: { ...raw.ha, peer: undefined, probe: { peer: '100.64.10.9' } } }, dir, () => undefined).warnings.map((x) => x.message).join('\n');
    expect(w).toMatch(/on the shared LAN/);
    expect(w).toMatch(/multicast/);
  });
});

const HA: HaConfig = {
  interface: 'lan0', virtualAddresses: ['100.64.10.1/24'], routerId: 51, priority: 200, peer: '100.64.10.4',
  advertInterval: 0.2, preempt: true, runtimeDir: dir, keepalived: KEEPALIVED ?? '/usr/sbin/keepalived',
};

function keepalivedAccepts(text: string): void {
  if (!KEEPALIVED) {
    if (process.env.CI === 'true') throw new Error('keepalived is not installed (apt-get install -y keepalived)');
    return;
  }
  const f = join(dir, `k${Math.random().toString(36).slice(2)}.conf`);
  // keepalived -t wants an existing, non-loopback interface.
  const iface = Object.entries(networkInterfaces()).find(([, a]) => a?.some((x) => !x.internal))?.[0] ?? 'eth0';
  writeFileSync(f, text.replaceAll('lan0', iface));
  let out = '';
  try {
    out = execFileSync(KEEPALIVED, ['-t', '-f', f, '-l', '-G'], { stdio: 'pipe', timeout: 10_000 }).toString();
  } catch (e) {
    const err = e as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`keepalived -t rejected the config: ${err.stderr?.toString()}${err.stdout?.toString()}\n${text}`);
  }
  expect(out).not.toMatch(/unknown keyword|invalid/i);
}

describe('keepalived.conf', () => {
  const paths = keepalivedPaths(dir);

  it('VRRPv3, unicast, tracking weight that drops an unhealthy box to priority 1 (preempt)', () => {
    const t = renderKeepalivedConfig(HA, paths);
    expect(t).toContain('vrrp_version 3');
    expect(t).toContain(`vrrp_notify_fifo ${paths.fifo}`);
    expect(t).toMatch(/unicast_peer \{\n\s+100\.64\.10\.4/);
    expect(t).toContain('weight -199');
    expect(t).toMatch(/track_file bg_resign \{\n\s+file \S+\/resign\n\s+weight 0/);
    expect(t).toMatch(/track_file \{\n\s+bg_health\n\s+bg_resign\n\s+\}/);
    expect(t).toContain('advert_int 0.20');
    expect(t).not.toContain('nopreempt');
    expect(t).not.toContain('authentication');
    expect(effectivePriority(HA, false)).toBe(1);
    keepalivedAccepts(t);
  });

  it('preempt false: nopreempt and FAULT on tracking (weight 0); auth pass makes it VRRPv2', () => {
    const t = renderKeepalivedConfig({ ...HA, preempt: false, advertInterval: 1 }, paths, 'abc123');
    expect(t).toContain('nopreempt');
    expect(t).toContain('weight 0');
    expect(t).not.toContain('bg_resign');
    expect(t).toContain('vrrp_version 2');
    expect(t).toMatch(/auth_type PASS\n\s+auth_pass abc123/);
    keepalivedAccepts(t);
  });

  it('refuses values that would break out of keepalived.conf, without echoing the secret', () => {
    expect(() => renderKeepalivedConfig({ ...HA, interface: 'lan0 }' }, paths)).toThrow(/interface/);
    expect(() => renderKeepalivedConfig(HA, paths, 'a b}')).toThrow(/auth pass/);
    try {
      renderKeepalivedConfig(HA, paths, 'a b}');
    } catch (e) {
      expect((e as Error).message).not.toContain('a b}');
    }
  });
});

describe('notify FIFO lines', () => {
  it('parses instance state lines and ignores everything else', () => {
    expect(parseNotifyLine('INSTANCE "bg_vrid_51" MASTER 200')).toEqual({ instance: 'bg_vrid_51', state: 'MASTER', priority: 200 });
    expect(parseNotifyLine('INSTANCE "bg_vrid_51" FAULT 0\n')).toEqual({ instance: 'bg_vrid_51', state: 'FAULT', priority: 0 });
    expect(parseNotifyLine('INSTANCE "x" DELETED 0')?.state).toBe('STOP');
    for (const bad of ['GROUP "g" MASTER 1', 'INSTANCE "a" MASTER 999', 'INSTANCE "a b" MASTER 1', '', 'INSTANCE "a" BOSS 1', 'x'.repeat(600)]) {
      expect(parseNotifyLine(bad), bad.slice(0, 40)).toBeNull();
    }
  });
});

describe('split-brain probe codec', () => {
  const key = Buffer.from('abc123');
  it('round-trips and rejects tampering, other VRIDs, wrong keys and wrong sizes', () => {
    const b = encodeProbe({ vrid: 51, role: 'master', priority: 200, seq: 7 }, key);
    expect(b.length).toBe(PROBE_LENGTH);
    expect(decodeProbe(b, key, 51)).toEqual({ ok: true, msg: { vrid: 51, role: 'master', priority: 200, seq: 7 } });
    expect(decodeProbe(b, key, 52)).toEqual({ ok: false, drop: 'vrid' });
    expect(decodeProbe(b, Buffer.from('other'), 51)).toEqual({ ok: false, drop: 'mac' });
    const t = Buffer.from(b);
    t[6] = 1; // master → backup without the key
    expect(decodeProbe(t, key, 51)).toEqual({ ok: false, drop: 'mac' });
    expect(decodeProbe(b.subarray(0, 27), key, 51)).toEqual({ ok: false, drop: 'size' });
    const m = Buffer.from(b);
    m[0] = 0;
    expect(decodeProbe(m, key, 51)).toEqual({ ok: false, drop: 'magic' });
    const v = Buffer.from(b);
    v[6] = 9;
    expect(decodeProbe(v, key, 51)).toEqual({ ok: false, drop: 'version' });
    for (let i = 0; i < 2000; i++) {
      const r = Buffer.alloc(PROBE_LENGTH);
      for (let j = 0; j < r.length; j++) r[j] = (Math.random() * 256) | 0;
      expect(decodeProbe(r, key, 51).ok).toBe(false);
    }
  });
});

describe('BGP by role', () => {
  it('a withdrawn (backup) box exports nothing; the master exports the branch prefixes', () => {
    const bgp = { asn: 65010, address: '100.64.0.1', advertise: ['100.64.10.0/24'], neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 'gsa' }] };
    const tunnels = [{ name: 'gsa', interface: 'bg0', remoteAddress: '198.51.100.2' }];
    const on = renderBirdConfig({ bgp, tunnels });
    const off = renderBirdConfig({ bgp, tunnels, advertise: false });
    const exp = (t: string) => t.slice(t.indexOf('filter bg_export'), t.indexOf('}', t.indexOf('filter bg_export')));
    expect(exp(on)).toContain('if proto = "bg_lan" then accept;');
    expect(exp(off)).not.toContain('accept');
    expect(readFileSync).toBeDefined();
  });
});

describe('lab up --ha plan', () => {
  it('the generated box and endpoint configs validate and pair up', async () => {
    const { haLabPlan, haBoxConfig, haEndpointConfig } = await import('../../../src/lab/ha-plan.js');
    const { stringify } = await import('yaml');
    const p = haLabPlan(1);
    const load = (doc: Record<string, unknown>) => {
      const r = parseConfig(stringify(doc), join(dir, 'lab.yaml'), {});
      if (!r.ok) throw new Error(r.errors.map(formatIssue).join('\n'));
      return r.config;
    };
    const [a, b] = p.boxes.map((x) => load(haBoxConfig(p, x, dir, '/usr/sbin/bird')));
    const gw = load(haEndpointConfig(p, dir, '/usr/sbin/bird'));
    expect(a!.ha!.routerId).toBe(b!.ha!.routerId);
    expect(a!.ha!.virtualAddresses).toEqual(b!.ha!.virtualAddresses);
    expect(a!.ha!.priority).not.toBe(b!.ha!.priority);
    expect(a!.ha!.peer).toBe(p.boxes[1].lanAddress);
    expect(gw.bgp!.neighbors.map((n) => n.address)).toEqual([a!.bgp!.address, b!.bgp!.address]);
    expect(new Set(p.namespaces).size).toBe(p.namespaces.length);
  });
});

describe('privileges with ha:', () => {
  it('keeps CAP_NET_RAW for keepalived only when ha: is set, and names it when missing', async () => {
    const { keptCapabilities, missingCapabilities } = await import('../../../src/privileges/daemon-privileges.js');
    const { capMask } = await import('../../../src/privileges/proc-status.js');
    expect(capMask(keptCapabilities({}))).toBe(0x1400n);
    expect(capMask(keptCapabilities({ ha: HA }))).toBe(0x3400n);
    expect(missingCapabilities({ netAdmin: true, ports: [], netRaw: true }, 0x1000n, 1024)).toEqual(['CAP_NET_RAW is not effective: keepalived needs it for VRRP (ha:)']);
  });
});
