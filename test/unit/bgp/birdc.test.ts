/**
 * BIRD control-socket framing and report parsing, against replies captured from a real BIRD
 * 2.0.12 by scripts/capture-bird-fixture.sh (test/fixtures/bird/, raw socket bytes, unedited).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { BirdClient } from '../../../src/bgp/birdc.js';
import { ReplyFormatError, ReplyReader, type Reply } from '../../../src/bgp/reply.js';
import { parseProtocols, parseRouteNets } from '../../../src/bgp/show.js';

const FIX = join(import.meta.dirname, '../../fixtures/bird');
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');
const NAMES = ['greeting', 'protocols-established', 'routes-established', 'configure', 'disable', 'enable', 'protocols-disabled', 'protocols-limit', 'error'];

function one(text: string): Reply {
  const replies = new ReplyReader().push(text);
  expect(replies).toHaveLength(1);
  return replies[0]!;
}

describe('ReplyReader on captured replies', () => {
  it('each fixture is exactly one reply, whatever the chunking', () => {
    for (const n of NAMES) {
      const text = fixture(`${n}.txt`);
      const whole = one(text);
      const r = new ReplyReader();
      const bytewise = [...text].flatMap((c) => r.push(c));
      expect(bytewise).toEqual([whole]);
      expect(r.pending).toBe(false);
    }
  });

  it('final codes: greeting 0001, OK 0000, reconfigured 0003, parse error 9001', () => {
    expect(one(fixture('greeting.txt'))).toEqual({ code: 1, lines: [{ code: 1, text: 'BIRD 2.0.12 ready.' }] });
    expect(one(fixture('protocols-established.txt')).code).toBe(0);
    expect(one(fixture('configure.txt'))).toEqual({ code: 3, lines: [
      { code: 2, text: 'Reading configuration from /tmp/WORK/cpe.conf' }, { code: 3, text: 'Reconfigured' }] });
    expect(one(fixture('disable.txt')).lines[0]).toEqual({ code: 9, text: 'bgp_100_64_0_2: disabled' });
    expect(one(fixture('error.txt')).code).toBe(9001);
  });

  it('continuation lines inherit the code; spontaneous (+) and unknown lines are skipped', () => {
    const r = new ReplyReader();
    const out = r.push('+0000 spontaneous\ngarbage line\n1007-Table master4:\n 10.0.0.0/8  unicast\n0000\n');
    expect(out).toEqual([{ code: 0, lines: [{ code: 1007, text: 'Table master4:' }, { code: 1007, text: '10.0.0.0/8  unicast' }, { code: 0, text: '' }] }]);
    expect(r.skipped).toBe(1);
  });

  it('bounds: an endless line or reply is an error, not unbounded memory', () => {
    expect(() => new ReplyReader({ maxLine: 100, maxReplyBytes: 1000 }).push('x'.repeat(101))).toThrow(ReplyFormatError);
    const r = new ReplyReader({ maxLine: 100, maxReplyBytes: 1000 });
    expect(() => { for (let i = 0; i < 100; i++) r.push('1007-0123456789012345678901234567890\n'); }).toThrow(/larger than 1000/);
  });

  it('property: any mutation of a real reply parses or fails with ReplyFormatError, and the parsers never throw', () => {
    const texts = NAMES.map((n) => fixture(`${n}.txt`));
    fc.assert(fc.property(fc.integer({ min: 0, max: texts.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.string({ maxLength: 8 })), { maxLength: 6 }), (i, edits) => {
      let t = texts[i]!;
      for (const [at, s] of edits) t = t.slice(0, at % (t.length + 1)) + s + t.slice(at % (t.length + 1));
      try {
        for (const rep of new ReplyReader().push(t)) {
          parseProtocols(rep);
          parseRouteNets(rep);
        }
      } catch (e) {
        if (!(e instanceof ReplyFormatError)) throw e;
      }
    }), { numRuns: 500 });
  });
});

describe('show protocols all', () => {
  it('Established neighbor: state, counts, limit; the unreachable one is Active with its reason', () => {
    const ps = parseProtocols(one(fixture('protocols-established.txt')));
    expect(ps.map((p) => p.name)).toEqual(['bg_device', 'bg_peers', 'bg_lan', 'bg_kernel', 'bgp_100_64_0_2', 'bgp_100_64_0_3']);
    const up = ps.find((p) => p.name === 'bgp_100_64_0_2')!;
    expect(up).toMatchObject({
      proto: 'BGP', state: 'up', info: 'Established', bgpState: 'Established', neighborAddress: '100.64.0.2', neighborAs: 65476,
      description: 'branchgate neighbor 100.64.0.2 via tunnel t1',
    });
    expect(up.channels).toEqual([{ name: 'ipv4', state: 'UP', importLimit: 40, importLimitHit: false, imported: 25, exported: 1, preferred: 25 }]);
    const down = ps.find((p) => p.name === 'bgp_100_64_0_3')!;
    expect(down).toMatchObject({ state: 'start', bgpState: 'Active', info: 'Active Socket: Network is unreachable' });
    expect(ps.find((p) => p.name === 'bg_kernel')!.channels[0]).toMatchObject({ imported: 0, exported: 26 });
  });

  it('disabled and limit-tripped neighbors', () => {
    const [dis] = parseProtocols(one(fixture('protocols-disabled.txt')));
    expect(dis).toMatchObject({ name: 'bgp_100_64_0_2', state: 'down', bgpState: 'Down' });
    const [lim] = parseProtocols(one(fixture('protocols-limit.txt')));
    expect(lim).toMatchObject({ state: 'down', bgpState: 'Down', lastError: 'Automatic shutdown: Route limit exceeded' });
    expect(lim!.channels[0]).toMatchObject({ state: 'DOWN', importLimit: 40, importLimitHit: true });
    expect(lim!.channels[0]!.imported).toBeUndefined();
  });

  it('the filters of the generated config kept out the endpoint cover, our LAN and the BGP address', () => {
    const nets = parseRouteNets(one(fixture('routes-established.txt')));
    expect(nets).toHaveLength(25);
    expect(nets).toContain('13.107.6.152/31');
    expect(nets).toContain('204.79.197.215/32');
    for (const bad of ['198.51.100.0/24', '192.0.2.128/25', '100.64.0.2/32']) expect(nets).not.toContain(bad);
  });
});

describe('BirdClient', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bgt-birdc-'));
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fake BIRD replaying fixtures: answers each command line with answers[cmd] (raw text). */
  async function fake(answers: Record<string, string>, greeting = fixture('greeting.txt')): Promise<string> {
    const path = join(dir, `s${servers.length}.ctl`);
    const srv = createServer((c) => {
      c.write(greeting);
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const cmd = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const a = answers[cmd];
          // Split the answer to exercise reassembly.
          if (a !== undefined) for (let i = 0; i < a.length; i += 7) c.write(a.slice(i, i + 7));
        }
      });
    });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(path, r));
    return path;
  }

  it('greeting, queued commands answered in order, typed reports', async () => {
    const path = await fake({
      'show protocols all': fixture('protocols-established.txt'),
      'show route protocol bgp_100_64_0_2': fixture('routes-established.txt'),
      'disable bgp_100_64_0_2': fixture('disable.txt'),
      'show route protocol nosuch_proto': fixture('error.txt'),
    });
    const c = await BirdClient.connect(path);
    expect(c.version).toBe('2.0.12');
    const [ps, nets, dis] = await Promise.all([c.protocols(), c.routeNets('bgp_100_64_0_2'), c.ok('disable bgp_100_64_0_2')]);
    expect(ps).toHaveLength(6);
    expect(nets).toHaveLength(25);
    expect(dis.code).toBe(0);
    await expect(c.ok('show route protocol nosuch_proto')).rejects.toThrow(/refused .* \(9001\): syntax error/);
    await expect(c.command('two\nlines')).rejects.toThrow(/one short line/);
    await expect(c.routeNets('x"; down')).rejects.toThrow(/not a BIRD protocol name/);
    c.close();
    await expect(c.command('show status')).rejects.toThrow(/closed/);
  });

  it('a silent BIRD times out and closes; a wrong greeting and a missing socket are errors', async () => {
    const path = await fake({});
    const c = await BirdClient.connect(path);
    await expect(c.command('show status', 200)).rejects.toThrow(/did not answer "show status" within 200 ms/);
    expect(c.closed).toBe(true);
    await expect(BirdClient.connect(await fake({}, '9999 nope\n'))).rejects.toThrow(/unexpected greeting/);
    await expect(BirdClient.connect(join(dir, 'missing.ctl'))).rejects.toThrow(/cannot connect .*ENOENT/);
    await expect(BirdClient.connect(await fake({}, ''), 200)).rejects.toThrow(/no greeting/);
  });
});
