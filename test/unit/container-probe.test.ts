/**
 * deploy/container/branchgate-probe: `status --check`'s plugin exit codes (0 OK, 1 WARNING,
 * 2 CRITICAL, 3 UNKNOWN) mapped to a probe's pass/fail (docs/container.md "Health check"). A stub
 * `node` first in PATH stands in for the CLI and exits with each code in turn; the real CLI and
 * daemon are exercised in test/interop/container.test.ts and sidecar.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const PROBE = resolve(import.meta.dirname, '../../deploy/container/branchgate-probe');
const dir = mkdtempSync(join(tmpdir(), 'bg-probe-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function probe(mode: string, checkExit: number, sock?: string): { code: number; out: string; argv: string } {
  writeFileSync(join(dir, 'node'), `#!/bin/sh\necho "$@" > "${dir}/argv"\necho "BRANCHGATE VERDICT ${checkExit}"\nexit ${checkExit}\n`, { mode: 0o755 });
  const r = spawnSync(PROBE, [mode, ...(sock ? [sock] : [])], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin` } });
  return { code: r.status ?? -1, out: r.stdout, argv: readFileSync(join(dir, 'argv'), 'utf8').trim() };
}

describe('branchgate-probe', () => {
  it('ready passes only when every tunnel is established (0)', () => {
    expect([0, 1, 2, 3].map((c) => probe('ready', c).code === 0)).toEqual([true, false, false, false]);
  });

  it('live fails only when the daemon does not answer (3)', () => {
    expect([0, 1, 2, 3].map((c) => probe('live', c).code === 0)).toEqual([true, true, true, false]);
  });

  it('asks status --check on the default or the given socket and prints its verdict line', () => {
    const d = probe('ready', 0);
    expect(d.argv).toBe('/opt/branchgate/bin/branchgate.js status --check --socket /run/branchgate/control.sock');
    expect(d.out).toBe('BRANCHGATE VERDICT 0\n');
    expect(probe('live', 2, '/tmp/x.sock').argv).toBe('/opt/branchgate/bin/branchgate.js status --check --socket /tmp/x.sock');
  });

  it('refuses an unknown mode', () => {
    expect(probe('healthy', 0).code).not.toBe(0);
  });
});
