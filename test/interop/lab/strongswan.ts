/**
 * One strongSwan charon per network namespace (docs/testing.md): its own mount
 * namespace with a private /run and bind-mounted strongswan.conf and swanctl dir, the
 * kernel-libipsec userspace datapath (the kernel here has no ESP/GCM), and a vici socket in a temp
 * dir that swanctl on the host talks to. Logs stay in the temp dir; print `logSince()` on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { charonBinary, makeTempDir, removeTempDir, run, tailFile, trackProcess, waitFor, type ExecResult } from './netns.js';

/** Typed description of one swanctl connection with one child. */
export interface SwanConn {
  name: string;
  localAddrs: string;
  remoteAddrs: string;
  localId: string;
  remoteId: string;
  psk: string;
  /** IKE proposals, strongSwan syntax, e.g. ['aes256gcm16-prfsha384-modp2048s256']. */
  proposals: string[];
  espProposals: string[];
  /** encap = yes: fake NAT-D so UDP encapsulation is forced. */
  encap?: boolean;
  /** Child start_action (default none). */
  startAction?: 'none' | 'start' | 'trap';
  localTs: string[];
  remoteTs: string[];
  /** Child name (default 'net'). */
  child?: string;
  /** Extra connection-level / child-level keys, one `key = value` line each. */
  extra?: Record<string, string>;
  childExtra?: Record<string, string>;
}

