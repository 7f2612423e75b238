/**
 * check-config and show-config: the config loader (src/config-file.ts) run by hand.
 * check-config exits 0 valid, 2 invalid (or, with --strict, any warning); --json prints one
 * document for CI: {file, ok, tunnels, errors[], warnings[]} with FILE/LINE/COL per issue.
 */
import type { ConfigIssue } from '../config/load.js';
import { ConfigLoadError, loadConfig, type LoadedConfig } from '../config-file.js';
import { showConfigText } from './show-config.js';
import type { CliIo } from './io.js';

export interface CheckOptions {
  json: boolean;
  strict: boolean;
  offline: boolean;
}

/** A warning about the host (not the file): the privileges user is unknown here. */
function hostIssue(file: string, message: string): ConfigIssue {
  return { file, line: 1, col: 1, path: 'privileges', message };
}

export async function checkConfig(io: CliIo, file: string, env: NodeJS.ProcessEnv, o: CheckOptions): Promise<number> {
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(file, env, { offline: o.offline });
  } catch (err) {
    if (!(err instanceof ConfigLoadError)) throw err;
    if (o.json) io.stdout.write(`${JSON.stringify({ file, ok: false, tunnels: null, errors: err.details, warnings: [] }, null, 2)}\n`);
    else for (const line of err.issues) io.stderr.write(`${line}\n`);
    return 2;
  }
  const { config } = loaded;
  const warnings = [...loaded.warningDetails];
  const lines = [...loaded.warnings];
  // Host checks make no sense where the config is only checked (--offline: another machine).
  if (config.privileges && !o.offline) {
    const w = await privilegesWarning(config.privileges.user, config.privileges.group);
    if (w !== null) {
      warnings.push(hostIssue(file, w));
      lines.push(w);
    }
  }
  const failed = o.strict && warnings.length > 0;
  const n = config.tunnels.length;
  if (o.json) {
    io.stdout.write(`${JSON.stringify({ file, ok: !failed, tunnels: n, errors: [], warnings }, null, 2)}\n`);
    return failed ? 2 : 0;
  }
  if (!failed) io.stdout.write(`${file}: ok (${n} tunnel${n === 1 ? '' : 's'})${o.offline ? ', secrets not checked (--offline)' : ''}\n`);
  for (const w of lines) io.stderr.write(`warning: ${w}\n`);
  if (failed) io.stderr.write(`${file}: ${warnings.length} warning${warnings.length === 1 ? '' : 's'}, which --strict treats as errors\n`);
  return failed ? 2 : 0;
}

/**
 * A config may be checked on another machine than the one that runs it, so a user or group this
 * host does not know is a warning here; `branchgate run` on such a host exits 2 at start.
 */
async function privilegesWarning(user: string, group: string | undefined): Promise<string | null> {
  const { resolveIdentity, PrivilegeError } = await import('../native/privileges.js');
  try {
    resolveIdentity(user, group);
    return null;
  } catch (err) {
    if (!(err instanceof PrivilegeError)) throw err;
    if (err.code === 'unknown-user' || err.code === 'unknown-group') {
      return `privileges: ${err.message}; \`branchgate run\` on this host would exit 2 (create it, or check the config on the host that runs it)`;
    }
    return `privileges: could not check the user on this host (${err.message})`;
  }
}

export function showConfig(io: CliIo, file: string, env: NodeJS.ProcessEnv, o: { json: boolean; offline: boolean }): number {
  try {
    const { config, warnings } = loadConfig(file, env, { offline: o.offline });
    io.stdout.write(showConfigText(config, o.json));
    for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof ConfigLoadError)) throw err;
    for (const line of err.issues) io.stderr.write(`${line}\n`);
    return 2;
  }
}
