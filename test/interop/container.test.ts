/**
 * The container image, built from ./Dockerfile and run for real (docs/container.md): podman
 * runs it as a sidecar in the lab's cpe namespace (`--network ns:`), with exactly NET_ADMIN and
 * NET_BIND_SERVICE and /dev/net/tun, against strongSwan in gw:
 *
 *   branch 100.64.10.2 → cpe [container: branchgate, TUN bg0] ══ gw (strongSwan) → svc 100.64.20.2
 *
 * It checks the tunnel (ping from the branch through the container's TUN), the daemon's user and
 * capabilities inside the container, the image's HEALTHCHECK (`podman healthcheck run`, built on
 * `branchgate status --check`) going unhealthy when the peer dies and healthy when it is back,
 * and that `podman stop` (SIGTERM through tini) sends IKE Deletes: strongSwan, which has no DPD
 * here and would otherwise keep its SAs, logs the DELETE and lists no SA right after.
 * The image size is printed. Needs root, podman, runc and debootstrap (the base image is built
 * once, then reused: scripts/build-base-image.sh).
 */
import { chmodSync, chownSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Charon } from './lab/strongswan.js';
import { makeTempDir, removeTempDir, run, waitFor } from './lab/netns.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { expectPing, requireTrafficTools } from './lab/traffic.js';
import { buildImage, healthcheck, IMAGE_UID, lastHealthOutput, podman, podName, requirePodman, sweepStalePodman, withoutSystemdNoise, type BuiltImage } from './lab/podman.js';

const PSK = 'container-psk-7d21b9';
const TUNNEL = 'gw';
const CONN = 'branch';
const DPD_S = 2;

