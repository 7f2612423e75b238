/**
 * The `branchgate` command line (bin/branchgate.js imports dist/cli.js): options come from the
 * one command table (src/cli/commands.ts), each command from its module under src/cli/.
 * Control commands such as `status` load neither the daemon nor the config loader, so they start
 * quickly and light.
 *
 * Exit status: 0 ok, 1 runtime failure, 2 usage or config error (systemd's
 * RestartPreventExitStatus=2 relies on it); `status --check` has the plugin codes 0-3.
 * Every error line says what to do next.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { COMMANDS, DEFAULT_WAIT_S, command, commandHelp, synopsis, usageText, type CommandSpec } from './cli/commands.js';
import type { CliIo } from './cli/io.js';
import { configPath, socketPath } from './cli/paths.js';
import { CHECK_UNKNOWN } from './cli/status-check.js';
import { nativeFastPath, packageVersion } from './version.js';

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** node:util parseArgs options for a command of the table. */
export function parseOptions(c: CommandSpec): NonNullable<ParseArgsConfig['options']> {
  const o: NonNullable<ParseArgsConfig['options']> = { help: { type: 'boolean', short: 'h' } };
  for (const s of c.options) o[s.name] = { type: s.value === undefined ? 'boolean' : 'string', ...(s.short ? { short: s.short } : {}) };
  return o;
}

/** parseArgs' messages are long and name Node internals; say what is wrong in our words. */
export function argError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const name = /'([^']+)'/.exec(e.message ?? '')?.[1] ?? '';
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': return `unknown option '${name.replace(/^(-\w)\b.*/, '$1')}'`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': return /argument missing/.test(e.message ?? '') ? `option '${name.split(' ')[0]}' needs a value` : `option '${name.split(' ')[0]}' takes no value`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': return `unexpected argument '${name}'`;
    default: return e.message ?? String(err);
  }
}

/** A short hint, never the whole usage: the command's synopsis and where to read more. */
function usageError(io: CliIo, msg: string, c?: CommandSpec): number {
  const hint = c ? `usage: branchgate ${synopsis(c)}\n(more: branchgate help ${c.name})` : '(commands: branchgate help)';
  io.stderr.write(`branchgate: ${msg}\n${hint}\n`);
  return 2;
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) return usageError(io, 'no command given');
  if (cmd === '--version' || cmd === '-V') {
    io.stdout.write(`branchgate ${packageVersion()}\n`);
    return 0;
  }
  if (cmd === 'help' || cmd === '--help' || cmd === '-h') return await help(io, rest);
  // The lab has subcommands and options of its own (src/lab/cli.ts).
  if (cmd === 'lab') return (await import('./lab/cli.js')).labMain(rest, io);
  const spec = command(cmd);
  if (spec === undefined) return usageError(io, `unknown command '${cmd}'`);
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: parseOptions(spec), allowPositionals: true, strict: true }));
  } catch (err) {
    const code = usageError(io, argError(err), spec);
    // A monitoring plugin reports its own misuse as UNKNOWN, never as a state of the service.
    return cmd === 'status' && rest.includes('--check') ? CHECK_UNKNOWN : code;
  }
  if (values.help === true) {
    io.stdout.write(commandHelp(spec));
    return 0;
  }
  const required = spec.args.filter((a) => !a.optional).length;
  if (positionals.length < required || positionals.length > spec.args.length) {
    const what = spec.args.length === 0 ? 'no arguments' : spec.args.map((a) => a.name).join(' ');
    return usageError(io, `'${cmd}' takes ${what}${positionals.length > 0 ? `, not '${positionals.join(' ')}'` : ''}`, spec);
  }
  const env = io.env ?? process.env;
  const arg = positionals[0] ?? '';
  const sock = (): string => socketPath(values, env);
  const d = () => import('./cli/daemon-commands.js');
  switch (cmd) {
    case 'version': return version(io, values.json === true);
    case 'completion': return completion(io, arg, spec);
    case 'check-config': return (await import('./cli/config-commands.js')).checkConfig(io, positionals[0] ?? configPath(undefined, env), env,
      { json: values.json === true, strict: values.strict === true, offline: values.offline === true });
    case 'show-config': return (await import('./cli/config-commands.js')).showConfig(io, positionals[0] ?? configPath(undefined, env), env,
      { json: values.json === true, offline: values.offline === true });
    case 'run': return (await import('./cli/run.js')).run(io, configPath(values.config, env), values);
    case 'status': return values.check === true ? (await d()).statusCheck(io, sock()) : (await d()).query(io, 'status', sock(), values.json === true);
    case 'list-sas': return (await d()).query(io, 'list-sas', sock(), values.json === true);
    case 'rekey': return (await d()).rekey(io, arg, values.ike === true, values.wait === true, sock());
    case 'monitor': return (await d()).monitor(io, sock());
    case 'reload': return (await d()).reload(io, sock());
    case 'up': case 'down': {
      const timeout = values.timeout === undefined ? DEFAULT_WAIT_S : Number(values.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) return usageError(io, `--timeout takes seconds, 1 to 3600 (got '${String(values.timeout)}')`, spec);
      if (values.timeout !== undefined && values.wait !== true) return usageError(io, '--timeout only makes sense with --wait', spec);
      return (await d()).upDown(io, cmd, arg, sock(), { wait: values.wait === true, timeout });
    }
    default: return usageError(io, `'${cmd}' is in the command table but not implemented — please report this`);
  }
}