export function strongswanConf(p: { logPath: string; vici: string; levels?: Record<string, number> }): string {
  const levels = { default: 1, ike: 2, cfg: 1, ...(p.levels ?? {}) };
  return [
    'charon {',
    '  load = random nonce openssl aes sha2 hmac gcm curve25519 kdf pem pkcs1 x509 pubkey socket-default kernel-libipsec kernel-netlink vici updown',
    // fail fast against a broken peer (about 7 s instead of the default 165 s)
    '  retransmit_timeout = 1.0',
    '  retransmit_base = 1.4',
    '  retransmit_tries = 3',
    '  filelog {',
    '    lab {',
    `      path = ${p.logPath}`,
    '      flush_line = yes',
    ...Object.entries(levels).map(([k, v]) => `      ${k} = ${v}`),
    '    }',
    '  }',
    '  plugins {',
    '    vici {',
    `      socket = unix://${p.vici}`,
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
}

export function swanctlConf(conns: SwanConn[]): string {
  const o: string[] = ['connections {'];
  const kv = (ind: string, rec: Record<string, string> | undefined): string[] =>
    Object.entries(rec ?? {}).map(([k, v]) => `${ind}${k} = ${v}`);
  for (const c of conns) {
    o.push(`  ${c.name} {`, '    version = 2', `    local_addrs = ${c.localAddrs}`, `    remote_addrs = ${c.remoteAddrs}`);
    o.push(`    proposals = ${c.proposals.join(', ')}`, '    mobike = no', `    encap = ${c.encap ? 'yes' : 'no'}`);
    o.push(...kv('    ', c.extra));
    o.push('    local {', '      auth = psk', `      id = ${c.localId}`, '    }');
    o.push('    remote {', '      auth = psk', `      id = ${c.remoteId}`, '    }');
    o.push('    children {', `      ${c.child ?? 'net'} {`, `        local_ts = ${c.localTs.join(', ')}`);
    o.push(`        remote_ts = ${c.remoteTs.join(', ')}`, `        esp_proposals = ${c.espProposals.join(', ')}`);
    o.push(`        start_action = ${c.startAction ?? 'none'}`, ...kv('        ', c.childExtra), '      }', '    }', '  }');
  }
  o.push('}', '', 'secrets {');
  conns.forEach((c, i) => {
    o.push(`  ike-${i} {`, `    id-local = ${c.localId}`, `    id-remote = ${c.remoteId}`);
    o.push(`    secret = "${c.psk.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`, '  }');
  });
  o.push('}', '');
  return o.join('\n');
}

// ---------------------------------------------------------------------------------------------
// `swanctl --list-sas --raw` (vici message dump) parsing.

export type ViciValue = string | string[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

/**
 * Parses one raw vici dump such as `{lab {uniqueid=1 ... child-sas {net-1 {... local-ts=[a b]}}}}`.
 * Values must not contain blanks, braces, brackets or '=' (true for everything this lab configures).
 */
export function parseViciRaw(text: string): ViciSection {
  const t = text.match(/[{}[\]=]|[^\s{}[\]=]+/g) ?? [];
  let i = 0;
  const section = (): ViciSection => {
    const s: ViciSection = {};
    for (;;) {
      const k = t[i++];
      if (k === undefined || k === '}') return s;
      if (t[i] === '{') {
        i++;
        s[k] = section();
      } else if (t[i] === '=') {
        i++;
        if (t[i] === '[') {
          const list: string[] = [];
          for (i++; t[i] !== ']' && t[i] !== undefined; i++) list.push(t[i] as string);
          i++;
          s[k] = list;
        } else if (t[i + 1] === '=' || t[i + 1] === '{' || t[i] === '}') s[k] = ''; // empty value
        else s[k] = t[i++] as string;
      } else throw new Error(`vici dump: unexpected token ${String(t[i])} after ${k} in ${text}`);
    }
  };
  if (t[i++] !== '{') throw new Error(`vici dump must start with '{': ${text}`);
  return section();
}

export interface SwanChildSa {
  name: string; uniqueId: string; state: string; mode: string; protocol: string;
  encap: boolean; spiIn: string; spiOut: string;
  encrAlg: string; encrKeysize?: number; integAlg?: string; esn: boolean;
  localTs: string[]; remoteTs: string[];
  /** vici bytes-in/bytes-out/packets-in/packets-out (0 when absent). */
  bytesIn: number; bytesOut: number; packetsIn: number; packetsOut: number;
  raw: ViciSection;
}

export interface SwanIkeSa {
  name: string; uniqueId: string; state: string;
  localHost: string; localPort: number; localId: string;
  remoteHost: string; remotePort: number; remoteId: string;
  initiator: boolean; initiatorSpi: string; responderSpi: string;
  encrAlg: string; encrKeysize?: number; integAlg?: string; prfAlg: string; dhGroup: string;
  /** vici nat-local (we are behind NAT), nat-remote (peer is), nat-fake (we forced encap), nat-any. */
  natLocal: boolean; natRemote: boolean; natFake: boolean; natAny: boolean;
  children: SwanChildSa[];
  raw: ViciSection;
}

const str = (s: ViciSection, k: string): string => (typeof s[k] === 'string' ? (s[k] as string) : '');
const opt = (s: ViciSection, k: string): string | undefined => (typeof s[k] === 'string' ? (s[k] as string) : undefined);
const num = (s: ViciSection, k: string): number | undefined => (typeof s[k] === 'string' ? Number(s[k]) : undefined);
const yes = (s: ViciSection, k: string): boolean => s[k] === 'yes' || s[k] === '1';
const list = (s: ViciSection, k: string): string[] => (Array.isArray(s[k]) ? (s[k] as string[]) : []);

function toChild(c: ViciSection): SwanChildSa {
  return {
    name: str(c, 'name'), uniqueId: str(c, 'uniqueid'), state: str(c, 'state'), mode: str(c, 'mode'),
    protocol: str(c, 'protocol'), encap: yes(c, 'encap'), spiIn: str(c, 'spi-in'), spiOut: str(c, 'spi-out'),
    encrAlg: str(c, 'encr-alg'), encrKeysize: num(c, 'encr-keysize'), integAlg: opt(c, 'integ-alg'),
    esn: yes(c, 'esn'), localTs: list(c, 'local-ts'), remoteTs: list(c, 'remote-ts'),
    bytesIn: num(c, 'bytes-in') ?? 0, bytesOut: num(c, 'bytes-out') ?? 0,
    packetsIn: num(c, 'packets-in') ?? 0, packetsOut: num(c, 'packets-out') ?? 0, raw: c,
  };
}

/** Parses the whole `swanctl --list-sas --raw` output (one `list-sa event {…}` line per IKE SA). */
export function parseListSas(output: string): SwanIkeSa[] {
  const sas: SwanIkeSa[] = [];
  for (const line of output.split('\n')) {
    const m = /^list-sa event (\{.*\})\s*$/.exec(line.trim());
    if (!m?.[1]) continue;
    for (const [name, v] of Object.entries(parseViciRaw(m[1]))) {
      if (typeof v !== 'object' || Array.isArray(v)) continue;
      const kids = v['child-sas'];
      sas.push({
        name, uniqueId: str(v, 'uniqueid'), state: str(v, 'state'),
        localHost: str(v, 'local-host'), localPort: Number(str(v, 'local-port')), localId: str(v, 'local-id'),
        remoteHost: str(v, 'remote-host'), remotePort: Number(str(v, 'remote-port')), remoteId: str(v, 'remote-id'),
        initiator: yes(v, 'initiator'), initiatorSpi: str(v, 'initiator-spi'), responderSpi: str(v, 'responder-spi'),
        encrAlg: str(v, 'encr-alg'), encrKeysize: num(v, 'encr-keysize'), integAlg: opt(v, 'integ-alg'),
        prfAlg: str(v, 'prf-alg'), dhGroup: str(v, 'dh-group'),
        natLocal: yes(v, 'nat-local'), natRemote: yes(v, 'nat-remote'), natFake: yes(v, 'nat-fake'), natAny: yes(v, 'nat-any'),
        children: kids && typeof kids === 'object' && !Array.isArray(kids)
          ? Object.values(kids).filter((c): c is ViciSection => typeof c === 'object' && !Array.isArray(c)).map(toChild)
          : [],
        raw: v,
      });
    }
  }
  return sas;
}

// ---------------------------------------------------------------------------------------------
// The daemon.

export class Charon {
  readonly dir: string;
  readonly logPath: string;
  readonly vici: string;
  readonly confFile: string;
  private proc: ChildProcess | undefined;
  private levels: Record<string, number> | undefined;

  private constructor(readonly ns: string, tag: string) {
    this.dir = makeTempDir(`sw${tag}`);
    this.logPath = join(this.dir, 'charon.log');
    this.vici = join(this.dir, 'charon.vici');
    this.confFile = join(this.dir, 'swanctl', 'swanctl.conf');
  }

  /** Starts charon in `ns`; `levels` overrides filelog levels (e.g. { ike: 4, chd: 4 }). */
  static async start(ns: string, opts: { tag?: string; levels?: Record<string, number> } = {}): Promise<Charon> {
    const c = new Charon(ns, opts.tag ?? ns);
    await c.launch(opts.levels);
    return c;
  }

  private async launch(levels?: Record<string, number>, keepConns = false): Promise<void> {
    const bin = charonBinary();
    if (!bin) throw new Error('no charon binary (apt-get install -y charon-systemd)');
    this.levels = levels;
    mkdirSync(join(this.dir, 'swanctl'), { recursive: true });
    writeFileSync(join(this.dir, 'strongswan.conf'), strongswanConf({ logPath: this.logPath, vici: this.vici, levels }));
    if (!keepConns || !existsSync(this.confFile)) writeFileSync(this.confFile, swanctlConf([]));
    const script = 'mount -t tmpfs none /run && mount --bind "$1/strongswan.conf" /etc/strongswan.conf && ' +
      'mount --bind "$1/swanctl" /etc/swanctl && exec "$2"';
    const out = openSync(join(this.dir, 'charon.out'), 'a');
    const argv = ['netns', 'exec', this.ns, 'unshare', '-m', '--propagation', 'private', 'sh', '-c', script, 'sh', this.dir, bin];
    this.proc = spawn('ip', argv, { stdio: ['ignore', out, out] });
    closeSync(out);
    trackProcess(this.proc);
    const proc = this.proc;
    await waitFor(`charon in ${this.ns} to open ${this.vici}`, async () => {
      if (proc.exitCode !== null) throw new Error(`charon exited ${proc.exitCode}: ${tailFile(join(this.dir, 'charon.out'), 20)}`);
      if (!existsSync(this.vici)) return undefined;
      return (await this.swanctl(['--stats'], { allowFail: true })).code === 0 ? true : undefined;
    }, 15_000, 100);
  }

  swanctl(args: string[], o: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<ExecResult> {
    return run(['swanctl', ...args, '--uri', `unix://${this.vici}`], { timeoutMs: o.timeoutMs ?? 20_000, allowFail: o.allowFail });
  }

  /** Rewrites swanctl.conf; call loadAll() to apply (connections not in the file are unloaded). */
  writeConns(conns: SwanConn[]): void {
    writeFileSync(this.confFile, swanctlConf(conns));
  }

  async loadAll(): Promise<string> {
    return (await this.swanctl(['--load-all', '--noprompt', '--file', this.confFile])).stdout;
  }

  /** `swanctl --initiate --child CHILD [--ike IKE]`; resolves when the exchange completed. */
  async initiate(child: string, ike?: string, timeoutS = 15): Promise<string> {
    const a = ['--initiate', '--child', child, ...(ike ? ['--ike', ike] : []), '--timeout', String(timeoutS)];
    return (await this.swanctl(a, { timeoutMs: (timeoutS + 5) * 1000 })).stdout;
  }

  async terminate(ike: string, force = true): Promise<void> {
    await this.swanctl(['--terminate', '--ike', ike, ...(force ? ['--force'] : []), '--timeout', '5'], { allowFail: true });
  }

  /** Terminates every IKE SA (by unique id, forced: the peer may already be gone). */
  async terminateAll(): Promise<void> {
    for (const sa of await this.listSas()) {
      await this.swanctl(['--terminate', '--ike-id', sa.uniqueId, '--force', '--timeout', '5'], { allowFail: true });
    }
    await waitFor('all IKE SAs gone', async () => ((await this.listSas()).length === 0 ? true : undefined), 10_000);
  }

  async listSas(): Promise<SwanIkeSa[]> {
    return parseListSas((await this.swanctl(['--list-sas', '--raw'])).stdout);
  }

  /** Waits for an ESTABLISHED IKE SA (optionally named) with at least one INSTALLED child. */
  waitEstablished(ike?: string, timeoutMs = 20_000): Promise<SwanIkeSa> {
    return waitFor(`strongSwan IKE SA ${ike ?? '(any)'} established with an installed child`, async () =>
      (await this.listSas()).find((s) => (!ike || s.name === ike) && s.state === 'ESTABLISHED' &&
        s.children.some((c) => c.state === 'INSTALLED')), timeoutMs);
  }

  /** Current log size; pass it to logSince() to print only what one test produced. */
  logMark(): number {
    return existsSync(this.logPath) ? statSync(this.logPath).size : 0;
  }

  logSince(mark = 0, lines = 80): string {
    return `--- charon (${this.ns}) ${this.logPath} ---\n${tailFile(this.logPath, lines, mark)}`;
  }

  /** charon's pid (the spawned process execs into charon), while it runs. */
  pid(): number | undefined {
    const p = this.proc;
    return p && p.exitCode === null && p.signalCode === null ? p.pid : undefined;
  }

  /** SIGKILL charon, as a crash or power loss would: no DELETE reaches the peer. Resolves once it is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await exited;
  }

  /** Start charon again in the same namespace and dir, and load the connections last written. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch(this.levels, true);
    await this.loadAll();
  }

  /** Kills charon (its private mount namespace and mounts vanish with it) and removes the temp dir. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (!opts.keepDir) removeTempDir(this.dir);
  }
}
