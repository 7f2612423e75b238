/**
 * The operator's CLI against a live daemon (`node bin/branchgate.js run`) in a namespace,
 * tunnelled to strongSwan 5.9.8: `status --check` as a monitoring plugin (docs/cli.md) gives
 * 0 with the tunnel established, 2 once it is down, 1 while it negotiates with a peer that does
 * not answer, and 3 when the daemon cannot be reached; `down --wait` and `up --wait` return once
 * the state is reached, and exit 1 when it is not within --timeout.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { BIN, Branchgate, requireBuild } from './lab/branchgate.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { Charon } from './lab/strongswan.js';
import { createTopology, type Topology } from './lab/topology.js';
import { requireTrafficTools } from './lab/traffic.js';
import { run, waitFor } from './lab/netns.js';

const PSK = 'cli-ops-psk-5a7f3e91c2';
const TUNNEL = 'branch';

const cli = (args: string[]) => run([process.execPath, BIN, ...args], { allowFail: true, timeoutMs: 20_000 });

describe('the CLI against a live daemon', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'o' });
    gw = await Charon.start(topo.gw, { tag: 'ogw' });
    gw.writeConns([siteConn(TUNNEL, PSK)]);
    await gw.loadAll();
    bg = await Branchgate.start(topo.cpe, [siteTunnel(TUNNEL, PSK)], { tag: 'ops', logLevel: 'info' });
    await bg.waitEstablished(TUNNEL);
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  const live = (): { d: Branchgate; gw: Charon; sock: string[] } => {
    if (!bg || !gw) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(60)));
    return { d, gw, sock: ['--socket', d.socket] };
  };

  it('status --check and up/down --wait: 0 established, 2 down, 1 negotiating, 3 unreachable', async () => {
    const { d, sock, gw: swan } = live();
    const ok = await cli(['status', '--check', ...sock]);
    expect(ok).toMatchObject({ code: 0, stdout: 'BRANCHGATE OK - 1/1 tunnels established | tunnels_established=1;;;0;1\n' });
    // Without --socket: found through the config file's control.socket ($BRANCHGATE_CONFIG).
    const viaConfig = await run([process.execPath, BIN, 'status', '--check'], { allowFail: true, env: { ...process.env, BRANCHGATE_CONFIG: d.configFile } });
    expect(viaConfig.code).toBe(0);

    const down = await cli(['down', TUNNEL, '--wait', ...sock]);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toMatch(new RegExp(`^${TUNNEL}: down \\(after \\d+\\.\\d s\\)\n$`));
    const crit = await cli(['status', '--check', ...sock]);
    expect(crit).toMatchObject({ code: 2, stdout: `BRANCHGATE CRITICAL - 0/1 tunnels established (${TUNNEL} down) | tunnels_established=0;;;0;1\n` });

    const up = await cli(['up', TUNNEL, '--wait', '--timeout', '20', ...sock]);
    expect(up.code, up.stderr).toBe(0);
    const took = Number(/after (\d+\.\d) s/.exec(up.stdout)?.[1]);
    console.log(`up --wait: established after ${took} s`);
    expect(up.stdout).toMatch(new RegExp(`^${TUNNEL}: established \\(after \\d+\\.\\d s\\)\n$`));
    expect((await cli(['status', '--check', ...sock])).code).toBe(0);

    // A peer that does not answer: `up --wait` gives up with exit 1; the tunnel stays
    // connecting, which the check calls degraded, not yet down.
    expect((await cli(['down', TUNNEL, '--wait', ...sock])).code).toBe(0);
    await swan.kill();
    const t0 = Date.now();
    const stuck = await cli(['up', TUNNEL, '--wait', '--timeout', '2', ...sock]);
    const waited = (Date.now() - t0) / 1000;
    expect(stuck.code).toBe(1);
    expect(stuck.stderr).toMatch(new RegExp(`^branchgate: ${TUNNEL} is connecting, not established, after 2 s — see \`branchgate list-sas\` and the daemon's log \\(is the peer reachable and configured the same\\?\\)\n$`));
    expect(waited).toBeGreaterThanOrEqual(2);
    expect(waited).toBeLessThan(5);
    const moving = await cli(['status', '--check', ...sock]);
    expect(moving).toMatchObject({ code: 1, stdout: `BRANCHGATE WARNING - 0/1 tunnels established (${TUNNEL} connecting) | tunnels_established=0;;;0;1\n` });

    // Taking down a tunnel that is still negotiating needs no peer.
    const stop = await cli(['down', TUNNEL, '--wait', '--timeout', '5', ...sock]);
    expect(stop.code, stop.stderr).toBe(0);

    const gone = await cli(['status', '--check', '--socket', `${d.dir}/no-such.sock`]);
    expect(gone.code).toBe(3);
    expect(gone.stdout).toMatch(/^BRANCHGATE UNKNOWN - cannot reach branchgate at .*no-such\.sock: no such file/);
    const unknownTunnel = await cli(['up', 'nope', '--wait', ...sock]);
    expect(unknownTunnel.code).toBe(2);
  }, 90_000);
});