/** `help [COMMAND]`; `help --man` prints the man page (the package build installs it). */
async function help(io: CliIo, rest: string[]): Promise<number> {
  const name = rest.find((a) => !a.startsWith('-'));
  if (rest.includes('--man')) {
    const { manPage } = await import('./cli/manpage.js');
    // SOURCE_DATE_EPOCH (reproducible builds): the package's date, not the build's.
    const epoch = Number((io.env ?? process.env).SOURCE_DATE_EPOCH);
    io.stdout.write(manPage(packageVersion(), new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : Date.now()).toISOString().slice(0, 10)));
    return 0;
  }
  if (name === undefined) {
    io.stdout.write(usageText());
    return 0;
  }
  const c = command(name);
  if (c === undefined) return usageError(io, `no command '${name}'; the commands are ${COMMANDS.map((x) => x.name).join(', ')}`);
  io.stdout.write(commandHelp(c));
  return 0;
}

async function completion(io: CliIo, shell: string, spec: CommandSpec): Promise<number> {
  const { bashCompletion, zshCompletion } = await import('./cli/completion.js');
  if (shell === 'bash') io.stdout.write(bashCompletion());
  else if (shell === 'zsh') io.stdout.write(zshCompletion());
  else return usageError(io, `completion is for bash or zsh, not '${shell}'`, spec);
  return 0;
}

function version(io: CliIo, asJson: boolean): number {
  const nf = nativeFastPath();
  if (asJson) {
    io.stdout.write(`${JSON.stringify({ version: packageVersion(), nativeFastPath: nf.loaded, nativeFastPathReason: nf.reason })}\n`);
  } else {
    io.stdout.write(`branchgate ${packageVersion()}\nnative fast path: ${nf.loaded ? 'loaded' : `not loaded (${nf.reason})`}\n`);
  }
  return 0;
}

/** Run only when executed as the program (bin/branchgate.js or dist/cli.js), not when imported by tests. */
function isEntry(): boolean {
  const a = process.argv[1];
  if (a === undefined) return false;
  try {
    const real = realpathSync(a);
    return real === fileURLToPath(import.meta.url) || /[\\/]bin[\\/]branchgate(\.js)?$/.test(real);
  } catch {
    return false;
  }
}

if (isEntry()) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
      // Belt and braces: a forgotten handle must not keep a finished CLI (or daemon) alive.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      process.stderr.write(`branchgate: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\nplease report this\n`);
      process.exitCode = 1;
    },
  );
}
