/**
 * The edge-site sidecar manifests (deploy/kubernetes/, docs/sidecar.md) run for real with
 * `podman kube play`: config.yaml (ConfigMap + Secret) with deployment.yaml, then with pod.yaml,
 * the image built from ./Dockerfile, the pod on a podman network this test creates
 * (100.64.50.0/24), against strongSwan with GSA's default proposals:
 *
 *   pod [branchgate: TUN bg0 | app: no capabilities] ─ bridge in cpe (NAT) ══ gw (strongSwan,
 *        100.64.50.0/24                                                       203.0.113.10 direct)
 *                                                                            ─ svc 100.64.20.2
 *
 * podman runs inside the cpe namespace (nsenter --net), so netavark's bridge and firewall rules
 * live there and the cpe namespace routes the pod to gw. What each play checks: the application
 * reaches the service host through the tunnel (svc sees the pod's own address: no NAT, so not
 * the underlay) and 203.0.113.10 directly (seen from the NAT's address); it holds no capability
 * (CapEff 0 read inside it) and its first request waited for the tunnel; the sidecar holds
 * exactly NET_ADMIN + NET_BIND_SERVICE with no_new_privs and a read-only root; the readiness
 * probe as written in the manifest passes, then fails within the DPD bound when the endpoint is
 * killed and passes again when it is back (Deployment); Prometheus' scrape port answers;
 * `podman kube down` sends the IKE Delete (strongSwan logs it, lists no SA) and leaves no pod,
 * container, netns or emptyDir volume. podman 4.3 itself keeps the ConfigMap/Secret volumes and
 * the Secret after `kube down`; they are named, checked and removed here (docs/sidecar.md).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GSA_DEFAULT_ESP, GSA_DEFAULT_IKE } from '../../src/lab/strongswan.js';
import { Charon } from './lab/strongswan.js';
import { exec, makeTempDir, removeTempDir, trackProcess, waitFor } from './lab/netns.js';
import { ADDR, createTopology, type Topology } from './lab/topology.js';
import { siteConn } from './lab/site.js';
import { requireTrafficTools } from './lab/traffic.js';
import { BASE_IMAGE, buildImage, IMAGE, podman, podmanEnv, podName, requirePodman, sweepStalePodman, withoutSystemdNoise } from './lab/podman.js';
import { capture, forPodman, httpServer, podSpec, readManifest, sidecarOf, toYaml, type Doc } from './lab/podman-kube.js';

const SUBNET = '100.64.50.0/24';
const CONN = 'edge';
const DIRECT_PORT = 8080;

const config = readManifest('config.yaml');
const cm = config.find((d) => d.kind === 'ConfigMap')!;
const secret = config.find((d) => d.kind === 'Secret')!;
const cmName = (cm.metadata as { name: string }).name;
const secretName = (secret.metadata as { name: string }).name;
const bgConfig = (cm.data as Record<string, string>)['config.yaml']!;
const dpdS = Number(/dpd: (\d+)s/.exec(bgConfig)?.[1]);
const localId = /localId: fqdn:(\S+)/.exec(bgConfig)?.[1];

describe('edge-site sidecar manifests played by podman kube play', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let dir: string | undefined;
  const net = podName('scnet');
  const tags: string[] = [];
  let leak: Awaited<ReturnType<typeof capture>> | undefined;

  const pm = (args: string[], timeoutMs = 120_000) => podman(args, { netns: topo?.cpe, timeoutMs, allowFail: true });

  beforeAll(async () => {
    requireTrafficTools();
    requirePodman({ kube: true });
    sweepStalePodman();
    const built = await buildImage();
    console.log(`image ${built.image}: ${(built.sizeBytes / 1e6).toFixed(1)} MB (base ${built.base} ready in ${(built.baseMs / 1000).toFixed(1)} s, ` +
      `podman build ${(built.buildMs / 1000).toFixed(1)} s)`);
    // The manifests name a registry image and the official Node image; no registry is reachable
    // here, so the images built above stand in under those names (imagePullPolicy: IfNotPresent).
    const app = readManifest('pod.yaml').map(podSpec)[0]!.containers.find((c) => c.name === 'app')!.image;
    const side = sidecarOf(podSpec(readManifest('pod.yaml')[0]!)).image;
    // A real node:20-bookworm-slim already on this host serves as well and is left alone;
    // registry.example.com (a documentation domain) always gets the image just built.
    for (const [src, dst] of [[IMAGE, side], [BASE_IMAGE, app]] as const) {
      if (dst === app && (await podman(['image', 'exists', dst], { allowFail: true })).code === 0) continue;
      await podman(['tag', src, dst]);
      tags.push(dst);
    }
    topo = await createTopology({ tag: 'sc' });
    gw = await Charon.start(topo.gw, { tag: 'scgw' });
    await httpServer(topo.svc, ADDR.svc, 8080, 'svc');
    await httpServer(topo.gw, ADDR.internet, DIRECT_PORT, 'direct');
    const r = await pm(['network', 'create', '--subnet', SUBNET, '--disable-dns', net]);
    if (r.code !== 0) throw new Error(`podman network create: ${r.stderr}`);
    dir = makeTempDir('sckube');
  }, 1_200_000);

  afterAll(async () => {
    for (const f of ['deployment.yaml', 'pod.yaml']) if (dir) await pm(['kube', 'down', join(dir, f)]);
    await pm(['network', 'rm', '-f', net]);
    await pm(['volume', 'rm', '-f', cmName, secretName]);
    await pm(['secret', 'rm', secretName]);
    for (const t of tags) await podman(['untag', t, t], { allowFail: true });
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
    if (dir) removeTempDir(dir);
  });

  /** Plays config.yaml + FILE (rewritten for podman where it must be), returns the pod's name. */
  async function play(file: string): Promise<{ podman: string; yaml: string; spec: ReturnType<typeof podSpec>; original: ReturnType<typeof podSpec>; metricsPort: string }> {
    const docs = readManifest(file);
    const main = docs.find((d) => d.kind === 'Pod' || d.kind === 'Deployment')!;
    const { doc, changes } = forPodman(main);
    console.log(`${file}: ${changes.length ? `rewritten for podman 4.3: ${changes.join('; ')}` : 'played as written'}`);
    const yamlFile = join(dir!, file);
    writeFileSync(yamlFile, toYaml([...config, ...docs.filter((d) => d !== main), doc]));
    // The wire check for the start order: the service host's traffic in the clear on the
    // endpoint's underlay side would be the application sending before (or around) the tunnel.
    leak = await capture(topo!.gw, 'wan0', `host ${ADDR.svc}`);
    gw!.writeConns([]); // no connection for the pod until configureGw(): checkNotReadyYet
    await gw!.loadAll();
    const r = await pm(['kube', 'play', '--network', net, yamlFile], 180_000);
    if (r.code !== 0) throw new Error(`podman kube play ${file} failed:\n${r.stdout}\n${withoutSystemdNoise(r.stderr)}`);
    const name = (main.metadata as { name: string }).name;
    const meta = (main.kind === 'Deployment' ? ((main.spec as Doc).template as Doc).metadata : main.metadata) as { annotations?: Record<string, string> };
    expect(meta.annotations?.['prometheus.io/scrape']).toBe('true');
    const metricsPort = meta.annotations?.['prometheus.io/port'] ?? '';
    expect(bgConfig).toContain(`metrics: 0.0.0.0:${metricsPort}`);
    return { podman: main.kind === 'Deployment' ? `${name}-pod-0` : name, yaml: yamlFile, spec: podSpec(doc), original: podSpec(main), metricsPort };
  }

  /** strongSwan answers the pod with the key the pod's pskFile really holds (see below). */
  async function configureGw(): Promise<void> {
    // podman 4.3 writes a Secret's `data` values into the volume still base64-encoded (Kubernetes
    // decodes them): the key is whatever the pod's file holds, read from the podman volume.
    const mp = (await pm(['volume', 'inspect', '--format', '{{.Mountpoint}}', secretName])).stdout.trim();
    const psk = readFileSync(join(mp, 'psk'), 'utf8').replace(/\n+$/, '');
    const data = (secret.data as Record<string, string>).psk!;
    console.log(`the pod's pskFile holds ${psk === Buffer.from(data, 'base64').toString() ? "the Secret's decoded value" : psk === data ? "the Secret's base64 text (podman 4.3)" : 'something else'}`);
    gw!.writeConns([siteConn(CONN, psk, {
      // GSA-like: its own selector 0.0.0.0/0; the branch side narrowed to the pod network
      // (remote_ts 0.0.0.0/0 would make kernel-libipsec route all of gw into the tunnel).
      remoteAddrs: ADDR.cpeWan, remoteId: `fqdn:${localId}`, localTs: ['0.0.0.0/0'], remoteTs: [SUBNET],
      proposals: [...GSA_DEFAULT_IKE], espProposals: [...GSA_DEFAULT_ESP],
    })]);
    await gw!.loadAll();
  }

  const execIn = (ctr: string, argv: string[]) => pm(['exec', ctr, ...argv], 30_000);
  const appLines = async (ctr: string): Promise<string[]> => (await pm(['logs', ctr])).stdout.trim().split('\n').filter(Boolean);

  /** The manifest's own readiness command, run in the sidecar as the kubelet would. */
  const probe = async (ctr: string, spec: ReturnType<typeof podSpec>): Promise<{ ok: boolean; out: string }> => {
    const cmd = sidecarOf(spec).readinessProbe?.exec?.command;
    if (!cmd) throw new Error('the sidecar has no exec readinessProbe');
    const r = await execIn(ctr, cmd);
    return { ok: r.code === 0, out: `${r.stdout}${withoutSystemdNoise(r.stderr)}`.trim() };
  };

  /**
   * Before strongSwan has a connection for the pod, the tunnel cannot come up: the manifest's
   * startup (if any) and readiness commands must fail, with the daemon answering (a verdict
   * line, not a failed exec), and the application must not have sent a request yet.
   */
  async function checkNotReadyYet(pod: string, original: ReturnType<typeof podSpec>): Promise<void> {
    const side = `${pod}-branchgate`;
    const startup = (sidecarOf(original).startupProbe as { exec?: { command: string[] } } | undefined)?.exec?.command;
    const cmds = [...(startup ? [['startupProbe', startup] as const] : []), ['readinessProbe', sidecarOf(original).readinessProbe!.exec!.command] as const];
    for (const [what, cmd] of cmds) {
      const r = await waitFor(`${what} answered by the daemon`, async () => {
        const x = await execIn(side, [...cmd]);
        return /^BRANCHGATE (WARNING|CRITICAL)/m.test(x.stdout) ? x : undefined;
      }, 20_000, 300);
      console.log(`${what} before the endpoint knows the pod: exit ${r.code}: ${r.stdout.trim()}`);
      expect(r.code).not.toBe(0);
    }
    expect((await appLines(`${pod}-app`)).filter((l) => l.startsWith('{'))).toEqual([]);
  }

  async function checkPod(pod: string, spec: ReturnType<typeof podSpec>, metricsPort: string): Promise<void> {
    const side = `${pod}-branchgate`;
    const app = `${pod}-app`;
    await gw!.waitEstablished(CONN, 40_000);
    await waitFor('readiness probe passing', async () => ((await probe(side, spec)).ok ? true : undefined), 20_000, 500);
    console.log(`readiness with the tunnel up: ${(await probe(side, spec)).out}`);

    // The application: a reply through the tunnel (svc sees the pod's address) and one direct.
    const line = await waitFor('the application reaching both servers', async () => {
      const l = (await appLines(app)).map((x) => (x.startsWith('{') ? JSON.parse(x) as { tunnel: string; direct: string } : undefined));
      return l.find((x) => x && /^svc 100\.64\.50\.\d+$/.test(x.tunnel) && x.direct.startsWith('direct '));
    }, 30_000, 500);
    const lines = await appLines(app);
    console.log(`application log (first lines):\n${lines.slice(0, 3).join('\n')}`);
    expect(line.direct).toBe(`direct ${ADDR.cpeWan}`); // NATed by the pod network's host, not tunnelled
    // Start order: the application waited for the tunnel's route, and its first request
    // already went through the tunnel.
    expect(lines[0]).toMatch(/^tunnel route present after \d+ ms$/);
    expect((JSON.parse(lines[1]!) as { tunnel: string }).tunnel).toMatch(/^svc 100\.64\.50\.\d+$/);
    const podIp = line.tunnel.split(' ')[1]!;
    const clear = await leak!.stop();
    console.log(`packets to or from ${ADDR.svc} in the clear on gw's underlay since kube play: ${clear.length}`);
    expect(clear).toEqual([]);
    const child = (await gw!.listSas()).flatMap((s) => s.children)[0];
    expect(child?.packetsIn ?? 0).toBeGreaterThan(0);

    const appCaps = (await execIn(app, ['grep', '-E', '^(CapEff|CapPrm|NoNewPrivs)', '/proc/self/status'])).stdout;
    const sideCaps = (await execIn(side, ['grep', '-E', '^(Uid|CapEff|CapBnd|NoNewPrivs)', '/proc/1/status'])).stdout;
    console.log(`app: ${appCaps.trim().replace(/\n/g, ', ')}\nsidecar daemon: ${sideCaps.trim().replace(/\n/g, ', ')}`);
    expect(appCaps).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(appCaps).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(sideCaps).toMatch(/^CapEff:\s+0000000000001400$/m);
    expect(sideCaps).toMatch(/^CapBnd:\s+0000000000001400$/m);
    expect(sideCaps).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(sideCaps).toMatch(/^Uid:\s+10001\s/m);
    for (const c of [side, app]) expect((await pm(['inspect', '--format', '{{.HostConfig.ReadonlyRootfs}}', c])).stdout.trim(), c).toBe('true');

    // Prometheus: the annotated port on the pod's address answers with branchgate's series.
    const m = await exec(topo!.cpe, [process.execPath, '-e', `fetch('http://${podIp}:${metricsPort}/metrics').then((r) => r.text()).then((t) => console.log(t))`], { timeoutMs: 10_000 });
    expect(m.stdout).toMatch(/^branchgate_tunnel_state\{tunnel="edge",state="established"\} 1$/m);
    console.log(`Prometheus scrape of ${podIp}:${metricsPort}/metrics: ${m.stdout.split('\n').filter((l) => l.startsWith('branchgate_')).length} series lines`);
  }

  /**
   * The pod goes away as the kubelet takes it down, then `podman kube down` removes it. podman
   * before 5.1 stops a pod in `kube down` with no grace period at all (SIGKILL right after
   * SIGTERM: no process can say goodbye), so the test first does what the kubelet does and
   * podman 4.3 does not: either the manifest's own preStop command (kubelet runs it before
   * SIGTERM), or SIGTERM with the manifest's terminationGracePeriodSeconds (`podman pod stop -t`).
   */
  async function downAndCheck(p: { podman: string; yaml: string; spec: ReturnType<typeof podSpec> }, how: 'preStop' | 'SIGTERM'): Promise<void> {
    const netnsBefore = readdirSync('/run/netns');
    const volsBefore = (await pm(['volume', 'ls', '--format', '{{.Name}}'])).stdout.trim().split('\n');
    const mark = gw!.logMark();
    const side = `${p.podman}-branchgate`;
    // The sidecar's last log lines, followed while it stops (podman removes them with the pod).
    const follow = spawn('nsenter', [`--net=/run/netns/${topo!.cpe}`, 'podman', '--runtime', 'runc', 'logs', '-f', '--since', '1s', side],
      { env: podmanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    trackProcess(follow);
    let shutdownLog = '';
    follow.stdout.on('data', (d: Buffer) => (shutdownLog += d.toString()));
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    if (how === 'preStop') {
      const cmd = sidecarOf(p.spec).lifecycle?.preStop?.exec?.command;
      if (!cmd) throw new Error('the sidecar has no exec preStop');
      const r = await execIn(side, cmd);
      expect(r.code, r.stderr).toBe(0);
      await waitFor('strongSwan without SAs after the preStop', async () => ((await gw!.listSas()).length === 0 ? true : undefined), 5000, 100);
    } else {
      const grace = p.spec.terminationGracePeriodSeconds ?? 30;
      const r = await pm(['pod', 'stop', '-t', String(grace), p.podman], (grace + 10) * 1000);
      expect(r.code, r.stderr).toBe(0);
    }
    const goneS = (Date.now() - t0) / 1000;
    // Every container left on its own, well within the grace period (none was SIGKILLed).
    expect(goneS).toBeLessThan(5);
    const r = await pm(['kube', 'down', p.yaml], 60_000);
    expect(r.code, r.stderr).toBe(0);
    follow.kill();
    const lines = shutdownLog.trim().split('\n').filter((l) => /shutting down|deleting|DELETE|stopped|down/i.test(l));
    console.log(`${how}: the sidecar's log while the pod went down:\n${lines.map((l) => l.slice(0, 160)).join('\n')}`);
    const sas = await gw!.listSas();
    expect(sas).toEqual([]);
    expect(gw!.logSince(mark, 300)).toMatch(/received DELETE for IKE_SA/);
    console.log(`${how} then kube down: strongSwan logged the IKE Delete (${goneS.toFixed(1)} s) and lists ${sas.length} SAs`);
    // Nothing of the pod is left: no pod, container, pod netns, anonymous (emptyDir) volume.
    expect((await pm(['pod', 'ps', '-q', '--filter', `name=${p.podman}`])).stdout.trim()).toBe('');
    expect((await pm(['ps', '-a', '-q', '--filter', `pod=${p.podman}`])).stdout.trim()).toBe('');
    expect((await pm(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter((n) => n.startsWith(p.podman))).toEqual([]);
    const gone = netnsBefore.filter((n) => n.startsWith('netns-') && !readdirSync('/run/netns').includes(n));
    expect(readdirSync('/run/netns').filter((n) => n.startsWith('netns-') && !netnsBefore.includes(n))).toEqual([]);
    console.log(`kube down removed the pod's netns ${gone.join(', ') || '(none seen)'}`);
    const vols = (await pm(['volume', 'ls', '--format', '{{.Name}}'])).stdout.trim().split('\n').filter(Boolean);
    // podman 4.3 keeps the volumes it made from the ConfigMap and the Secret (Kubernetes would
    // not; afterAll removes them): those two, and no other volume (the emptyDir's is gone).
    expect(vols).toEqual(expect.arrayContaining([cmName, secretName]));
    expect(vols.filter((v) => v !== cmName && v !== secretName && !volsBefore.includes(v))).toEqual([]);
    expect(vols.length).toBeLessThan(volsBefore.length);
  }

  it('the ConfigMap passes check-config in the image, mounted as the manifests mount it (docs/sidecar.md "Validate")', async () => {
    const cfgDir = join(dir!, 'cfg');
    const pskDir = join(dir!, 'psk');
    mkdirSync(cfgDir);
    mkdirSync(pskDir);
    writeFileSync(join(cfgDir, 'config.yaml'), bgConfig);
    writeFileSync(join(pskDir, 'psk'), Buffer.from((secret.data as Record<string, string>).psk!, 'base64'));
    const r = await podman(['run', '--rm', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_BIND_SERVICE',
      '-v', `${cfgDir}:/etc/branchgate/config:ro`, '-v', `${pskDir}:/etc/branchgate/psk:ro`, IMAGE,
      'check-config', '/etc/branchgate/config/config.yaml'], { allowFail: true });
    console.log(`check-config of the ConfigMap's config: exit ${r.code}\n${r.stdout.trim()}\n${withoutSystemdNoise(r.stderr)}`);
    expect(r.code).toBe(0);
    // Clean but for the key file's mode (a Kubernetes Secret is group-readable with fsGroup).
    expect(r.stderr.split('\n').filter((l) => l.startsWith('warning:') && !/pskFile: .* is readable by group or others/.test(l))).toEqual([]);
  }, 60_000);

  it('deployment.yaml (native sidecar): tunnel, no app privileges, readiness follows the endpoint, kube down sends the Delete', async () => {
    expect(dpdS).toBeGreaterThan(0);
    const p = await play('deployment.yaml');
    try {
      await checkNotReadyYet(p.podman, p.original);
      await configureGw();
      await checkPod(p.podman, p.spec, p.metricsPort);
      const side = `${p.podman}-branchgate`;

      // The endpoint dies without a word: unready within the DPD bound (2.32 × dpd) plus a probe period.
      const period = sidecarOf(p.spec).readinessProbe?.periodSeconds ?? 10;
      const killedAt = Date.now();
      await gw!.kill();
      const down = await waitFor('readiness failing after the endpoint died', async () => {
        const r = await probe(side, p.spec);
        return r.ok ? undefined : r.out;
      }, 60_000, 1000);
      const unreadyS = (Date.now() - killedAt) / 1000;
      console.log(`unready ${unreadyS.toFixed(1)} s after the endpoint was killed (dpd ${dpdS}s: dead after ${(2.32 * dpdS).toFixed(1)} s; probe period ${period} s): ${down}`);
      expect(unreadyS).toBeLessThan(2.32 * dpdS + period);
      // The livenessProbe (podman turns it into the container's healthcheck) still passes: a
      // dead peer is not a reason to restart a daemon that already reconnects on its own.
      const live = await pm(['healthcheck', 'run', side], 30_000);
      console.log(`liveness (podman healthcheck from livenessProbe) with the endpoint dead: ${live.stdout.trim()} (exit ${live.code})`);
      expect(live.code).toBe(0);

      const restartedAt = Date.now();
      await gw!.restart();
      await gw!.waitEstablished(CONN, 30_000);
      const up = await waitFor('readiness passing again', async () => {
        const r = await probe(side, p.spec);
        return r.ok ? r.out : undefined;
      }, 30_000, 1000);
      console.log(`ready again ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the endpoint came back: ${up}`);
    } finally {
      await downAndCheck(p, 'SIGTERM');
    }
  }, 300_000);

  it('pod.yaml (pre-1.29 form, hostPath TUN): played as written, same checks, kube down sends the Delete', async () => {
    const p = await play('pod.yaml');
    try {
      await checkNotReadyYet(p.podman, p.original);
      await configureGw();
      await checkPod(p.podman, p.spec, p.metricsPort);
    } finally {
      await downAndCheck(p, 'preStop');
    }
  }, 240_000);
});
