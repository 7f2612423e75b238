import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue, parseConfig, type ConfigIssue } from '../../../src/config/load.js';

/** A valid two-tunnel config; each test breaks one line of it. */
const BASE = `tunnels:
  - name: one
    localAddress: 192.0.2.10
    remoteAddress: 198.51.100.1
    psk: "base-psk-one-1234"
    ike: [aes256gcm16-prfsha384-ecp384]
    esp: [aes256gcm16]
    dpd: 10s
    routes: [203.0.113.0/24]
  - name: two
    localAddress: 192.0.2.10
    remoteAddress: 198.51.100.2
    psk: "base-psk-two-5678"
`;

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}, file = 'cfg.yaml'): ConfigIssue[] {
  const r = parseConfig(text, file, env);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.errors;
}

/** 1-based line and column of the n-th occurrence of needle. */
function posOf(text: string, needle: string, nth = 0): { line: number; col: number } {
  let at = -1;
  for (let i = 0; i <= nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`${needle} not in text`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length, col: before[before.length - 1]!.length + 1 };
}

describe('error positions and messages', () => {
  it('base config is valid', () => {
    expect(parseConfig(BASE, 'cfg.yaml', {}).ok).toBe(true);
  });

  it('YAML syntax error: the yaml library position, no source excerpt', () => {
    const text = BASE.replace('psk: "base-psk-two-5678"', 'psk: "base-psk-two-5678');
    const [e, ...rest] = errorsOf(text);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ file: 'cfg.yaml', path: '', message: expect.stringMatching(/^YAML: Missing closing "quote/) });
    expect(e!.line).toBeGreaterThanOrEqual(13);
    expect(e!.message).not.toContain('base-psk-two');
  });

  it('YAML anchors: an unresolved alias and an alias bomb are errors at the alias', () => {
    const unresolved = BASE.replace('dpd: 10s', 'dpd: *ten');
    expect(errorsOf(unresolved)).toEqual([expect.objectContaining({
      ...posOf(unresolved, '*ten'), message: expect.stringMatching(/^YAML: Unresolved alias .*: ten$/),
    })]);
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdefg'.split('').map((c, i) =>
      `${c}: &${c} [${Array(10).fill(`*${'abcdefg'[i]}`).join(', ')}]`)].join('\n');
    expect(errorsOf(bomb)[0]!.message).toMatch(/Excessive alias count/);
    // anchors that resolve are fine
    expect(parseConfig(BASE.replace('dpd: 10s', 'ikeLifetime: &d 2h\n    childLifetime: *d'), 'cfg.yaml', {}).ok).toBe(true);
  });

  it('YAML: unquoted %any gets a hint', () => {
    const text = BASE.replace('remoteAddress: 198.51.100.2', 'remoteAddress: %any');
    const [e] = errorsOf(text);
    expect(e).toMatchObject({ ...posOf(text, '%any'), message: expect.stringContaining('quote it: "%any"') });
  });

  it('unknown key (typo "pks:") points at the key and suggests the right one', () => {
    const text = BASE.replace('psk: "base-psk-two-5678"', 'pks: "base-psk-two-5678"');
    const errors = errorsOf(text);
    const unknown = errors.find((e) => e.path === 'tunnels.1.pks')!;
    expect(unknown).toMatchObject({ line: 13, col: 5 });
    expect(formatIssue(unknown)).toMatch(/^cfg\.yaml:13:5: tunnels\.1\.pks: unknown key "pks" \(did you mean "psk"\?\); valid keys here: name, /);
    // …and the tunnel now has no PSK: reported at the tunnel's map (line 10, col 5)
    expect(errors.find((e) => e.path === 'tunnels.1.psk')).toMatchObject({ line: 10, col: 5, message: expect.stringMatching(/set exactly one of psk, pskFile .* or pskEnv/) });
    expect(unknown.message).not.toContain('base-psk');
  });

  it('bad proposal keyword points at that list item', () => {
    const text = BASE.replace('[aes256gcm16-prfsha384-ecp384]', '[aes256gcm16-prfsha384-ecp384, aes256-sha1-modp2048]');
    const [e, ...rest] = errorsOf(text);
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ ...posOf(text, 'aes256-sha1'), path: 'tunnels.0.ike.1' });
    expect(e!.message).toMatch(/unknown algorithm "sha1" in "aes256-sha1-modp2048"; valid in ike: /);
  });

  it('AEAD + integrity mixed', () => {
    const text = BASE.replace('[aes256gcm16-prfsha384-ecp384]', '[aes256gcm16-sha256-prfsha256-ecp256]');
    const [e] = errorsOf(text);
    expect(e).toMatchObject({ line: 6, col: 11, path: 'tunnels.0.ike.0' });
    expect(e!.message).toMatch(/AEAD cipher aes256gcm16 must not be combined with integrity algorithm sha256.*remove sha256/);
  });

  it('missing PSK points at the tunnel', () => {
    const text = BASE.replace('    psk: "base-psk-two-5678"\n', '');
    const [e] = errorsOf(text);
    expect(formatIssue(e!)).toBe(
      'cfg.yaml:10:5: tunnels.1.psk: no pre-shared key: set exactly one of psk, pskFile (a file holding the key) or pskEnv (an environment variable holding it)',
    );
  });

  it('both psk and pskFile: points at the second source', () => {
    const text = BASE.replace('psk: "base-psk-two-5678"', 'psk: "base-psk-two-5678"\n    pskFile: two.psk');
    const [e] = errorsOf(text);
    expect(e).toMatchObject({ ...posOf(text, 'two.psk'), path: 'tunnels.1.pskFile' });
    expect(e!.message).toBe('psk and pskFile are both set: keep exactly one PSK source');
  });

  it('duplicate tunnel name points at the second name', () => {
    const text = BASE.replace('name: two', 'name: one');
    const [e] = errorsOf(text);
    expect(formatIssue(e!)).toBe('cfg.yaml:10:11: tunnels.1.name: duplicate tunnel name "one" (tunnels.0 has it too): names must be unique');
  });

  it('bad CIDR in routes', () => {
    const text = BASE.replace('[203.0.113.0/24]', '[203.0.113.0/24, 203.0.113.7/24]');
    const [e] = errorsOf(text);
    expect(e).toMatchObject({ ...posOf(text, '203.0.113.7'), path: 'tunnels.0.routes.1' });
    expect(e!.message).toContain('has host bits set: did you mean 203.0.113.0/24?');
  });

  it('bad duration', () => {
    const text = BASE.replace('dpd: 10s', 'dpd: 10 minutes');
    const [e] = errorsOf(text);
    expect(formatIssue(e!)).toBe('cfg.yaml:8:10: tunnels.0.dpd: "10 minutes" is not a duration: use seconds (3600) or a number with s, m, h or d (30s, 5m, 8h, 1d)');
  });

  it('reports all errors at once, sorted by position', () => {
    const text = BASE
      .replace('dpd: 10s', 'dpd: soon')
      .replace('name: two', 'name: one')
      .replace('psk: "base-psk-one-1234"', 'pks: "base-psk-one-1234"')
      .replace('[203.0.113.0/24]', '[203.0.113.0/33]');
    const errors = errorsOf(text);
    expect(errors.map((e) => e.path)).toEqual([
      'tunnels.0.psk', 'tunnels.0.pks', 'tunnels.0.dpd', 'tunnels.0.routes.0', 'tunnels.1.name',
    ]);
    const lines = errors.map((e) => e.line);
    expect([...lines].sort((a, b) => a - b)).toEqual(lines);
  });
});

