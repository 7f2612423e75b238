/**
 * podman for the container and sidecar tests: the image built from the project's Dockerfile on
 * the local base image (scripts/build-base-image.sh: no registry is needed), and a podman CLI
 * that changes nothing on the host's podman configuration. Every invocation gets
 *   --runtime runc                 (crun fails on cgroup v1 hosts like this one),
 *   CONTAINERS_CONF=<temp file>    with default_ulimits = [] (Debian's default nofile ulimit
 *                                  is refused by runc here), removed at cleanup,
 * and, with `netns`, runs under `nsenter --net=/run/netns/NS`: netavark then creates the pod
 * network's bridge and its firewall rules inside that test namespace, never on the host.
 *
 * Containers and pods are named bgt<pid>…, like the namespaces (netns.ts), so a killed run's
 * leftovers are recognised by their dead owner pid and swept.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, NAME_PREFIX, run, type ExecResult } from './netns.js';
import { REPO_ROOT } from './branchgate.js';

/** The image the tests build from ./Dockerfile (layers cached between runs). */
export const IMAGE = 'localhost/branchgate:test';
/** The base image scripts/build-base-image.sh makes (Debian 12 + this host's Node). */
export const BASE_IMAGE = `localhost/branchgate-base:bookworm-node${process.versions.node.split('.')[0]}`;
/** The image's fixed branchgate uid (Dockerfile ARG BRANCHGATE_UID). */
export const IMAGE_UID = 10001;

let confFile: string | undefined;
function containersConf(): string {
  if (!confFile) {
    const dir = makeTempDir('podconf');
    confFile = join(dir, 'containers.conf');
    writeFileSync(confFile, '[containers]\ndefault_ulimits = []\n');
  }
  return confFile;
}

export function podmanEnv(): NodeJS.ProcessEnv {
  return { ...process.env, CONTAINERS_CONF: containersConf() };
}

/** Throws (the test FAILS, never skips) naming what is missing. */
export function requirePodman(opts: { kube?: boolean } = {}): void {
  const missing: string[] = [];
  const have = (p: string): boolean => ['/usr/bin/', '/usr/sbin/', '/bin/', '/sbin/'].some((d) => existsSync(d + p));
  for (const [tool, pkg] of [['podman', 'podman'], ['runc', 'runc'], ['debootstrap', 'debootstrap'], ['nsenter', 'util-linux']] as const) {
    if (!have(tool)) missing.push(`${tool} (apt-get install -y ${pkg})`);
  }
  if (opts.kube) {
    if (!existsSync('/usr/libexec/podman/catatonit') && !have('catatonit')) missing.push('catatonit, podman\'s pause image (apt-get install -y catatonit)');
    // netavark 1.4 (Debian 12) sets up every network through the iptables binary.
    if (!have('iptables')) missing.push('iptables, which netavark needs for a podman network (apt-get install -y iptables)');
  }
  if (missing.length) throw new Error(`container test prerequisites missing:\n  - ${missing.join('\n  - ')}`);
}

export interface PodmanOptions {
  timeoutMs?: number;
  allowFail?: boolean;
  /** Run podman inside this network namespace (nsenter --net): pod networks are created there. */
  netns?: string;
}

export function podman(args: string[], o: PodmanOptions = {}): Promise<ExecResult> {
  const pre = o.netns ? ['nsenter', `--net=/run/netns/${o.netns}`] : [];
  return run([...pre, 'podman', '--runtime', 'runc', ...args], { env: podmanEnv(), timeoutMs: o.timeoutMs ?? 60_000, allowFail: o.allowFail });
}

/** Lines of podman's stderr that are about the missing systemd (no timers for healthchecks). */
export const withoutSystemdNoise = (s: string): string =>
  s.split('\n').filter((l) => !/unable to get systemd connection|Removing timer for container/.test(l)).join('\n').trim();

export interface BuiltImage {
  image: string;
  base: string;
  sizeBytes: number;
  baseMs: number;
  buildMs: number;
}