describe('the branchgate container image against strongSwan', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let built: BuiltImage | undefined;
  let confDir: string | undefined;
  const name = podName('ctr');

  beforeAll(async () => {
    requireTrafficTools();
    requirePodman();
    sweepStalePodman();
    built = await buildImage();
    console.log(`image ${built.image}: ${(built.sizeBytes / 1e6).toFixed(1)} MB (base ${built.base} ready in ${(built.baseMs / 1000).toFixed(1)} s, ` +
      `podman build ${(built.buildMs / 1000).toFixed(1)} s)`);
    topo = await createTopology({ tag: 'ctr' });
    gw = await Charon.start(topo.gw, { tag: 'ctrgw' });
    gw.writeConns([siteConn(CONN, PSK)]);
    await gw.loadAll();

    // /etc/branchgate in the container: the config and the PSK file, readable by the image's user only.
    confDir = makeTempDir('ctrconf');
    chmodSync(confDir, 0o755);
    const { psk: _psk, ...tunnel } = siteTunnel(TUNNEL, PSK, { dpd: `${DPD_S}s`, pskFile: 'gw.psk' });
    writeFileSync(join(confDir, 'config.yaml'), stringify({ log: { level: 'info' }, tunnels: [tunnel] }));
    writeFileSync(join(confDir, 'gw.psk'), `${PSK}\n`, { mode: 0o600 });
    chownSync(join(confDir, 'gw.psk'), IMAGE_UID, IMAGE_UID);
  }, 1_200_000);

  afterAll(async () => {
    await podman(['rm', '-f', '-t', '0', name], { allowFail: true });
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
    if (confDir) removeTempDir(confDir);
  });

  it('runs as a sidecar with two capabilities, carries the tunnel, turns unhealthy when the peer dies, and sends IKE Deletes on stop', async () => {
    if (!topo || !gw || !confDir || !built) throw new Error('lab setup failed (see beforeAll error)');
    const g = gw;
    const logs = async (): Promise<string> => {
      const r = await podman(['logs', '--tail', '40', name], { allowFail: true });
      return `--- container ${name} ---\n${r.stdout}${withoutSystemdNoise(r.stderr)}`;
    };
    onTestFailed(async () => console.error(`${await logs()}\n${g.logSince(0, 60)}`));

    const r = await podman(['run', '-d', '--name', name, '--network', `ns:/run/netns/${topo.cpe}`,
      '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_BIND_SERVICE', '--device', '/dev/net/tun',
      '-v', `${confDir}:/etc/branchgate:ro`, built.image], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);

    await gw.waitEstablished(CONN, 30_000);
    // The daemon installs its routes right after the Child SA; ping once they are there.
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
    const p = await expectPing(topo.branch, ADDR.svc, 5, 'branch → svc through the container');
    console.log(`ping through the container's tunnel: ${p.received}/${p.transmitted}, rtt avg ${p.rttAvgMs} ms`);

    // The daemon (tini's child) is the image's user with exactly CAP_NET_ADMIN + CAP_NET_BIND_SERVICE.
    const tini = Number((await podman(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
    const child = readFileSync(`/proc/${tini}/task/${tini}/children`, 'utf8').trim().split(/\s+/)[0];
    const st = readFileSync(`/proc/${child}/status`, 'utf8').split('\n').filter((l) => /^(Uid|CapEff|CapBnd|NoNewPrivs)/.test(l)).join('\n');
    console.log(`daemon in the container (${readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').slice(0, 3).join(' ')}):\n${st}`);
    expect(st).toMatch(new RegExp(`^Uid:\\s+${IMAGE_UID}\\s+${IMAGE_UID}`, 'm'));
    expect(st).toMatch(/^CapEff:\s+0000000000001400$/m);
    expect(st).toMatch(/^CapBnd:\s+0000000000001400$/m);

    const healthy = await waitFor('HEALTHCHECK healthy with the tunnel up', async () => ((await healthcheck(name)).healthy ? true : undefined), 20_000, 500);
    expect(healthy).toBe(true);
    console.log(`healthcheck with the tunnel up: ${await lastHealthOutput(name)}`);

    // The peer dies without a word (SIGKILL): DPD declares it dead after 2.32 × dpd, then
    // `status --check` reports the tunnel down and the health check fails.
    const killedAt = Date.now();
    await gw.kill();
    await waitFor('HEALTHCHECK unhealthy after the peer died', async () => (!(await healthcheck(name)).healthy ? true : undefined), 40_000, 500);
    const unhealthyS = (Date.now() - killedAt) / 1000;
    console.log(`healthcheck unhealthy ${unhealthyS.toFixed(1)} s after strongSwan was killed (dpd ${DPD_S}s: dead after ${(2.32 * DPD_S).toFixed(1)} s): ${await lastHealthOutput(name)}`);
    expect(unhealthyS).toBeLessThan(2.32 * DPD_S + 10);

    // The peer comes back: the daemon reconnects (within 10 s) and the check passes again.
    const restartedAt = Date.now();
    await gw.restart();
    await gw.waitEstablished(CONN, 30_000);
    await waitFor('HEALTHCHECK healthy again', async () => ((await healthcheck(name)).healthy ? true : undefined), 30_000, 500);
    console.log(`healthy again ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after strongSwan restarted: ${await lastHealthOutput(name)}`);
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
    await expectPing(topo.branch, ADDR.svc, 3, 'after the reconnect');

    // podman stop: SIGTERM to tini, forwarded to the daemon, which deletes its SAs and exits 0.
    const mark = gw.logMark();
    const stopAt = Date.now();
    const stop = await podman(['stop', '-t', '15', name], { timeoutMs: 30_000 });
    const stopS = (Date.now() - stopAt) / 1000;
    const sasAfter = await gw.listSas();
    const exit = await podman(['inspect', '--format', '{{.State.ExitCode}}', name]);
    console.log(`podman stop took ${stopS.toFixed(1)} s; exit code ${exit.stdout.trim()}; strongSwan SAs right after: ${sasAfter.length}`);
    expect(stop.code).toBe(0);
    expect(stopS).toBeLessThan(10);
    expect(exit.stdout.trim()).toBe('0');
    expect(sasAfter).toEqual([]);
    const log = g.logSince(mark, 200);
    expect(log).toMatch(/received DELETE for IKE_SA/);
    console.log(log.split('\n').filter((l) => /DELETE|deleting IKE_SA/.test(l)).join('\n'));
  }, 300_000);

  // Kubernetes' runtimes (containerd, CRI-O) run containers with runc and, unlike podman, give a
  // non-root process no ambient capabilities. This is that model on the built image, through
  // runc directly: user 10001, bounding/effective/permitted = the two, no ambient, no_new_privs
  // (allowPrivilegeEscalation: false). It shows why deploy/kubernetes starts node without tini.
  it('the Kubernetes capability model (runc, no ambient capabilities, no_new_privs): node exec\'d directly keeps both, behind tini it has none', async () => {
    if (!built) throw new Error('lab setup failed (see beforeAll error)');
    const ctr = podName('ctrfs');
    const bundle = makeTempDir('ctrrunc');
    try {
      await podman(['create', '--name', ctr, built.image]);
      const rootfs = (await podman(['mount', ctr])).stdout.trim();
      await run(['runc', 'spec', '--bundle', bundle]);
      const show = "console.log(require('fs').readFileSync('/proc/self/status','utf8').split('\\n').filter((l) => /^(Uid|CapEff|CapAmb|NoNewPrivs)/.test(l)).join(' '))";
      const attempt = async (args: string[]): Promise<{ code: number; out: string }> => {
        const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as {
          process: Record<string, unknown>; root: Record<string, unknown>;
        };
        const two = ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE'];
        spec.process = { ...spec.process, terminal: false, args, user: { uid: IMAGE_UID, gid: IMAGE_UID },
          capabilities: { bounding: two, effective: two, permitted: two, inheritable: [], ambient: [] }, noNewPrivileges: true };
        spec.root = { path: rootfs, readonly: true };
        writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
        const r = await run(['runc', 'run', '--bundle', bundle, `${ctr}r`], { allowFail: true, timeoutMs: 30_000 });
        await run(['runc', 'delete', '--force', `${ctr}r`], { allowFail: true });
        return { code: r.code, out: `${r.stdout}${r.stderr}`.trim() };
      };
      const direct = await attempt(['node', '-e', show]);
      const tini = await attempt(['/usr/bin/tini', '--', 'node', '-e', show]);
      console.log(`runc, node exec'd directly: exit ${direct.code}: ${direct.out}\nrunc, node behind tini: exit ${tini.code}: ${tini.out}`);
      expect(direct.code).toBe(0);
      expect(direct.out).toMatch(/CapEff:\s+0000000000001400/);
      expect(direct.out).toMatch(/CapAmb:\s+0000000000000000/);
      expect(direct.out).toMatch(/NoNewPrivs:\s+1/);
      // no_new_privs caps what an exec may gain at what the process had: tini had nothing left
      // after its own exec, so node's file capabilities give it nothing (the daemon would then
      // refuse to start, naming CAP_NET_ADMIN).
      expect(tini.out).toMatch(/CapEff:\s+0000000000000000/);
    } finally {
      await podman(['umount', ctr], { allowFail: true });
      await podman(['rm', '-f', ctr], { allowFail: true });
      removeTempDir(bundle);
    }
  }, 120_000);
});
