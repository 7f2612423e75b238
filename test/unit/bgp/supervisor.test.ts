/**
 * Supervisor behaviour that needs no network namespace: how a BIRD that cannot run is reported,
 * and the config file it writes. Sessions, restarts and failMode run for real in
 * test/interop/bgp-bird.test.ts and bgp-zone.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BgpSupervisor } from '../../../src/bgp/supervisor.js';
import type { BgpConfig } from '../../../src/config/types.js';

const dir = mkdtempSync(join(tmpdir(), 'bgt-sup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bgp = (binary: string, tag: string): BgpConfig => ({
  asn: 65010, address: '100.64.0.1', advertise: ['192.0.2.0/24'],
  neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 't1' }],
  bird: { binary, socket: join(dir, `${tag}.ctl`), config: join(dir, tag, 'bird.conf') },
});
const tunnels = [{ name: 't1', interface: 'bg0', remoteAddress: '198.51.100.10' }];

describe('BgpSupervisor without BIRD', () => {
  it('a missing binary is a clear start() error; the config was written with the neighbor disabled', async () => {
    const sup = new BgpSupervisor({ bgp: bgp(join(dir, 'no-such-bird'), 'a'), tunnels, failMode: 'open', assignAddress: false });
    await expect(sup.start()).rejects.toThrow(/no-such-bird could not be started \(spawn .* ENOENT\): install BIRD 2/);
    const conf = readFileSync(sup.configPath, 'utf8');
    expect(conf).toContain('protocol bgp bgp_100_64_0_2 {');
    expect(conf).toContain('disabled yes;');
    expect(sup.status()).toEqual({ running: false, neighbors: [
      { address: '100.64.0.2', asn: 65476, tunnel: 't1', state: 'Idle', received: 0, advertised: 0, info: 'BIRD is not running' }] });
    await sup.stop();
    expect(sup.status().neighbors).toEqual([expect.objectContaining({ address: '100.64.0.2', state: 'Idle', info: 'BIRD is not running' })]);
  });

  it('a BIRD that exits at once is reported with its stderr, and not restarted', async () => {
    const fake = join(dir, 'fake-bird');
    writeFileSync(fake, '#!/bin/sh\necho "bird: /x.conf:1:1 syntax error" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const sup = new BgpSupervisor({ bgp: bgp(fake, 'b'), tunnels, failMode: 'closed', assignAddress: false, backoff: { initialMs: 10, maxMs: 10, stableMs: 1000 } });
    const events: unknown[] = [];
    sup.onEvent((e) => events.push(e));
    await expect(sup.start()).rejects.toThrow(/fake-bird exited with code 1 before its control socket .* answered: bird: \/x\.conf:1:1 syntax error/);
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toEqual([]);
    await sup.stop();
  });
});
