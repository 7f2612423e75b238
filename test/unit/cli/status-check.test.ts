/**
 * `status --check`: the plugin verdict from a status document, and the CLI against a daemon
 * (the real control server and status builder, a fake engine whose states the test sets).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { evaluateStatus } from '../../../src/cli/status-check.js';
import type { StatusDocument, TunnelDoc } from '../../../src/control/status.js';
import type { Daemon } from '../../../src/daemon.js';
import { CONFIG_YAML, startFakeDaemon } from '../control/fake-engine.js';

const tunnel = (name: string, state: TunnelDoc['state']): TunnelDoc =>
  ({ name, state, local: null, remote: null, natDetected: false, ike: null, children: [], routes: [] });
const doc = (tunnels: TunnelDoc[], bgp?: [string, string][]): StatusDocument => ({
  version: '0', nativeFastPath: false, tunnels,
  ...(bgp ? { bgp: { neighbors: bgp.map(([address, state]) => ({ address, state, received: 0, advertised: 0 })) } } : {}),
});

describe('evaluateStatus', () => {
  it('OK only when every tunnel and every BGP session is up; a rekey in progress is up', () => {
    expect(evaluateStatus(doc([tunnel('a', 'established'), tunnel('b', 'rekeying')], [['192.0.2.1', 'Established']]))).toEqual({ code: 0,
      line: 'BRANCHGATE OK - 2/2 tunnels established, BGP 1/1 established | tunnels_established=2;;;0;2 bgp_established=1;;;0;1' });
  });
  it('WARNING while a tunnel negotiates or is deleted, nothing down', () => {
    const r = evaluateStatus(doc([tunnel('a', 'established'), tunnel('b', 'connecting')]));
    expect(r).toEqual({ code: 1, line: 'BRANCHGATE WARNING - 1/2 tunnels established (b connecting) | tunnels_established=1;;;0;2' });
    expect(evaluateStatus(doc([tunnel('a', 'deleting')])).code).toBe(1);
  });
  it('CRITICAL when a tunnel is down or a BGP session is not Established', () => {
    expect(evaluateStatus(doc([tunnel('a', 'down'), tunnel('b', 'connecting')])).line)
      .toBe('BRANCHGATE CRITICAL - 0/2 tunnels established (a down, b connecting) | tunnels_established=0;;;0;2');
    const r = evaluateStatus(doc([tunnel('a', 'established')], [['192.0.2.1', 'Established'], ['192.0.2.5', 'Active']]));
    expect(r.code).toBe(2);
    expect(r.line).toContain('BGP 1/2 established (192.0.2.5 Active)');
  });
  it('UNKNOWN with no tunnels to judge', () => {
    expect(evaluateStatus(doc([]))).toEqual({ code: 3, line: 'BRANCHGATE UNKNOWN - no tunnels configured' });
  });
});

class Buf {
  text = '';
  write(s: string): void {
    this.text += s;
  }
}
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const stdout = new Buf();
  const stderr = new Buf();
  const code = await main(args, { stdout, stderr, env: {} });
  return { code, out: stdout.text, err: stderr.text };
}

describe('status --check against a daemon', () => {
  let dir = '';
  let d: Daemon | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'bg-check-'));
  });
  afterEach(async () => {
    await d?.stop();
    d = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('0 established, 1 connecting, 2 down, 3 unreachable; one line on stdout', async () => {
    const cfg = join(dir, 'bg.yaml');
    writeFileSync(cfg, CONFIG_YAML);
    const sock = join(dir, 'c.sock');
    const started = await startFakeDaemon(cfg, sock);
    d = started.d;
    const e = started.engine();
    expect(await cli(['status', '--check', '--socket', sock])).toEqual({ code: 2, err: '',
      out: 'BRANCHGATE CRITICAL - 0/1 tunnels established (t1 down) | tunnels_established=0;;;0;1\n' });
    expect((await cli(['up', 't1', '--socket', sock])).code).toBe(0);
    expect(await cli(['status', '--check', '--socket', sock])).toEqual({ code: 0, err: '',
      out: 'BRANCHGATE OK - 1/1 tunnels established | tunnels_established=1;;;0;1\n' });
    e.states.set('t1', 'connecting');
    expect(await cli(['status', '--check', '--socket', sock])).toMatchObject({ code: 1, out: expect.stringMatching(/^BRANCHGATE WARNING - 0\/1 tunnels established \(t1 connecting\)/) });
    await d.stop();
    d = undefined;
    const gone = await cli(['status', '--check', '--socket', sock]);
    expect(gone.code).toBe(3);
    expect(gone.out).toMatch(/^BRANCHGATE UNKNOWN - cannot reach branchgate at .*c\.sock: .*\n$/);
    expect(gone.out.split('\n').length).toBe(2);
  });

  it('misuse of the plugin is UNKNOWN (3), not a service state', async () => {
    const r = await cli(['status', '--check', '--bogus']);
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/^branchgate: unknown option '--bogus'\nusage: branchgate status /);
  });
});
