/**
 * `branchgate run`: the daemon in the foreground. Exit 0 after a clean stop, 2 for a config
 * error (systemd's RestartPreventExitStatus=2: restarting cannot fix a bad file), 1 otherwise.
 */
import type { CliIo } from './io.js';

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** `--user USER[:GROUP]` (names or numbers) as a privileges: section; null when malformed. */
export function parseUserOption(v: string): { user: string; group?: string } | null {
  const m = /^([^:\s]{1,64})(?::([^:\s]{1,64}))?$/.exec(v);
  if (!m) return null;
  return m[2] === undefined ? { user: m[1]! } : { user: m[1]!, group: m[2] };
}

export async function run(io: CliIo, config: string, values: Values): Promise<number> {
  const privileges = typeof values.user === 'string' ? parseUserOption(values.user) : undefined;
  if (privileges === null) {
    io.stderr.write(`branchgate: --user takes USER or USER:GROUP (got '${String(values.user)}')\n`);
    return 2;
  }
  const [{ startDaemon }, { ConfigLoadError }] = await Promise.all([import('../daemon.js'), import('../config-file.js')]);
  try {
    const d = await startDaemon({ configPath: config, ...(typeof values.socket === 'string' ? { socketPath: values.socket } : {}),
      ...(privileges ? { privileges } : {}) });
    await d.closed;
    return 0;
  } catch (err) {
    if (err instanceof ConfigLoadError) {
      for (const line of err.issues) io.stderr.write(`${line}\n`);
      io.stderr.write(`branchgate: fix the config (check it with \`branchgate check-config ${config}\`)\n`);
      return 2;
    }
    io.stderr.write(`branchgate: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
