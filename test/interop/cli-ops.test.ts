/**
 * The operator's CLI against a live daemon (`node bin/branchgate.js run`) in a namespace,
 * tunnelled to strongSwan 5.9.8: `status --check` as a monitoring plugin (docs/cli.md) gives
 * 0 with the tunnel established, 2 once it is down, 1 while it negotiates with a peer that does
 * not answer, and 3 when the daemon cannot be reached.
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

  it('status --check: 0 established, 2 down, 1 negotiating, 3 unreachable', async () => {
    const { sock, gw: swan } = live();
    const ok = await cli(['status', '--check', ...sock]);
    expect(ok).toMatchObject({ code: 0, stdout: 'BRANCHGATE OK - 1/1 tunnels established | tunnels_established=1;;;0;1\n' });

    expect((await cli(['down', TUNNEL, ...sock])).code).toBe(0);
    const down = await waitFor('status --check to say CRITICAL', async () => {
      const r = await cli(['status', '--check', ...sock]);
      return r.code === 2 ? r : undefined;
    }, 10_000);
    expect(down.stdout).toBe(`BRANCHGATE CRITICAL - 0/1 tunnels established (${TUNNEL} down) | tunnels_established=0;;;0;1\n`);

    // A peer that does not answer: the tunnel stays connecting (degraded, not yet down).
    await swan.kill();
    expect((await cli(['up', TUNNEL, ...sock])).code).toBe(0);
    const moving = await cli(['status', '--check', ...sock]);
    expect(moving).toMatchObject({ code: 1, stdout: `BRANCHGATE WARNING - 0/1 tunnels established (${TUNNEL} connecting) | tunnels_established=0;;;0;1\n` });

    const gone = await cli(['status', '--check', '--socket', `${live().d.dir}/no-such.sock`]);
    expect(gone.code).toBe(3);
    expect(gone.stdout).toMatch(/^BRANCHGATE UNKNOWN - cannot reach branchgate at .*no-such\.sock: no such file/);
  }, 60_000);
});
