/**
 * Where the CLI finds the config file and the daemon (docs/cli.md "Finding the daemon"):
 *
 * - config: --config FILE, else $BRANCHGATE_CONFIG, else /etc/branchgate/config.yaml;
 * - socket: --socket PATH, else $BRANCHGATE_SOCKET, else control.socket of that config file
 *   (so a copied example with its own socket still works with plain `branchgate status`), else
 *   /run/branchgate/control.sock.
 *
 * Only control.socket is read here, with a plain YAML parse: the full loader would need the
 * PSK files, which an operator without root may not be able to read.
 */
import { readFileSync, statSync } from 'node:fs';
import { parse } from 'yaml';
import { DEFAULT_CONFIG } from './commands.js';
import { DEFAULT_SOCKET } from '../control/client.js';
import { MAX_CONFIG_BYTES } from '../config/limits.js';

export function configPath(option: unknown, env: NodeJS.ProcessEnv): string {
  return typeof option === 'string' ? option : env.BRANCHGATE_CONFIG || DEFAULT_CONFIG;
}

/** control.socket from the config file, or undefined when it cannot be read or has none. */
export function socketFromConfig(file: string): string | undefined {
  try {
    if (statSync(file).size > MAX_CONFIG_BYTES) return undefined;
    const doc: unknown = parse(readFileSync(file, 'utf8'));
    if (typeof doc !== 'object' || doc === null || !('control' in doc)) return undefined;
    const control = doc.control;
    if (typeof control !== 'object' || control === null || !('socket' in control)) return undefined;
    return typeof control.socket === 'string' && control.socket !== '' ? control.socket : undefined;
  } catch {
    return undefined;
  }
}

export function socketPath(values: { socket?: unknown; config?: unknown }, env: NodeJS.ProcessEnv): string {
  if (typeof values.socket === 'string') return values.socket;
  if (env.BRANCHGATE_SOCKET) return env.BRANCHGATE_SOCKET;
  return socketFromConfig(configPath(values.config, env)) ?? DEFAULT_SOCKET;
}