/**
 * The base image (built once, then reused) and the project image from ./Dockerfile. `podman
 * build` uses the host network for its RUN steps (apt and npm, as on the host; no netavark) and
 * the docker format, which keeps HEALTHCHECK (the OCI format drops it).
 */
export async function buildImage(): Promise<BuiltImage> {
  // Test files run in parallel: one build at a time (the second finds every layer cached). The
  // lock is the Dockerfile itself, so no lock file is left behind.
  const locked = (argv: string[]): string[] => ['flock', join(REPO_ROOT, 'Dockerfile'), ...argv];
  let t = Date.now();
  const base = await run(locked(['bash', join(REPO_ROOT, 'scripts/build-base-image.sh'), BASE_IMAGE]), { env: podmanEnv(), timeoutMs: 900_000 });
  const baseMs = Date.now() - t;
  if (base.stdout.trim().split('\n').pop() !== BASE_IMAGE) throw new Error(`build-base-image.sh printed no image name:\n${base.stdout}\n${base.stderr}`);
  t = Date.now();
  const b = await run(locked(['podman', '--runtime', 'runc', 'build', '--format', 'docker', '--network', 'host', '--build-arg', `NODE_IMAGE=${BASE_IMAGE}`,
    '-t', IMAGE, REPO_ROOT]), { env: podmanEnv(), timeoutMs: 1_200_000, allowFail: true });
  if (b.code !== 0) throw new Error(`podman build failed (exit ${b.code}):\n${b.stdout.split('\n').slice(-40).join('\n')}\n${b.stderr.split('\n').slice(-20).join('\n')}`);
  const buildMs = Date.now() - t;
  const size = await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]);
  return { image: IMAGE, base: BASE_IMAGE, sizeBytes: Number(size.stdout.trim()), baseMs, buildMs };
}

/** A container or pod name: bgt<pid><tag>. */
export const podName = (tag: string): string => `${NAME_PREFIX}${tag}`;

/** `podman healthcheck run NAME`: its verdict and output (never throws). */
export async function healthcheck(name: string): Promise<{ healthy: boolean; output: string }> {
  const r = await podman(['healthcheck', 'run', name], { allowFail: true, timeoutMs: 30_000 });
  return { healthy: r.code === 0, output: `${r.stdout}${withoutSystemdNoise(r.stderr)}`.trim() };
}

/** The last healthcheck log entry's output (what `podman inspect` shows an operator). */
export async function lastHealthOutput(name: string): Promise<string> {
  const r = await podman(['inspect', '--format', '{{json .State.Health.Log}}', name], { allowFail: true });
  try {
    const log = JSON.parse(r.stdout) as { ExitCode: number; Output: string }[] | null;
    const last = log?.at(-1);
    return last ? `exit ${last.ExitCode}: ${last.Output.trim()}` : '(no healthcheck log)';
  } catch {
    return r.stdout.trim();
  }
}

/**
 * Removes containers and pods named bgt<pid>… whose owner process is gone (a killed earlier
 * run), synchronously; errors are ignored (nothing to sweep, or podman missing).
 */
export function sweepStalePodman(): void {
  const list = (what: string[]): string[] => {
    try {
      return execFileSync('podman', ['--runtime', 'runc', ...what], { env: podmanEnv(), stdio: 'pipe', timeout: 30_000 }).toString().split('\n');
    } catch {
      return [];
    }
  };
  const stale = (name: string): boolean => {
    const m = /^bgt(\d+)/.exec(name.trim());
    return Boolean(m?.[1] && Number(m[1]) !== process.pid && !existsSync(`/proc/${m[1]}`));
  };
  for (const name of list(['pod', 'ps', '--format', '{{.Name}}']).filter(stale)) list(['pod', 'rm', '-f', name.trim()]);
  for (const name of list(['ps', '-a', '--format', '{{.Names}}']).filter(stale)) list(['rm', '-f', name.trim()]);
  for (const name of list(['network', 'ls', '--format', '{{.Name}}']).filter(stale)) list(['network', 'rm', '-f', name.trim()]);
}
