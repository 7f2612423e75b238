# Built by `npm install` / `npm ci` (the "install" script in package.json runs
# `node-gyp rebuild --directory native`). node-gyp compiles against the running Node's own
# headers (npm's `nodedir`), so nothing is downloaded. Output:
# native/build/Release/branchgate_native.node, loaded by src/net/tun.ts.
{
  "targets": [
    {
      "target_name": "branchgate_native",
      "sources": ["src/tun.c"],
      # Node-API 8: async cleanup hooks and object type tags, both used by tun.c.
      # Node 20 implements up to 9; pinning 8 keeps the addon loadable on any Node >= 12.22.
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        # TUN here means Linux's /dev/net/tun. Elsewhere build nothing rather than fail
        # `npm install`: loadNative() then reports the addon as missing and the daemon
        # falls back to the TypeScript datapath.
        ['OS!="linux"', { "type": "none", "sources!": ["src/tun.c"] }]
      ]
    }
  ]
}
