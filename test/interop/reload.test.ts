/**
 * Reload and the key export, against strongSwan 5.9.8 (kernel-libipsec) in the four-namespace
 * lab: two tunnels from one branchgate to one endpoint (told apart by their IDs, fqdn:a.branch and
 * fqdn:b.branch), with debug.wiresharkKeys on and the log at trace.
 *
 * - `branchgate reload` after changing only tunnel b's ESP proposal: tunnel a keeps its IKE and
 *   Child SPIs and carries traffic throughout; b is re-established with the new cipher.
 * - SIGHUP does the same as `reload`.
 * - The Wireshark tables hold every SA's keys in their formats (esp_sa: the SPIs list-sas shows),
 *   and none of those keys appears in any log line (trace level), status or list-sas output.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, requireBuild, type BgTunnel, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { ping, requireTrafficTools } from './lab/traffic.js';
import { makeTempDir, waitFor } from './lab/netns.js';

const IKE = 'aes256gcm16-prfsha256-ecp256';
const PSK = { a: 'reload-psk-a-61f0c3', b: 'reload-psk-b-9d27aa' };

function tunnels(espB: string): BgTunnelConfig[] {
  const base = { localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, remoteId: ADDR.gwIke, ike: [IKE], initiate: true, dpd: 0,
    localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix], mtu: 1380 };
  return [
    { ...base, name: 'a', localId: 'fqdn:a.branch', psk: PSK.a, esp: ['aes256gcm16'], interface: 'bg0', routes: [ADDR.svcPrefix] },
    { ...base, name: 'b', localId: 'fqdn:b.branch', psk: PSK.b, esp: [espB], interface: 'bg1', routes: [] },
  ];
}

const spis = (t: BgTunnel | undefined): string =>
  t ? `${t.ike?.spiI}/${t.ike?.spiR} ${t.children.map((c) => `${c.spiIn}/${c.spiOut}`).join(',')}` : '(none)';

describe('reload keeps untouched tunnels; the Wireshark export has the keys and nothing else does', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let keysDir = '';
  const extra = (): Record<string, unknown> => ({ debug: { wiresharkKeys: keysDir } });

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'r' });
    gw = await Charon.start(topo.gw, { tag: 'rgw' });
    const conn = { localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, proposals: [IKE], localTs: [ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix] };
    gw.writeConns([
      { ...conn, name: 'A', remoteId: 'a.branch', psk: PSK.a, espProposals: ['aes256gcm16'] },
      { ...conn, name: 'B', remoteId: 'b.branch', psk: PSK.b, espProposals: ['aes256gcm16', 'aes128gcm16'] },
    ]);
    await gw.loadAll();
    keysDir = join(makeTempDir('bgkeys'), 'wireshark');
    bg = await Branchgate.start(topo.cpe, tunnels('aes256gcm16'), { tag: 'rel', logLevel: 'trace', extra: extra() });
    await Promise.all([bg.waitEstablished('a'), bg.waitEstablished('b')]);
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  const lab = (): { t: Topology; d: Branchgate } => {
    if (!topo || !bg) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(80), gw?.logSince(0, 40)));
    return { t: topo, d };
  };

  it('reload with only tunnel b changed: a keeps its SPIs and its traffic, b comes back with the new cipher', async () => {
    const { t, d } = lab();
    const a0 = await d.tunnel('a');
    const b0 = await d.tunnel('b');
    expect(b0?.children[0]?.encr).toBe('AES_GCM_16_256');
    d.writeConfig(tunnels('aes128gcm16'), 'trace', extra());
    const r = await d.cli(['reload']);
    expect(r.stdout).toBe('a: unchanged, SAs kept\nb: changed (espProposals), re-establishing\n');
    const b1 = await waitFor('tunnel b re-established with AES_GCM_16_128', async () => {
      const x = await d.tunnel('b');
      return x?.state === 'established' && x.children[0]?.encr === 'AES_GCM_16_128' ? x : undefined;
    }, 20_000);
    expect(b1.ike?.spiI).not.toBe(b0?.ike?.spiI);
    expect(spis(await d.tunnel('a')), 'tunnel a untouched by the reload').toBe(spis(a0));
    const p = await ping(t.branch, ADDR.svc, 3);
    expect(p.received, p.output).toBe(3);
  });

  it('SIGHUP reloads too: reverting b re-establishes it, a is still untouched', async () => {
    const { d } = lab();
    const a0 = await d.tunnel('a');
    d.writeConfig(tunnels('aes256gcm16'), 'trace', extra());
    process.kill(d.pid()!, 'SIGHUP');
    await waitFor('tunnel b back on AES_GCM_16_256', async () => {
      const x = await d.tunnel('b');
      return x?.state === 'established' && x.children[0]?.encr === 'AES_GCM_16_256' ? x : undefined;
    }, 20_000);
    expect(spis(await d.tunnel('a'))).toBe(spis(a0));
    expect(d.logRecords().some((l) => l.msg === 'SIGHUP: reloading the config')).toBe(true);
  });

  it('the Wireshark tables hold the current SAs\' keys; no log line, status or list-sas output holds any of them', async () => {
    const { d } = lab();
    const esp = readFileSync(join(keysDir, 'esp_sa'), 'utf8');
    const ikev2 = readFileSync(join(keysDir, 'ikev2_decryption_table'), 'utf8');
    // esp_sa: "IPv4","src","dst","0xSPI","AES-GCM with 16 octet ICV [RFC4106]","0xKEY","NULL","0x"
    const espRows = esp.split('\n').filter((l) => l.startsWith('"IPv4"')).map((l) => l.split(',').map((f) => f.replace(/^"|"$/g, '')));
    const ikeRows = ikev2.split('\n').filter((l) => /^[0-9a-f]{16},/.test(l)).map((l) => l.split(','));
    for (const name of ['a', 'b']) {
      const tun = await d.tunnel(name);
      const c = tun!.children[0]!;
      const out = espRows.find((r) => r[3] === `0x${c.spiOut.replace(/^0x/, '').padStart(8, '0')}`);
      const inb = espRows.find((r) => r[3] === `0x${c.spiIn.replace(/^0x/, '').padStart(8, '0')}`);
      expect(out?.slice(0, 3), `esp_sa outbound row of ${name}`).toEqual(['IPv4', ADDR.cpeWan, ADDR.gwIke]);
      expect(inb?.slice(0, 3), `esp_sa inbound row of ${name}`).toEqual(['IPv4', ADDR.gwIke, ADDR.cpeWan]);
      // AES-256-GCM: 32 key octets + 4 salt octets, as Wireshark expects (RFC 4106 §8.1).
      expect(out?.[5]).toMatch(/^0x[0-9a-f]{72}$/);
      expect(ikeRows.some((r) => r[0] === tun!.ike!.spiI.toLowerCase() && r[1] === tun!.ike!.spiR.toLowerCase()), `ikev2 row of ${name}`).toBe(true);
    }
    const keys = [
      ...espRows.flatMap((r) => [r[5], r[7]]).map((k) => (k ?? '').replace(/^0x/, '')),
      ...ikeRows.flatMap((r) => [r[2], r[3], r[5], r[6]]),
    ].filter((k): k is string => k !== undefined && k.length >= 32);
    expect(keys.length).toBeGreaterThanOrEqual(8);
    const logText = readFileSync(d.stdoutPath, 'utf8') + readFileSync(d.stderrPath, 'utf8');
    // log.level trace: every line the daemon has is written, debug ones included.
    expect(logText).toContain('"level":"debug"');
    const outputs = [(await d.cli(['status', '--json'])).stdout, (await d.cli(['list-sas', '--json'])).stdout, (await d.cli(['list-sas'])).stdout];
    for (const k of keys) {
      const base64 = Buffer.from(k, 'hex').toString('base64');
      for (const text of [logText, ...outputs]) {
        expect(text.includes(k) || text.includes(k.toUpperCase()) || text.includes(base64), 'a key in a log line or a status output').toBe(false);
      }
    }
    for (const psk of Object.values(PSK)) expect(logText.includes(psk) || outputs.some((o) => o.includes(psk))).toBe(false);
  });
});
