#!/usr/bin/env node
// Builds native/ with node-gyp against the headers of the Node that runs this script, so the
// build never tries to download headers (nothing may be fetched at install time). npm passes its
// bundled node-gyp in npm_config_node_gyp during lifecycle scripts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const prefix = dirname(dirname(process.execPath));
const nodedir = process.env.npm_config_nodedir || (existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? prefix : '');
if (!nodedir) {
  console.error(`build-native: Node's headers are not under ${prefix}/include/node; install them (Debian: the nodejs/libnode-dev headers) or set npm_config_nodedir`);
  process.exit(1);
}
const gyp = process.env.npm_config_node_gyp;
const [cmd, pre] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
const r = spawnSync(cmd, [...pre, 'rebuild', '--directory', 'native', `--nodedir=${nodedir}`], { stdio: 'inherit' });
process.exit(r.status ?? 1);
