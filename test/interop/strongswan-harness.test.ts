/**
 * Proves the interop harness itself: strongSwan ↔ strongSwan (kernel-libipsec) in two namespaces
 * joined by a veth pair, PSK, aes256gcm16-prfsha384-modp2048s256 / esp aes256gcm16. Both ends must
 * list the same SA (compared through the same assertSameSa used against branchgate), and a ping
 * between two loopback-assigned inner addresses must cross the userspace ESP-in-UDP tunnel.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { assertSameSa, expectedAlgs, swanAsTunnel } from './lab/compare.js';
import { addAddress, createPair, exec, requirePrereqs, type Pair } from './lab/netns.js';
import { Charon, parseListSas, type SwanConn } from './lab/strongswan.js';

const IKE = 'aes256gcm16-prfsha384-modp2048s256';
const ESP = 'aes256gcm16';
const INNER_A = '100.64.1.1';
const INNER_B = '100.64.2.1';

describe('strongSwan ↔ strongSwan harness', () => {
  let pair: Pair | undefined;
  let a: Charon | undefined;
  let b: Charon | undefined;

  beforeAll(async () => {
    requirePrereqs();
    pair = await createPair({ tag: 'h' });
    await addAddress(pair.a, 'lo', `${INNER_A}/32`);
    await addAddress(pair.b, 'lo', `${INNER_B}/32`);
    [a, b] = await Promise.all([Charon.start(pair.a, { tag: 'ha' }), Charon.start(pair.b, { tag: 'hb' })]);
  });

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()]);
    await pair?.destroy();
  });

  const dumpOnFailure = (): void =>
    onTestFailed(() => {
      console.error([a?.logSince(0, 120), b?.logSince(0, 120)].filter(Boolean).join('\n'));
    });

  it('parses vici raw dumps (lists, empty sections, empty values)', () => {
    const sas = parseListSas(
      'list-sa event {x {uniqueid=7 state=ESTABLISHED if-id-in= initiator-spi=00 child-sas {c-1 {name=c state=INSTALLED ' +
        'spi-in=01 spi-out=02 local-ts=[10.0.0.0/8 10.1.0.0/16] remote-ts=[]}}}}\nlist-sas reply {}\n',
    );
    expect(sas).toHaveLength(1);
    expect(sas[0]?.uniqueId).toBe('7');
    expect(sas[0]?.raw['if-id-in']).toBe('');
    expect(sas[0]?.children[0]?.localTs).toEqual(['10.0.0.0/8', '10.1.0.0/16']);
    expect(sas[0]?.children[0]?.remoteTs).toEqual([]);
  });

  it('establishes an IKE/Child SA both ends agree on, and ping crosses the libipsec tunnel', async () => {
    dumpOnFailure();
    if (!pair || !a || !b) throw new Error('setup failed');
    const common = { psk: 'harness-psk-0123456789', proposals: [IKE], espProposals: [ESP] };
    const connA: SwanConn = {
      ...common, name: 'lab', localAddrs: pair.addrA, remoteAddrs: pair.addrB, localId: pair.addrA, remoteId: pair.addrB,
      localTs: [`${INNER_A}/32`], remoteTs: [`${INNER_B}/32`],
    };
    const connB: SwanConn = {
      ...common, name: 'lab', localAddrs: pair.addrB, remoteAddrs: pair.addrA, localId: pair.addrB, remoteId: pair.addrA,
      localTs: [`${INNER_B}/32`], remoteTs: [`${INNER_A}/32`],
    };
    a.writeConns([connA]);
    b.writeConns([connB]);
    await Promise.all([a.loadAll(), b.loadAll()]);
    await a.initiate('net', 'lab');

    const [sa, sb] = await Promise.all([a.waitEstablished('lab'), b.waitEstablished('lab')]);
    expect(sa.initiator).toBe(true);
    expect(sb.initiator).toBe(false);
    expect(sa.initiatorSpi).toMatch(/^[0-9a-f]{16}$/);
    expect(sa.children[0]?.spiIn).toMatch(/^[0-9a-f]{8}$/);
    // exact strongSwan 5.9.8 name strings, as the compare layer expects them
    expect([sa.encrAlg, sa.encrKeysize, sa.integAlg, sa.prfAlg, sa.dhGroup]).toEqual(['AES_GCM_16', 256, undefined, 'PRF_HMAC_SHA2_384', 'MODP_2048_256']);
    // kernel-libipsec always encapsulates (and fakes NAT-D to get there): both sides on 4500
    expect([sa.localPort, sa.remotePort, sb.localPort, sb.remotePort]).toEqual([4500, 4500, 4500, 4500]);
    expect(sa.children[0]?.encap).toBe(true);

    assertSameSa(swanAsTunnel(sa), sb, { ike: expectedAlgs(IKE), esp: expectedAlgs(ESP) });
    assertSameSa(swanAsTunnel(sb), sa, { ike: expectedAlgs(IKE), esp: expectedAlgs(ESP) });

    const ping = await exec(pair.a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', INNER_A, INNER_B], { timeoutMs: 15_000 });
    expect(ping.stdout).toMatch(/3 received/);
    const after = (await a.listSas()).find((s) => s.name === 'lab')?.children[0];
    expect(Number(after?.raw['packets-out'])).toBeGreaterThanOrEqual(3);
    expect(Number(after?.raw['packets-in'])).toBeGreaterThanOrEqual(3);

    await a.terminate('lab', false);
    await b.terminateAll();
    expect(await a.listSas()).toEqual([]);
  });
});
