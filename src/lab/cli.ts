/**
 * `branchgate lab up|down|status`: the namespace lab (docs/lab.md). cli.ts hands every
 * `lab` argument list here unparsed; this module owns its options, output and exit status
 * (0 ok, 1 runtime failure, 2 usage error, as every branchgate command).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { command } from '../cli/commands.js';
import type { CliIo } from '../cli/io.js';
import { DEFAULT_OPTIONS, type LabOptions } from './plan.js';
import { LabError, labDown, labStatus, labUp, tryText } from './lab.js';
import { INTERNET_ROUTE_FORMS, type InternetRoutesForm } from './internet-routes.js';
import { haTryText, labUpHa } from './ha-lab.js';

export const LAB_USAGE = `usage: branchgate lab <up|down|status> [options]

  lab up [--endpoints 1|2] [--nat] [--endpoint strongswan|branchgate] [--dpd SECONDS] [--dir DIR]
         [--profile microsoft|internet] [--internet-routes default|split|many]
      build the lab: namespaces bglab-branch (LAN host), bglab-cpe (branchgate), bglab-wan
      (underlay, --nat masquerades the CPE), bglab-gsa1 [bglab-gsa2] (emulated GSA endpoints:
      strongSwan or branchgate with GSA's Default crypto, BIRD announcing Microsoft-365-like
      prefixes) and bglab-svc1 [bglab-svc2] (service hosts); prints what to try.
      --profile internet: the endpoint announces the whole internet (0.0.0.0/0, the two /1
      halves, or 3,552 /12s), bglab-wan plays the ISP (direct host, DNS for the bypass name,
      an IPv6 host) and the CPE runs with defaultRoute security, bypass and ipv6: block
  lab up --ha [--dpd SECONDS] [--dir DIR]
      an HA pair: bglab-boxa and bglab-boxb share the branch gateway 100.64.10.1 through VRRP
      (keepalived), each with its own tunnel and BGP session to bglab-gsa1 (branchgate + BIRD)
  lab status [--json] [--dir DIR]   what runs, tunnel and BGP state
  lab down [--dir DIR]              remove every bglab-* namespace, process and DIR

DIR defaults to ${DEFAULT_OPTIONS.dir} (configs, logs, control sockets). Needs root.
`;

function usage(io: CliIo, msg: string): number {
  io.stderr.write(`branchgate lab: ${msg}\n\n${LAB_USAGE}`);
  return 2;
}

export async function labMain(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    (sub === undefined ? io.stderr : io.stdout).write(LAB_USAGE);
    return sub === undefined ? 2 : 0;
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    // The options of each subcommand are in the one command table (src/cli/commands.ts).
    const spec = command('lab')?.subcommands?.find((c) => c.name === sub);
    const options: NonNullable<ParseArgsConfig['options']> = { dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } };
    for (const o of spec?.options ?? []) options[o.name] = { type: o.value === undefined ? 'boolean' : 'string' };
    const parsed = parseArgs({ args: rest, options, allowPositionals: false, strict: true });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  if (values.help) {
    io.stdout.write(LAB_USAGE);
    return 0;
  }
  const dir = typeof values.dir === 'string' ? values.dir : DEFAULT_OPTIONS.dir;
  try {
    switch (sub) {
      case 'up': {
        const endpoints = values.endpoints === undefined ? 1 : Number(values.endpoints);
        if (endpoints !== 1 && endpoints !== 2) return usage(io, `--endpoints must be 1 or 2, not ${String(values.endpoints)}`);
        const endpoint = (values.endpoint ?? 'strongswan') as string;
        if (endpoint !== 'strongswan' && endpoint !== 'branchgate') return usage(io, `--endpoint must be strongswan or branchgate, not ${endpoint}`);
        const dpd = values.dpd === undefined ? DEFAULT_OPTIONS.dpd : Number(String(values.dpd).replace(/s$/, ''));
        if (!Number.isInteger(dpd) || dpd < 0 || dpd > 3600) return usage(io, `--dpd must be whole seconds 0..3600, not ${String(values.dpd)}`);
        const profile = (values.profile ?? 'microsoft') as string;
        if (profile !== 'microsoft' && profile !== 'internet') return usage(io, `--profile must be microsoft or internet, not ${profile}`);
        const form = (values['internet-routes'] ?? 'default') as string;
        if (!(INTERNET_ROUTE_FORMS as readonly string[]).includes(form)) return usage(io, `--internet-routes must be default, split or many, not ${form}`);
        if (values['internet-routes'] !== undefined && profile !== 'internet') return usage(io, '--internet-routes needs --profile internet');
        const opts: LabOptions = { endpoints, nat: values.nat === true, endpoint, dpd, dir, profile, internetRoutes: form as InternetRoutesForm };
        if (values.ha === true) {
          if (values.endpoints !== undefined || values.nat || values.endpoint !== undefined || values.profile !== undefined || values['internet-routes'] !== undefined) {
            return usage(io, '--ha takes only --dpd and --dir');
          }
          const h = await labUpHa({ ...opts, dpd: values.dpd === undefined ? 1 : dpd }, io.stdout);
          io.stdout.write(haTryText(h.state, h.seconds));
          return 0;
        }
        const r = await labUp(opts, io.stdout);
        io.stdout.write(tryText(r.state, r.seconds));
        return 0;
      }
      case 'down':
        await labDown(dir, io.stdout);
        return 0;
      case 'status':
        return await labStatus(dir, io.stdout, values.json === true);
      default:
        return usage(io, `unknown subcommand '${sub}'`);
    }
  } catch (err) {
    io.stderr.write(`branchgate lab ${sub}: ${(err as Error).message}\n`);
    return err instanceof LabError ? err.exitCode : 1;
  }
}
