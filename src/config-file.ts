/**
 * Reading the config file for the daemon (start, reload, the check after the privilege switch):
 * an unreadable file and every schema problem become one ConfigLoadError whose `issues` are the
 * "FILE:LINE:COL: message" lines the CLI prints before exiting 2.
 */
import { readFileSync } from 'node:fs';
import type { Config } from './config/types.js';
import { formatIssue, parseConfig } from './config/load.js';

/** The config file is invalid or unreadable; `issues` are "FILE:LINE:COL: ..." lines (CLI exit 2). */
export class ConfigLoadError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('\n'));
    this.name = 'ConfigLoadError';
  }
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): { config: Config; warnings: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
    throw new ConfigLoadError([`${path}: cannot read: ${why} — check the path and permissions`]);
  }
  const r = parseConfig(text, path, env);
  if (!r.ok) throw new ConfigLoadError(r.errors.map(formatIssue));
  return { config: r.config, warnings: r.warnings.map(formatIssue) };
}