describe('rules across keys', () => {
  const one = (extra: string, env: NodeJS.ProcessEnv = {}) => errorsOf(`tunnels:
  - name: t
    psk: "rules-psk-0000"
${extra}`, env);

  it.each([
    ['    remoteAddress: 198.51.100.1\n', 'tunnels.0.localId', /set localId, or localAddress/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: "%any"\n', 'tunnels.0.remoteAddress', /cannot initiate to "%any"/],
    ['    remoteAddress: 198.51.100.1\n    initiate: false\n', 'tunnels.0.localAddress', /responder \(initiate: false\) needs localAddress/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    profile: gsa-default\n    ike: [aes256-sha256-ecp256]\n', 'tunnels.0.ike', /not both/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    esp: [aes256gcm16]\n', 'tunnels.0.ike', /esp is set but ike is not/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    mtu: 1280\n    mssClamp: 1340\n', 'tunnels.0.mssClamp', /at most mtu - 40 \(1240\)/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    mtu: 100\n', 'tunnels.0.mtu', /at least 576/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    interface: a-very-long-interface\n', 'tunnels.0.interface', /1-15/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    interface: ".."\n', 'tunnels.0.interface', /1-15/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    ikeLifetime: 30s\n', 'tunnels.0.ikeLifetime', /at least 60 seconds/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    pfs: modp1024\n', 'tunnels.0.pfs', /use one of: none, same, modp2048/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    pfs: constructor\n', 'tunnels.0.pfs', /"constructor" is not a PFS setting/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    natT: always\n', 'tunnels.0.natT', /must be one of: auto, force/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    initiate: yes\n', 'tunnels.0.initiate', /expected true or false, got a string/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    localId: "%any"\n', 'tunnels.0.localId', /only valid for remoteId/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    localTs: []\n', 'tunnels.0.localTs', /at least 1/],
    ['    localAddress: 192.0.2.1\n    remoteAddress: 198.51.100.1\n    profile: gsa-fancy\n', 'tunnels.0.profile', /must be one of: gsa-default, gsa-custom/],
    ['    localAddress: 192.0.2.1\n', 'tunnels.0.remoteAddress', /required: set the peer's IPv4 address/],
    ['    localAddress: 192.0.2.300\n    remoteAddress: 198.51.100.1\n', 'tunnels.0.localAddress', /"192.0.2.300" is not an IPv4 address/],
  ])('%#: %s', (extra, path, message) => {
    const errors = one(extra);
    expect(errors.find((e) => e.path === path)?.message).toMatch(message);
  });

  it('interface names are unique, defaults included', () => {
    const errors = errorsOf(`tunnels:
  - name: a
    localAddress: 192.0.2.1
    remoteAddress: 198.51.100.1
    psk: "rules-psk-0000"
    interface: bg1
  - name: b
    localAddress: 192.0.2.1
    remoteAddress: 198.51.100.2
    psk: "rules-psk-0000"
`);
    expect(errors).toEqual([expect.objectContaining({
      path: 'tunnels.1.interface', line: 7, col: 5,
      message: "interface bg1 (this tunnel's default) is already used by tunnels.0: set a distinct interface:",
    })]);
  });

  it('BGP neighbors must name a tunnel; unknown keys anywhere are caught', () => {
    const text = `tunnels:
  - name: a
    localAddress: 192.0.2.1
    remoteAddress: 198.51.100.1
    psk: "rules-psk-0000"
bgp:
  asn: 65010
  address: 10.1.0.1
  neighbors:
    - address: 192.168.1.2
      asn: 65476
      tunnel: b
routing:
  failmode: open
`;
    const errors = errorsOf(text);
    expect(errors.map(formatIssue)).toEqual([
      'cfg.yaml:12:15: bgp.neighbors.0.tunnel: no tunnel named "b"; known tunnels: a',
      'cfg.yaml:14:3: routing.failmode: unknown key "failmode" (did you mean "failMode"?); valid keys here: failMode, pinUnderlay, defaultRoute',
    ]);
  });

  it('top-level sections: types, enums, metrics address', () => {
    const base = 'tunnels: []\n';
    const msg = (extra: string) => errorsOf(base + extra).map(formatIssue);
    expect(msg('log:\n  level: verbose\n')).toEqual(['cfg.yaml:3:10: log.level: must be one of: trace, debug, info, warn, error']);
    expect(msg('control:\n  socket: ""\n')).toEqual(['cfg.yaml:3:11: control.socket: must not be empty']);
    expect(msg('control:\n  metrics: 9477\n')).toEqual([
      'cfg.yaml:3:12: control.metrics: metrics is "host:port" with a port 1..65535, e.g. 127.0.0.1:9477',
    ]);
    expect(msg('control:\n  metrics: 127.0.0.1:70000\n')).toHaveLength(1);
    expect(msg('routing:\n  pinUnderlay: "yes"\n')).toEqual(['cfg.yaml:3:16: routing.pinUnderlay: expected true or false, got a string']);
    expect(msg('bgp:\n  asn: 65010\n  address: 10.1.0.1\n')).toEqual([
      'cfg.yaml:3:3: bgp.neighbors: required: list the BGP neighbors (address, asn, tunnel)',
    ]);
    const ok = parseConfig(`${base}control:\n  metrics: "[::1]:9477"\n`, 'cfg.yaml', {});
    expect(ok.ok && ok.config.control.metrics).toBe('[::1]:9477');
    expect(ok.ok && ok.warnings.map((w) => w.message)).toEqual(['no tunnels configured: the daemon will start but do nothing']);
  });

  it('an empty file and a non-mapping file are explained', () => {
    expect(errorsOf('').map(formatIssue)).toEqual(['cfg.yaml:1:1: the file is empty; a config needs at least a tunnels: list']);
    expect(errorsOf('- a\n- b\n')[0]!.message).toMatch(/expected a mapping/);
    expect(errorsOf('log: {}\n').map(formatIssue)).toEqual([
      'cfg.yaml:1:1: tunnels: required: add a tunnels: list with at least one tunnel',
    ]);
  });
});

describe('PSK sources', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bg-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tunnel = (src: string) => `tunnels:
  - name: t
    localAddress: 192.0.2.1
    remoteAddress: 198.51.100.1
    ${src}
`;

  it('pskFile is read relative to the config file, trailing newline dropped', () => {
    writeFileSync(join(dir, 'key.psk'), 'file-psk-value-2b8e77c1\n', { mode: 0o600 });
    const r = parseConfig(tunnel('pskFile: key.psk'), join(dir, 'branchgate.yaml'), {});
    expect(r.ok && new TextDecoder().decode(r.config.tunnels[0]!.psk.reveal())).toBe('file-psk-value-2b8e77c1');
    expect(r.ok && r.warnings).toEqual([]);
  });

  it('warns about a group/world-readable pskFile', () => {
    writeFileSync(join(dir, 'open.psk'), 'open-psk-value-71c0d9e4', { mode: 0o644 });
    const r = parseConfig(tunnel('pskFile: open.psk'), join(dir, 'branchgate.yaml'), {});
    expect(r.ok && r.warnings.map((w) => w.path)).toEqual(['tunnels.0.pskFile']);
    expect(r.ok && r.warnings[0]!.message).toMatch(/readable by group or others \(mode 0644\); chmod 600 it/);
  });

  it.each([
    ['pskFile: missing.psk', {}, /cannot read .*missing\.psk: no such file/],
    ['pskFile: empty.psk', {}, /empty\.psk is empty/],
    ['pskFile: .', {}, /is not a regular file/],
    ['pskEnv: BG_PSK', {}, /environment variable BG_PSK is not set/],
    ['pskEnv: BG_PSK', { BG_PSK: '' }, /environment variable BG_PSK is empty/],
    ['pskEnv: "not a name"', {}, /name of an environment variable/],
    ['psk: ""', {}, /pre-shared key is empty/],
    ['psk: ~', {}, /has no value/],
    ['psk: 12345678', {}, /expected text; quote the key/],
  ])('%s → error at that key', (src, env, message) => {
    writeFileSync(join(dir, 'empty.psk'), '\n');
    const text = tunnel(src);
    const errors = errorsOf(text, env, join(dir, 'branchgate.yaml'));
    expect(errors).toHaveLength(1);
    // at the value, which is what is wrong (the key is fine)
    const key = posOf(text, src);
    expect(errors[0]).toMatchObject({ line: key.line, col: key.col + src.indexOf(':') + 2, path: `tunnels.0.${src.split(':')[0]}`, message: expect.stringMatching(message) });
    expect(errors[0]!.message).not.toContain('12345678');
  });
});
