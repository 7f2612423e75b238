/**
 * Log hygiene: no PSK or key byte appears in any log line, at `trace`,
 * whatever shape it arrives in. Each case logs a realistic object and the test searches every
 * line for the PSK and the key in raw, hex (both cases), base64 and JSON-number form.
 *
 * Two loggers run the same cases:
 * - `createLogger` from src/log.ts as it is. Cases it still leaks are marked `it.fails`; they
 *   become plain `it` once log.ts applies the src/log-redact.ts patch (see that file and the
 *   issue-7 report), and vitest will flag them until then flipped.
 * - the same pino setup with `redactingOptions()` from src/log-redact.ts (the proposed patch),
 *   which must pass every case.
 */
import { describe, expect, it } from 'vitest';
import { pino, type Logger } from 'pino';
import { createLogger, logAction, tunnelLogger } from '../../src/log.js';
import { SecretRedactor, redactValue, redactingOptions } from '../../src/log-redact.js';
import { Secret } from '../../src/secret.js';
import type { ChildSaInfo, ChildSaKeys } from '../../src/ike/actions.js';

const PSK = 'gsa-Tr0ub4dor&3-correct-horse-battery';
/** Distinctive key bytes: none is an ASCII digit or letter run that could occur by chance. */
const KEY = Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 0x13, 0x37, 0xc0, 0xff, 0xee, 0x42, 0x99, 0x01, 0xfa, 0xce, 0xb0, 0x0c,
  0x5a, 0xa5, 0x3c, 0xc3, 0x81, 0x18, 0x7e, 0xe7, 0x66, 0x24, 0x90, 0x09, 0xab, 0xba, 0xcd, 0xdc]);

/** Every form the PSK or the key could take in a JSON line. */
function needles(): string[] {
  const psk = Buffer.from(PSK);
  const key = Buffer.from(KEY);
  const first = [...KEY.subarray(0, 6)];
  return [
    PSK, psk.toString('hex'), psk.toString('hex').toUpperCase(), psk.toString('base64').replace(/=+$/, ''),
    key.toString('hex'), key.toString('hex').toUpperCase(), key.toString('base64').replace(/=+$/, ''),
    key.toString('latin1'), JSON.stringify(key.toString('latin1')).slice(1, -1),
    first.join(','), // Buffer#toJSON: {"type":"Buffer","data":[222,173,…]}
    first.map((b, i) => `"${i}":${b}`).join(','), // a Uint8Array through JSON.stringify: {"0":222,"1":173,…}
  ];
}

function childInfo(): ChildSaInfo {
  return {
    tunnel: 'gsa-primary', spiIn: 0xc1f2a3b4, spiOut: 0xbeef, encrId: 20, encrKeyBits: 256, integId: 0, esn: false,
    encr: 'AES_GCM_16_256', integ: null, localTs: ['0.0.0.0/0'], remoteTs: ['0.0.0.0/0'],
    local: { address: '192.0.2.10', port: 4500 }, remote: { address: '20.245.111.21', port: 4500 },
    encap: true, installedAt: 0, rekeyAt: 0,
  };
}
const childKeys = (): ChildSaKeys => ({ encrIn: KEY, integIn: new Uint8Array(0), encrOut: Buffer.from(KEY), integOut: KEY.slice() });

interface Case {
  name: string;
  log: (l: Logger) => void;
  /** Leaks through src/log.ts as it is today (flips to false with the log-redact patch). */
  leaksToday?: boolean;
}

const CASES: Case[] = [
  {
    name: 'Secret values in fields, nested objects, arrays and child bindings',
    log: (l) => {
      const psk = Secret.fromString(PSK);
      l.info({ psk, tunnel: { config: { auth: { psk } } }, list: [psk, { psk }] }, 'config loaded');
      tunnelLogger(l.child({ cfg: { psk } }), 'gsa-primary').trace({ psk }, 'child logger');
    },
  },
  {
    name: 'Uint8Array and Buffer keys, ChildSaKeys and the install-child action',
    log: (l) => {
      l.debug({ key: KEY, buf: Buffer.from(KEY), ab: KEY.buffer, view: new DataView(KEY.buffer) }, 'raw keys');
      l.trace({ keys: childKeys() }, 'child keys');
      l.trace({ action: { kind: 'install-child', child: childInfo(), keys: childKeys() } }, 'performing action');
    },
  },
  {
    name: 'an engine log action at trace with its fields',
    log: (l) => logAction(l, { kind: 'log', level: 'trace', tunnel: 'gsa-primary', msg: 'child SA selected', fields: { spiIn: 'c1f2a3b4' } }),
  },
  {
    name: 'an Error carrying a key field',

    log: (l) => l.error({ err: Object.assign(new Error('install failed'), { key: KEY }) }, 'datapath'),
  },
  {
    name: 'an Error passed as the first argument, with a Buffer field',

    log: (l) => l.error(Object.assign(new Error('seal failed'), { material: Buffer.from(KEY) })),
  },
  {
    name: 'an Error whose cause object carries the PSK bytes and the keys',

    log: (l) => {
      const err = new Error('IKE_AUTH failed');
      (err as Error & { cause: unknown }).cause = { psk: Buffer.from(PSK), keys: childKeys() };
      l.error({ err }, 'auth');
    },
  },
  {
    name: 'an Error with a nested Error cause carrying the PSK as a Secret and a key',
    log: (l) => {
      const inner = Object.assign(new Error('AUTH payload mismatch'), { psk: Secret.fromString(PSK), skPi: Secret.fromString('x'.repeat(8)) });
      l.error({ err: new Error('IKE_AUTH failed', { cause: new Error('verify', { cause: inner }) }) }, 'auth');
    },
  },
  {
    name: 'AggregateError members with key fields',

    log: (l) => l.warn({ err: new AggregateError([Object.assign(new Error('a'), { key: KEY })], 'several SAs failed') }, 'rekey'),
  },
  {
    name: 'an Error under another key than err',

    log: (l) => l.warn({ failure: Object.assign(new Error('x'), { keys: childKeys() }) }, 'other key'),
  },
  {
    name: 'the PSK interpolated into an error message and a log message',

    log: (l) => {
      l.error({ err: new Error(`PSK ${PSK} rejected`) }, 'auth');
      l.error(new Error(`PSK ${PSK} rejected`)); // pino takes msg from the error
      l.error({ err: new Error(`PSK ${PSK} rejected`) });
      l.info(`loaded psk ${PSK}`);
    },
  },
  {
    name: 'format-string arguments (%s, %j, %o)',

    log: (l) => {
      l.info('psk %s', PSK);
      l.info('keys %j', childKeys());
      l.info('key %o', { key: KEY });
    },
  },
  {
    name: 'objects nested deeper than the walk',
    log: (l) => l.info({ a: { b: { c: { d: { e: { f: { g: { key: KEY, psk: Secret.fromString(PSK) } } } } } } } }, 'deep'),
  },
];

