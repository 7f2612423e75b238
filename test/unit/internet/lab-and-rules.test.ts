/**
 * Without root: the lab plan's internet profile (what the endpoint announces, which addresses it
 * uses, the CPE keys), the lab CLI's option checks, and the order in which InternetRules talks to
 * `ip` (a recording runner that answers like iproute2; the real kernel is gsa-internet.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { labPlan } from '../../../src/lab/plan.js';
import { internetCpeKeys, INTERNET_LAB } from '../../../src/lab/internet.js';
import { internetRoutes } from '../../../src/lab/internet-routes.js';
import { labMain } from '../../../src/lab/cli.js';
import { parseConfig } from '../../../src/config/load.js';
import { InternetRules } from '../../../src/routing/internet-rules.js';
import { IpError, type IpRunner } from '../../../src/routing/ip.js';
import { stringify } from 'yaml';

const base = { endpoints: 1 as const, nat: false, endpoint: 'strongswan' as const, dpd: 1, dir: '/x' };

describe('lab: --profile internet', () => {
  it('the three forms: 0/0, the halves, 3,552 unicast /12s without duplicates or bogus ranges', () => {
    expect(internetRoutes('default')).toEqual(['0.0.0.0/0']);
    expect(internetRoutes('split')).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    const many = internetRoutes('many');
    expect(many.length).toBe(3552);
    expect(new Set(many).size).toBe(many.length);
    expect(many.some((p) => /^(0|127|22[4-9]|2[3-5]\d)\./.test(p))).toBe(false);
    expect(many).toContain('203.0.0.0/12');
  });

  it('the endpoint announces the chosen form; the Microsoft profile is unchanged', () => {
    expect(labPlan({ ...base, profile: 'internet', internetRoutes: 'split' }).endpoints[0]!.announced).toEqual(['0.0.0.0/1', '128.0.0.0/1']);
    expect(labPlan(base).endpoints[0]!.announced).toHaveLength(26);
  });

  it('the CPE config of the internet lab validates and uses lab addresses only', () => {
    const p = labPlan({ ...base, profile: 'internet', internetRoutes: 'default' });
    const keys = internetCpeKeys(p);
    const doc = { tunnels: [{ name: 'gsa1', localAddress: '192.0.2.2', remoteAddress: '198.51.100.2', psk: 'lab-psk-x', profile: 'gsa-default' }],
      bgp: { asn: 65010, address: '100.64.0.1', advertise: ['100.64.10.0/24'], neighbors: [{ address: '100.64.0.2', asn: 65476, tunnel: 'gsa1' }] }, ...keys };
    const r = parseConfig(stringify(doc), '/x/cpe.yaml', {});
    expect(r.ok, r.ok ? '' : r.errors.map((e) => e.message).join('\n')).toBe(true);
    const lab = /^(198\.18\.|2001:db8:)/;
    for (const a of Object.values(INTERNET_LAB)) if (/^\d|^2001/.test(a)) expect(a).toMatch(lab);
    expect(internetCpeKeys(labPlan(base))).toEqual({});
  });

  it('CLI: bad --profile / --internet-routes are usage errors (exit 2)', async () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true) } };
    expect(await labMain(['up', '--profile', 'private'], io as never)).toBe(2);
    expect(err).toContain('--profile must be microsoft or internet');
    expect(await labMain(['up', '--profile', 'internet', '--internet-routes', 'half'], io as never)).toBe(2);
    expect(err).toContain('--internet-routes must be default, split or many');
    expect(await labMain(['up', '--internet-routes', 'many'], io as never)).toBe(2);
    expect(err).toContain('--internet-routes needs --profile internet');
  });
});

/** Answers like iproute2 for the commands InternetRules uses, keeping rules and routes in memory. */
function fakeIp(routeGet: (addr: string, fib: boolean) => object | Error) {
  const log: string[] = [];
  const rules: { priority: number; table?: string; action?: string; protocol?: string; suppress_prefixlen?: number }[] = [];
  const runner: IpRunner = {
    async run(args) {
      log.push(args.join(' '));
      const a = [...args];
      if (a[0] === '-json' && a[1] === 'rule') return { stdout: JSON.stringify(rules), stderr: '' };
      if (a[0] === '-json' && a[1] === 'route' && a[2] === 'get') {
        const fib = a[3] === 'fibmatch';
        const r = routeGet(a[fib ? 4 : 3]!, fib);
        if (r instanceof Error) throw new IpError(`ip ${a.join(' ')}`, 'RTNETLINK answers: Network is unreachable', 2, '');
        return { stdout: JSON.stringify([r]), stderr: '' };
      }
      if (a[0] === 'rule' && a[1] === 'add') {
        const pref = Number(a[3]);
        rules.push(a.includes('blackhole') ? { priority: pref, action: 'blackhole', protocol: '249' } : { priority: pref, table: a[5], protocol: '249' });
        return { stdout: '', stderr: '' };
      }
      if (a[0] === 'rule' && a[1] === 'del') {
        const i = rules.findIndex((r) => r.priority === Number(a[3]) && (a[4] === 'blackhole' ? r.action === 'blackhole' : r.table === a[5]));
        if (i < 0) throw new IpError(`ip ${a.join(' ')}`, 'RTNETLINK answers: No such file or directory', 2, '');
        rules.splice(i, 1);
      }
      return { stdout: '', stderr: '' };
    },
  };
  return { runner, log, rules };
}

