/**
 * Reading the config file for the daemon (start, reload, the check after the privilege switch)
 * and the CLI (check-config, show-config): an unreadable or oversized file and every schema
 * problem become one ConfigLoadError whose `issues` are the "FILE:LINE:COL: message" lines the
 * CLI prints before exiting 2; `details` holds the same as records for `check-config --json`.
 *
 * loadConfigAsync reads the text without blocking the event loop (reload while tunnels run);
 * files over MAX_CONFIG_BYTES are refused before they are read.
 */
import { readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Config } from './config/types.js';
import { formatIssue, parseConfig, type ConfigIssue, type ParseOptions } from './config/load.js';
import { MAX_CONFIG_BYTES } from './config/limits.js';

/** The config file is invalid or unreadable; `issues` are "FILE:LINE:COL: ..." lines (CLI exit 2). */
export class ConfigLoadError extends Error {
  constructor(readonly issues: string[], readonly details: ConfigIssue[] = []) {
    super(issues.join('\n'));
    this.name = 'ConfigLoadError';
  }
}

export interface LoadedConfig {
  config: Config;
  warnings: string[];
  warningDetails: ConfigIssue[];
}

function fileIssue(path: string, message: string): ConfigLoadError {
  const d: ConfigIssue = { file: path, line: 1, col: 1, path: '', message };
  return new ConfigLoadError([`${path}: ${message}`], [d]);
}

function readError(path: string, err: unknown): ConfigLoadError {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
  return fileIssue(path, `cannot read: ${why} — check the path and permissions`);
}

function sizeError(path: string, size: number): ConfigLoadError {
  return fileIssue(path, `${size} bytes is more than a config may be (${MAX_CONFIG_BYTES} bytes, 1 MiB) — is this the right file?`);
}

function notFile(path: string): ConfigLoadError {
  return fileIssue(path, 'not a regular file — give the path of the YAML config');
}

function parsed(text: string, path: string, env: NodeJS.ProcessEnv, opts: ParseOptions): LoadedConfig {
  const r = parseConfig(text, path, env, opts);
  if (!r.ok) throw new ConfigLoadError(r.errors.map(formatIssue), r.errors);
  return { config: r.config, warnings: r.warnings.map(formatIssue), warningDetails: r.warnings };
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): LoadedConfig {
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw notFile(path);
    if (st.size > MAX_CONFIG_BYTES) throw sizeError(path, st.size);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ConfigLoadError) throw err;
    throw readError(path, err);
  }
  return parsed(text, path, env, opts);
}

/** As loadConfig, the file read asynchronously and at most MAX_CONFIG_BYTES + 1 read (it may grow). */
export async function loadConfigAsync(path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Promise<LoadedConfig> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFile(path);
      if (st.size > MAX_CONFIG_BYTES) throw sizeError(path, st.size);
      const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      let n = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
        if (n > MAX_CONFIG_BYTES) throw sizeError(path, n);
      }
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof ConfigLoadError) throw err;
    throw readError(path, err);
  }
  return parsed(text, path, env, opts);
}