class Sink {
  lines: string[] = [];
  write(s: string): void {
    for (const line of s.split('\n')) if (line) this.lines.push(line);
  }
}

/** What the daemon does at start and on reload: register every tunnel's PSK. */
function pskRedactor(): SecretRedactor {
  const r = new SecretRedactor();
  r.add(Secret.fromString(PSK));
  return r;
}

function assertClean(lines: string[]): void {
  expect(lines.length).toBeGreaterThan(0);
  for (const line of lines) {
    for (const n of needles()) expect(line, `leaked ${JSON.stringify(n)}`).not.toContain(n);
  }
}

/** src/log.ts's createLogger options with the proposed patch (redactingOptions merged in). */
function hardenedLogger(sink: Sink, redactor: SecretRedactor): Logger {
  const r = redactingOptions(redactor);
  return pino({
    level: 'trace',
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: r.serializers,
    hooks: r.hooks,
    formatters: { level: (label) => ({ level: label }), log: r.formatters.log, bindings: r.formatters.bindings },
  }, sink);
}

describe('log hygiene: src/log.ts createLogger as it is', () => {
  for (const c of CASES) {
    const test = it;
    test(`${c.leaksToday ? '[leaks until log.ts applies log-redact] ' : ''}${c.name}`, () => {
      const sink = new Sink();
      // `redactor` is the option the patch adds (ignored by log.ts until then; the cast keeps
      // this file compiling on both sides of the patch).
      c.log(createLogger({ level: 'trace', stream: sink, redactor: pskRedactor() } as Parameters<typeof createLogger>[0]));
      assertClean(sink.lines);
    });
  }
});

describe('log hygiene: with src/log-redact.ts (the proposed log.ts patch)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const sink = new Sink();
      c.log(hardenedLogger(sink, pskRedactor()));
      assertClean(sink.lines);
    });
  }

  it('keeps what operators need: messages, error type/message/stack, sizes instead of bytes', () => {
    const sink = new Sink();
    const redactor = new SecretRedactor();
    redactor.add(Secret.fromString(PSK));
    const log = hardenedLogger(sink, redactor);
    log.error({ err: Object.assign(new Error('install failed', { cause: new Error('EINVAL') }), { code: 'E_SA', key: KEY }) }, 'datapath');
    log.error(new Error(`PSK ${PSK} rejected`));
    log.info({ psk: Secret.fromString(PSK), keys: childKeys() }, 'keys %s', 'installed');
    const [a, b, c] = sink.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toMatchObject({ msg: 'datapath', err: { type: 'Error', message: 'install failed: EINVAL', code: 'E_SA', key: '(32 bytes)' } });
    expect((a!.err as { stack: string }).stack).toMatch(/^Error: install failed\n[\s\S]*caused by: Error: EINVAL/);
    expect(b).toMatchObject({ msg: 'PSK (hidden) rejected', err: { message: 'PSK (hidden) rejected' } });
    expect(c).toMatchObject({ msg: 'keys installed', psk: '(hidden)', keys: { encrIn: '(32 bytes)', integIn: '(0 bytes)' } });
  });

  it('redacts registered secrets in raw, hex and base64 form; ignores values too short to be secrets', () => {
    const r = new SecretRedactor();
    r.add(Secret.fromString(PSK));
    r.add(KEY);
    r.add('abc');
    const psk = Buffer.from(PSK);
    expect(r.redact(`a ${PSK} b ${psk.toString('hex')} c ${psk.toString('base64')} d ${Buffer.from(KEY).toString('base64url')} e abc`))
      .toBe('a (hidden) b (hidden) c (hidden) d (hidden) e abc');
    expect(redactValue({ list: [`x${PSK}`], n: 1, d: new Date(0) }, r)).toEqual({ list: ['x(hidden)'], n: 1, d: '1970-01-01T00:00:00.000Z' });
  });
});
