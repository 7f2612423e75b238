import { inspect } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import fc from 'fast-check';
import { formatIssue, parseConfig } from '../../../src/config/load.js';

/** A distinctive PSK: long enough that it cannot appear in a message by coincidence. */
const pskArb = fc.stringMatching(/^[A-Za-z0-9!#$&*()=+<>?_-]{10,40}$/).map((s) => `S3cr3t${s}`);

const head = `tunnels:
  - name: t
    localAddress: 192.0.2.1
    remoteAddress: 198.51.100.1
`;

/** Configs that put the PSK somewhere and are broken (or not) in some other way. */
const TEMPLATES: ((psk: string) => string)[] = [
  (p) => `${head}    psk: "${p}"\n`,
  (p) => `${head}    psk: "${p}\n`, // unterminated quote: a YAML syntax error on the PSK line
  (p) => `${head}    psk: "${p}" trailing\n`,
  (p) => `${head}    psk: "${p}"\n    psk: "${p}"\n`, // duplicate key
  (p) => `${head}    psk: "${p}"\n    pskFile: x.psk\n`,
  (p) => `${head}    psk: "${p}"\n    dpd: never\n    pks: "${p}"\n`,
  (p) => `${head}    pks: "${p}"\n`,
  (p) => `${head}    psk: ["${p}"]\n`,
  (p) => `${head}    psk: { key: "${p}" }\n`,
  (p) => `${head}    psk: "${p}"\n   bad: indentation\n`,
  (p) => `${head}\tpsk: "${p}"\n`,
  (p) => `${head}    psk: "${p}"\n  - name: t\n    remoteAddress: 198.51.100.1\n    psk: "${p}"\n`,
  (p) => `${head}    pskEnv: BG_PSK\n    ike: [${p}]\n    esp: [aes256gcm16]\n`, // the PSK pasted into the wrong field
];

function allText(r: ReturnType<typeof parseConfig>): string {
  if (!r.ok) return r.errors.map(formatIssue).join('\n');
  return [
    r.warnings.map(formatIssue).join('\n'),
    JSON.stringify(r.config),
    inspect(r.config, { depth: 10 }),
    String(r.config.tunnels[0]?.psk),
  ].join('\n');
}

describe('PSKs never leak', () => {
  it('property: not in any error, warning, JSON or inspect output', () => {
    fc.assert(
      fc.property(pskArb, fc.constantFrom(...TEMPLATES.keys()), (psk, i) => {
        const text = TEMPLATES[i]!(psk);
        // in the last template the PSK text lands in ike:, whose messages echo their input; it
        // must still be scrubbed, because the same text arrives as a PSK through the environment
        const r = parseConfig(text, 'leak.yaml', { BG_PSK: psk });
        expect(allText(r)).not.toContain(psk);
      }),
      { numRuns: 300 },
    );
  });

  it('the valid config really holds the PSK (so the property above is not vacuous)', () => {
    const r = parseConfig(TEMPLATES[0]!('S3cr3t-visible-only-via-reveal'), 'leak.yaml', {});
    expect(r.ok).toBe(true);
    if (r.ok) {
      const psk = r.config.tunnels[0]!.psk;
      expect(new TextDecoder().decode(psk.reveal())).toBe('S3cr3t-visible-only-via-reveal');
      expect(JSON.stringify(r.config)).toContain('"psk":"(hidden)"');
      expect(`${psk}`).toBe('(hidden)');
    }
  });

  it('PSKs from files and the environment stay out of messages too', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bg-leak-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const secret = 'S3cr3t-from-a-file-0042';
    writeFileSync(join(dir, 'k.psk'), secret, { mode: 0o644 });
    const text = `${head}    pskFile: k.psk\n    dpd: ${secret}\n`;
    const r = parseConfig(text, join(dir, 'c.yaml'), {});
    expect(r.ok).toBe(false);
    // dpd echoes its (bad) value, but the text is a PSK we read, so it is scrubbed
    expect(allText(r)).not.toContain(secret);
    expect(allText(r)).toContain('(hidden)');
  });
});
