/**
 * The edge-site sidecar manifests (deploy/kubernetes/) as `podman kube play` can run them, and
 * the lab's HTTP endpoints the example application talks to. podman 4.3 (Debian 12) reads
 * Kubernetes YAML but not every field; docs/sidecar.md "What the podman test proves" lists what
 * it ignores. Where a field would make podman behave wrongly, `forPodman` rewrites exactly that
 * field and says so, so the test plays the manifest as close to verbatim as podman allows:
 *  - a native sidecar (initContainers[] with restartPolicy: Always) would be run by podman as a
 *    run-to-completion init container, and the pod would never start: it becomes the first of
 *    `containers` (the pre-1.29 form, which is pod.yaml's);
 *  - startupProbe is unknown to podman: dropped (the application's own wait for the tunnel's
 *    route is what orders the start here);
 *  - a device-plugin resource (squat.ai/tun) is ignored by podman, which would leave the pod
 *    without /dev/net/tun: it becomes pod.yaml's hostPath CharDevice volume.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from './branchgate.js';
import { trackProcess, waitFor, exec } from './netns.js';

export const KUBE_DIR = join(REPO_ROOT, 'deploy', 'kubernetes');

export type Doc = Record<string, unknown>;
export interface KContainer {
  name: string;
  image: string;
  restartPolicy?: string;
  startupProbe?: unknown;
  readinessProbe?: { exec?: { command: string[] }; periodSeconds?: number };
  livenessProbe?: { exec?: { command: string[] } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources?: { limits?: Record<string, unknown> };
  volumeMounts?: { name: string; mountPath: string }[];
  securityContext?: Record<string, unknown>;
  env?: { name: string; value: string }[];
}
export interface PodSpec {
  initContainers?: KContainer[];
  containers: KContainer[];
  volumes?: Record<string, unknown>[];
  terminationGracePeriodSeconds?: number;
}

/** Every YAML document of a manifest file, as plain objects (parse errors throw). */
export function readManifest(file: string): Doc[] {
  // YAML 1.1 as Kubernetes reads it (defaultMode: 0440 is octal there).
  const docs = parseAllDocuments(readFileSync(join(KUBE_DIR, file), 'utf8'), { version: '1.1' });
  return docs.map((d) => {
    if (d.errors.length) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Doc;
  });
}

/** The pod spec of a Pod or a Deployment's template. */
export function podSpec(doc: Doc): PodSpec {
  if (doc.kind === 'Pod') return doc.spec as PodSpec;
  if (doc.kind === 'Deployment') return ((doc.spec as Doc).template as Doc).spec as PodSpec;
  throw new Error(`not a Pod or Deployment: ${String(doc.kind)}`);
}

/** The branchgate container, wherever the manifest put it. */
export function sidecarOf(spec: PodSpec): KContainer {
  const c = [...(spec.initContainers ?? []), ...spec.containers].find((x) => x.name === 'branchgate');
  if (!c) throw new Error('no container named branchgate');
  return c;
}

/** Rewrites what podman 4.3 cannot play (see the header); returns the new doc and what changed. */
export function forPodman(doc: Doc): { doc: Doc; changes: string[] } {
  const out = structuredClone(doc);
  const spec = podSpec(out);
  const changes: string[] = [];
  const natives = (spec.initContainers ?? []).filter((c) => c.restartPolicy === 'Always');
  if (natives.length) {
    spec.initContainers = (spec.initContainers ?? []).filter((c) => c.restartPolicy !== 'Always');
    if (spec.initContainers.length === 0) delete spec.initContainers;
    for (const c of natives.reverse()) {
      delete c.restartPolicy;
      spec.containers.unshift(c);
      changes.push(`native sidecar ${c.name}: initContainers (restartPolicy: Always) → containers[0]`);
    }
  }
  for (const c of spec.containers) {
    if (c.startupProbe) {
      delete c.startupProbe;
      changes.push(`${c.name}: startupProbe dropped (podman 4.3 has none)`);
    }
    const limits = c.resources?.limits;
    if (limits && 'squat.ai/tun' in limits) {
      delete limits['squat.ai/tun'];
      c.volumeMounts = [...(c.volumeMounts ?? []), { name: 'tun', mountPath: '/dev/net/tun' }];
      spec.volumes = [...(spec.volumes ?? []), { name: 'tun', hostPath: { path: '/dev/net/tun', type: 'CharDevice' } }];
      changes.push(`${c.name}: device-plugin resource squat.ai/tun → hostPath CharDevice /dev/net/tun`);
    }
  }
  return { doc: out, changes };
}

export const toYaml = (docs: Doc[]): string => docs.map((d) => stringify(d)).join('---\n');

/**
 * A one-line HTTP server in `ns` answering "LABEL CLIENT-ADDRESS" on addr:port: what the
 * example application fetches, and from where the server saw the request come.
 */
export async function httpServer(ns: string, addr: string, port: number, label: string): Promise<void> {
  const code = `require('http').createServer((q, r) => r.end(${JSON.stringify(label)} + ' ' + q.socket.remoteAddress + '\\n'))` +
    `.listen(${port}, ${JSON.stringify(addr)})`;
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', code], { stdio: 'ignore' });
  trackProcess(p);
  await waitFor(`HTTP server ${label} on ${addr}:${port} in ${ns}`, async () => {
    if (p.exitCode !== null) throw new Error(`HTTP server exited ${p.exitCode}`);
    const r = await exec(ns, ['ss', '-Hltn', `src ${addr}:${port}`], { allowFail: true });
    return r.stdout.includes(`${addr}:${port}`) ? true : undefined;
  }, 10_000, 100);
}

/** tcpdump in `ns` on `dev` with `filter`, printing one line per packet; stop() returns them. */
export async function capture(ns: string, dev: string, filter: string): Promise<{ stop(): Promise<string[]> }> {
  const p = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-i', dev, '-n', '-l', '-Q', 'in', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackProcess(p);
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await waitFor(`tcpdump listening on ${dev} in ${ns}`, async () => {
    if (p.exitCode !== null) throw new Error(`tcpdump exited ${p.exitCode}: ${err}`);
    return err.includes('listening on') ? true : undefined;
  }, 10_000, 50);
  return {
    async stop() {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGINT');
      await exited;
      return out.split('\n').filter(Boolean);
    },
  };
}
