#!/usr/bin/env node
// Thin launcher so `npx branchgate` works after `npm ci && npm run build`.
import('../dist/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    process.stderr.write('branchgate: dist/ is missing; run `npm run build` first\n');
    process.exit(1);
  }
  throw err;
});
