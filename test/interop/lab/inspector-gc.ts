/**
 * A full garbage collection in a daemon started with `--inspect=ADDR` (a Node flag, so nothing in
 * src/ changes): a small Node client inside the daemon's namespace (the inspector listens on that
 * namespace's loopback only) sends the DevTools protocol's `HeapProfiler.collectGarbage` and
 * disconnects. Memory compared right after one measures what is retained, not how much garbage
 * V8 happened to keep: after a flood, or for a whole 30-minute soak, V8 can go without a major
 * collection. Used by the hostile-traffic test and the soak.
 */
import { exec } from './netns.js';

/**
 * `rounds` collections over the inspector of the only Node process listening on `inspect` in
 * `ns`. Node 20's WebSocket client is behind --experimental-websocket.
 */
export async function collectGarbage(ns: string, inspect: string, rounds = 1): Promise<void> {
  const js = `
    const fail = (m) => { console.error(m); process.exit(1); };
    setTimeout(() => fail('no answer from the inspector in 15 s'), 15000).unref();
    fetch('http://${inspect}/json/list').then((r) => r.json()).then((list) => {
      const url = list[0] && list[0].webSocketDebuggerUrl;
      if (!url) fail('the inspector lists no target: ' + JSON.stringify(list));
      const ws = new WebSocket(url);
      let id = 1;
      ws.onopen = () => ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' }));
      ws.onmessage = (m) => {
        const r = JSON.parse(String(m.data));
        if (r.id !== id) return;
        if (r.error) fail('collectGarbage: ' + JSON.stringify(r.error));
        if (id < ${rounds}) { id++; ws.send(JSON.stringify({ id, method: 'HeapProfiler.collectGarbage' })); return; }
        ws.close();
        process.exit(0);
      };
      ws.onerror = (e) => fail('inspector websocket: ' + (e.message || e.type));
    }, (e) => fail('inspector at ${inspect}: ' + e.message));`;
  await exec(ns, [process.execPath, '--experimental-websocket', '--no-warnings', '-e', js], { timeoutMs: 20_000 });
}
