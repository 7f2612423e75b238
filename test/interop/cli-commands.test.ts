/**
 * Every command of docs/contract.md, run as the user runs it (`node bin/branchgate.js …`, a
 * separate process) against a daemon started with `branchgate run` in a network namespace,
 * tunnelled to strongSwan 5.9.8 (kernel-libipsec). Human and JSON output are checked, and
 * `status --json` is validated against schema/status.schema.json, the documented definition of
 * the status document (objects there refuse undocumented fields).
 *
 * `lab up`/`lab down` are driven in lab-cli.test.ts (the lab has fixed namespace names); here
 * `lab status` runs against an empty lab directory.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { BIN, Branchgate, REPO_ROOT, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { ping, requireTrafficTools } from './lab/traffic.js';
import { run, waitFor } from './lab/netns.js';
import { statusSchemaProblems } from '../helpers/status-schema.js';

const IKE = 'aes256gcm16-prfsha384-modp2048s256';
const ESP = 'aes256gcm16';
const PSK = 'cli-commands-psk-7e11b0';
const TUNNEL = 'gsa-primary';
const CONN = 'branch';
const cli = (args: string[], opts: { allowFail?: boolean; timeoutMs?: number } = {}) =>
  run([process.execPath, BIN, ...args], { allowFail: opts.allowFail ?? true, timeoutMs: opts.timeoutMs ?? 20_000 });

describe('every CLI command against a daemon in a namespace', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let dir = '';
  const tunnel: BgTunnelConfig = {
    name: TUNNEL, localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, psk: PSK, ike: [IKE], esp: [ESP],
    initiate: true, dpd: 0, localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix], interface: 'bg0', routes: [ADDR.svcPrefix],
  };

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    dir = mkdtempSync(join(tmpdir(), 'bgcli-'));
    topo = await createTopology({ tag: 'c' });
    gw = await Charon.start(topo.gw, { tag: 'cgw' });
    gw.writeConns([{
      name: CONN, localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan, psk: PSK,
      proposals: [IKE], espProposals: [ESP], localTs: [ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix],
    }]);
    await gw.loadAll();
    // `run` is the command under test here: Branchgate.start spawns `branchgate run --config FILE`.
    bg = await Branchgate.start(topo.cpe, [tunnel], { tag: 'cli', logLevel: 'info' });
    await Promise.all([bg.waitEstablished(TUNNEL), gw.waitEstablished(CONN)]);
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const lab = (): { t: Topology; d: Branchgate; sock: string[] } => {
    if (!topo || !bg) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(60)));
    return { t: topo, d, sock: ['--socket', d.socket] };
  };

  it('version and check-config (no daemon needed)', async () => {
    const v = await cli(['version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^branchgate \d+\.\d+\.\d+\nnative fast path: (loaded|not loaded \(.+\))\n$/);
    const vj = JSON.parse((await cli(['version', '--json'])).stdout) as { version: string; nativeFastPath: boolean };
    expect(vj.version).toBe((JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const good = await cli(['check-config', join(REPO_ROOT, 'config', 'lab-initiator.yaml')]);
    expect(good, good.stderr).toMatchObject({ code: 0 });
    expect(good.stdout).toMatch(/lab-initiator\.yaml: ok \(1 tunnel\)/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'tunnels:\n  - name: x\n    remoteAddress: 198.51.100.300\n    psk: "not-a-real-one"\n');
    const b = await cli(['check-config', bad]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:20: tunnels\\.0\\.remoteAddress: `, 'm'));
    expect(b.stderr).not.toContain('not-a-real-one');
  });

  it('status: the human line, and the JSON document valid against schema/status.schema.json', async () => {
    const { sock } = lab();
    const h = await cli(['status', ...sock]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(new RegExp(`^${TUNNEL}\\s+established\\s+${ADDR.cpeWan}:4500 -> ${ADDR.gwIke}:4500\\s+AES_GCM_16_256/PRF_HMAC_SHA2_384/MODP_2048_256\\s+1 child\\n$`));
    const doc = JSON.parse((await cli(['status', '--json', ...sock])).stdout) as unknown;
    expect(statusSchemaProblems(doc)).toEqual([]);
    expect(doc).not.toHaveProperty('bgp'); // no bgp: section in this config (docs/contract.md: "only when configured")
    const t = (doc as { tunnels: { state: string; routes: string[]; ike: { encr: string } }[] }).tunnels[0]!;
    expect(t).toMatchObject({ state: 'established', routes: [ADDR.svcPrefix], ike: { encr: 'AES_GCM_16_256' } });
  });

  it('list-sas, human and JSON', async () => {
    const { t, sock } = lab();
    expect((await ping(t.branch, ADDR.svc, 3)).received).toBe(3);
    const h = await cli(['list-sas', ...sock]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(new RegExp(`^${TUNNEL}: ESTABLISHED, IKEv2, [0-9a-f]{16}_i\\* [0-9a-f]{16}_r\\n`));
    expect(h.stdout).toMatch(/INSTALLED, TUNNEL, ESP in UDP: AES_GCM_16_256, no ESN/);
    expect(h.stdout).toMatch(/ {4}in {2}[0-9a-f]{8}, \d+ bytes, [3-9]\d* packets/);
    const j = JSON.parse((await cli(['list-sas', '--json', ...sock])).stdout) as { tunnels: { ike: { initiator: boolean }; children: { localTs: string[] }[] }[] };
    expect(j.tunnels[0]!.ike.initiator).toBe(true);
    expect(j.tunnels[0]!.children[0]!.localTs).toEqual([ADDR.lanPrefix]);
  });

  it('monitor streams rekey, down and up events as JSON lines; rekey [--ike] [--wait] says what happened', async () => {
    const { d, sock } = lab();
    const mon = await d.monitor();
    const r1 = await cli(['rekey', TUNNEL, '--wait', ...sock], { timeoutMs: 40_000 });
    expect(r1, r1.stderr).toMatchObject({ code: 0 });
    expect(r1.stdout).toMatch(new RegExp(`^${TUNNEL}: Child SA rekeyed, in [0-9a-f]{8} -> [0-9a-f]{8}`));
    const r2 = await cli(['rekey', TUNNEL, '--ike', '--wait', ...sock], { timeoutMs: 40_000 });
    expect(r2.stdout).toMatch(new RegExp(`^${TUNNEL}: IKE SA rekeyed, [0-9a-f]{16}_i -> [0-9a-f]{16}_i`));
    const dn = await cli(['down', TUNNEL, ...sock]);
    expect(dn).toMatchObject({ code: 0 });
    expect(dn.stdout).toMatch(new RegExp(`^${TUNNEL}: down requested`));
    await waitFor('tunnel down', async () => ((await d.status(TUNNEL))?.state === 'down' ? true : undefined), 10_000);
    const rk = await cli(['rekey', TUNNEL, ...sock]);
    expect(rk.code).toBe(1);
    expect(rk.stderr).toMatch(/is down, so there is no Child SA to rekey — bring it up with `branchgate up gsa-primary`/);
    const up = await cli(['up', TUNNEL, ...sock]);
    expect(up.stdout).toMatch(new RegExp(`^${TUNNEL}: up requested`));
    await d.waitEstablished(TUNNEL);
    await waitFor('monitor saw child-up after up', async () => (mon.events('child-up').length > 0 ? true : undefined), 10_000);
    const types = mon.lines.map((l) => l.event.type);
    for (const t of ['child-rekeyed', 'ike-rekeyed', 'ike-down', 'child-up', 'ike-up']) expect(types, `monitor events: ${types.join(', ')}`).toContain(t);
    for (const l of mon.lines) expect(l.event).toMatchObject({ source: 'ike', tunnel: TUNNEL, time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown });
    mon.stop();
    const unknown = await cli(['up', 'nope', ...sock]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no tunnel named 'nope'; configured: gsa-primary/);
  });

  it('reload: an unchanged file keeps the SAs', async () => {
    const { d, sock } = lab();
    const before = await d.tunnel(TUNNEL);
    const r = await cli(['reload', ...sock]);
    expect(r).toMatchObject({ code: 0, stdout: `${TUNNEL}: unchanged, SAs kept\n` });
    expect((await d.tunnel(TUNNEL))?.ike?.spiI).toBe(before?.ike?.spiI);
  });

  it('lab status on an empty lab directory, and a daemon that is not there', async () => {
    const s = await cli(['lab', 'status', '--dir', join(dir, 'nolab')]);
    expect(s).toMatchObject({ code: 0, stdout: 'the lab is down (`branchgate lab up` builds it)\n' });
    const gone = await cli(['status', '--socket', join(dir, 'none.sock')]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/none\.sock/);
  });
});
