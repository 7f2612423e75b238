/**
 * branchgate_config_last_reload_successful and ..._success_timestamp_seconds from a running daemon
 * (fake engine, real control socket and exporter): 1 after start, 0 after a reload of a broken
 * file (the old config keeps running), 1 again with a later timestamp once the file is fixed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { main } from '../../../src/cli.js';
import { startDaemon, type Daemon } from '../../../src/daemon.js';
import { parseExposition } from '../../helpers/exposition.js';
import { CONFIG_YAML, FakeEngine, LineSink, memoryDatapath } from './fake-engine.js';

let dir = '';
let d: Daemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const quiet = { write: () => undefined };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

it('tracks the last config load: start, failed reload, fixed reload', async () => {
  dir = mkdtempSync(join(tmpdir(), 'bg-reload-metric-'));
  const cfg = join(dir, 'bg.yaml');
  const port = await freePort();
  const good = CONFIG_YAML.replace('log:\n  level: info\n', `log:\n  level: info\ncontrol:\n  metrics: 127.0.0.1:${port}\n`);
  writeFileSync(cfg, good);
  const sock = join(dir, 'c.sock');
  const logs = new LineSink();
  d = await startDaemon({ configPath: cfg, socketPath: sock, logStream: logs, ports: { ike: 0, natT: 0 },
    handleSignals: false, engineFactory: (t) => new FakeEngine(t), datapath: memoryDatapath() });
  const url = `http://127.0.0.1:${port}/metrics`;
  const read = async (): Promise<[number, number]> => {
    const s = parseExposition(await (await fetch(url)).text());
    const v = (n: string): number => s.find((x) => x.name === n)!.value;
    return [v('branchgate_config_last_reload_successful'), v('branchgate_config_last_reload_success_timestamp_seconds')];
  };
  const [ok0, at0] = await read();
  expect(ok0).toBe(1);
  expect(Math.abs(at0 - Date.now() / 1000)).toBeLessThan(30);

  writeFileSync(cfg, 'tunnels: [ {name: 1');
  expect(await main(['reload', '--socket', sock], { stdout: quiet, stderr: quiet, env: {} })).toBe(2);
  const [ok1, at1] = await read();
  expect(ok1).toBe(0);
  expect(at1).toBe(at0); // the last success is still the start

  await new Promise((r) => setTimeout(r, 20));
  writeFileSync(cfg, good);
  expect(await main(['reload', '--socket', sock], { stdout: quiet, stderr: quiet, env: {} })).toBe(0);
  const [ok2, at2] = await read();
  expect(ok2).toBe(1);
  expect(at2).toBeGreaterThan(at0);
});
