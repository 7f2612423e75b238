/** The machine a soak ran on, for its report; described when the run starts. */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../lab/branchgate.js';

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  strongswan: string;
  iperf3: string;
  hostname: string;
  /** The commit measured, and whether tracked files differed from it. */
  git: string;
}

function firstLine(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).toString().split('\n')[0]!.trim();
  } catch {
    return '?';
  }
}

export function describeMachine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  const dirty = firstLine(['git', '-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']) !== '';
  return {
    cpu: model, cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version,
    strongswan: firstLine(['dpkg-query', '-W', '-f', '${Version}', 'charon-systemd']),
    iperf3: firstLine(['iperf3', '--version']), hostname: os.hostname(),
    git: `${firstLine(['git', '-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])}${dirty ? ' (with uncommitted changes)' : ''}`,
  };
}
