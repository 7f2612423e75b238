/**
 * Dependency rules for src/, checked by `npm run depcheck` (part of `npm test`).
 * docs/architecture-engine.md "Dependency rules" says why each rule exists.
 */

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles in src/ (type-only imports count: they couple the modules just the same).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'ike-is-sans-io',
      severity: 'error',
      comment:
        'The IKE core is sans-IO: it imports no sockets, datapath, native addon, control plane, BGP or daemon ' +
        '(docs/architecture-engine.md). The daemon feeds it and performs its actions.',
      from: { path: '^src/ike/' },
      to: { path: '^src/(net|dataplane|native|control|bgp)/|^src/daemon[^/]*\\.ts$' },
    },
    {
      name: 'esp-below-dataplane',
      severity: 'error',
      comment: 'ESP (RFC 4303) is a library the dataplane uses, never the other way round.',
      from: { path: '^src/esp/' },
      to: { path: '^src/dataplane/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