describe('InternetRules', () => {
  const underlay = (addr: string, fib: boolean) => (fib ? { dst: `${addr}/32`, protocol: 249, dev: 'wan0', type: 'unicast' } : { dst: addr, dev: 'wan0', gateway: '192.0.2.254', type: 'unicast' });

  it('security: rule 9000, the table blackhole and a holding blackhole rule before anything else; enable swaps the hold for the lookup', async () => {
    const f = fakeIp(underlay);
    const r = new InternetRules({ runner: f.runner, table: 249, proto: 249, security: true });
    await r.prepare();
    expect(f.log.filter((l) => !l.startsWith('-json'))).toEqual([
      'route flush table 249',
      'rule add pref 9000 lookup main suppress_prefixlength 0 protocol 249',
      'route replace blackhole 0.0.0.0/0 table 249 metric 4294967295 proto 249',
      'rule add pref 9001 blackhole protocol 249',
    ]);
    expect(await r.checkUnderlay(['198.51.100.2'], new Set(['bg0']), new Set(['198.51.100.2']))).toEqual({ ok: true });
    await r.enable();
    expect(f.rules.map((x) => `${x.priority} ${x.table ?? x.action}`)).toEqual(['9000 main', '9001 249']);
    await r.disable();
    expect(f.rules.map((x) => `${x.priority} ${x.table ?? x.action}`), 'refused in security: held again').toEqual(['9000 main', '9001 blackhole']);
    await r.cleanup();
    expect(f.rules).toEqual([]);
  });

  it('productivity: no blackhole anywhere; disable just removes the lookup', async () => {
    const f = fakeIp(underlay);
    const r = new InternetRules({ runner: f.runner, table: 249, proto: 249, security: false });
    await r.prepare();
    await r.enable();
    await r.disable();
    expect(f.log.some((l) => l.includes('blackhole'))).toBe(false);
    expect(f.rules.map((x) => x.priority)).toEqual([9000]);
  });

  it('checkUnderlay refuses an address routed into a tunnel, one without its pin, one without a route', async () => {
    const into = fakeIp((a) => ({ dst: a, dev: 'bg0', type: 'unicast' }));
    expect(await new InternetRules({ runner: into.runner, table: 249, proto: 249, security: true }).checkUnderlay(['198.51.100.2'], new Set(['bg0']), new Set()))
      .toEqual({ ok: false, address: '198.51.100.2', reason: 'resolves into tunnel interface bg0' });
    const unpinned = fakeIp((a, fib) => (fib ? { dst: '0.0.0.0/0', dev: 'wan0', type: 'unicast', protocol: 'boot' } : { dst: a, dev: 'wan0', type: 'unicast' }));
    const u = await new InternetRules({ runner: unpinned.runner, table: 249, proto: 249, security: true }).checkUnderlay(['198.51.100.2'], new Set(['bg0']), new Set(['198.51.100.2']));
    expect(u).toEqual({ ok: false, address: '198.51.100.2', reason: 'its /32 underlay pin is not installed (the lookup matched 0.0.0.0/0)' });
    const none = fakeIp(() => new Error('unreachable'));
    const n = await new InternetRules({ runner: none.runner, table: 249, proto: 249, security: true }).checkUnderlay(['198.18.0.53'], new Set(['bg0']), new Set());
    expect(n).toMatchObject({ ok: false, address: '198.18.0.53' });
  });
});
