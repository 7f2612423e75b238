# Built by `npm install` / `npm ci` (the "install" script in package.json runs
# scripts/build-native.mjs, i.e. `node-gyp rebuild --directory native`). node-gyp compiles against
# the running Node's own headers (npm's `nodedir`), so nothing is downloaded. Output:
# native/build/Release/branchgate_native.node, loaded by src/net/tun.ts (TUN) and
# src/native/esp-native.ts (ESP, dataplane) and src/native/privileges.ts (user switch, capabilities).
#
# Crypto: esp.c includes <openssl/evp.h> from node-gyp's include dir, i.e. the headers of the
# OpenSSL that Node links statically and re-exports; the symbols resolve against the node
# executable at dlopen time (no -lcrypto, no crypto library shipped). The cipher table is
# src/esp_ciphers.c (docs/architecture-crypto.md).
{
  "targets": [
    {
      "target_name": "branchgate_native",
      "sources": ["src/tun.c", "src/esp.c", "src/esp_replay.c", "src/esp_ciphers.c", "src/esp_aead_evp.c", "src/esp_hmac.c", "src/esp_napi.c", "src/inner.c", "src/dp.c", "src/dp_io.c", "src/dp_sock.c", "src/dp_napi.c", "src/priv.c", "src/notify.c"],
      # Node-API 8: async cleanup hooks and object type tags, both used by tun.c.
      # Node 20 implements up to 9; pinning 8 keeps the addon loadable on any Node >= 12.22.
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=30000", "OPENSSL_NO_DEPRECATED"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
      "ldflags": ["-pthread"],
      "conditions": [
        # TUN and the I/O threads are Linux-only (TUN, recvmmsg, UDP GSO/GRO, SO_REUSEPORT
        # steering). Elsewhere build nothing rather than fail `npm install`: the loaders then
        # report the addon as missing and the daemon uses the TypeScript datapath.
        ['OS!="linux"', { "type": "none", "sources!": ["src/tun.c", "src/esp.c", "src/esp_replay.c", "src/esp_ciphers.c", "src/esp_aead_evp.c", "src/esp_hmac.c", "src/esp_napi.c", "src/inner.c", "src/dp.c", "src/dp_io.c", "src/dp_sock.c", "src/dp_napi.c", "src/priv.c", "src/notify.c"] }]
      ]
    }
  ]
}
