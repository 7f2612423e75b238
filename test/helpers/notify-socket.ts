/**
 * A systemd-like NOTIFY_SOCKET for tests: a unix datagram socket bound by a small python3 process
 * (Node cannot bind one), each datagram printed as one JSON string per line, as systemd would
 * receive it. A path starting with '@' is an abstract socket, as in $NOTIFY_SOCKET. python3 is there wherever the native addon is built (node-gyp needs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

const RECEIVER = `
import json, os, socket, sys
os.umask(0)  # like systemd's notify socket: any user of the service may send
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\\0" + sys.argv[1][1:] if sys.argv[1].startswith("@") else sys.argv[1])
print(json.dumps("BOUND"), flush=True)
while True:
    print(json.dumps(s.recv(4096).decode("utf-8", "replace")), flush=True)
`;

export class NotifySocket {
  readonly messages: { at: number; text: string }[] = [];
  private constructor(readonly path: string, private readonly proc: ChildProcess) {}

  static async bind(path: string): Promise<NotifySocket> {
    const p = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ns = new NotifySocket(path, p);
    let buf = '';
    let bound!: () => void;
    const ready = new Promise<void>((r) => (bound = r));
    p.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = JSON.parse(buf.slice(0, i)) as string;
        buf = buf.slice(i + 1);
        if (text === 'BOUND') bound();
        else ns.messages.push({ at: Date.now(), text });
      }
    });
    const failed = new Promise<never>((_, rej) => p.once('exit', (c) => rej(new Error(`notify receiver exited (${c}) before binding ${path}`))));
    await Promise.race([ready, failed]);
    if (!path.startsWith('@') && !existsSync(path)) throw new Error(`${path} not bound`);
    return ns;
  }

  /** Every variable assignment received, in order: ["READY=1", "STATUS=…", "WATCHDOG=1", …]. */
  assignments(): string[] {
    return this.messages.flatMap((m) => m.text.split('\n').filter(Boolean));
  }

  close(): void {
    this.proc.kill('SIGKILL');
  }
}
