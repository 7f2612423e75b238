/**
 * Wording of schema messages: zod's issues rephrased to say what to write instead, and "did you
 * mean" for unknown keys. Messages never echo more than a short quote of the input (a PSK may
 * sit in a misspelled key).
 */
import { z } from 'zod';
import { quoteInput } from './duration.js';

const REQUIRED = new Map([
  ['tunnels', 'add a tunnels: list with at least one tunnel'],
  ['name', 'every tunnel needs a name'],
  ['remoteAddress', 'set the peer\'s IPv4 address, "%any" on a responder, or gsaEndpoint: N with a gsa: section'],
  ['neighbors', 'list the BGP neighbors (address, asn, tunnel)'],
  ['asn', 'set the ASN ("Device ASN" for bgp.asn, the peer\'s ASN for a neighbor)'],
  ['address', 'set the BGP IPv4 address ("Device BGP address" for bgp.address, GSA\'s "Local BGP address" for a neighbor)'],
  ['connectivityConfiguration', 'paste GSA\'s connectivityConfiguration JSON here, or give the path of a file holding it'],
]);

function kindOf(v: unknown): string {
  if (v === null) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'boolean') return 'true/false';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

const WANT: Record<string, string> = {
  string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false',
  array: 'a list', object: 'a mapping (key: value lines)',
};

/** Per-parse zod error map: short messages that say what to write instead. Never echoes input. */
export function describeIssue(iss: z.core.$ZodRawIssue): string | undefined {
  const key = String(iss.path?.[iss.path.length - 1] ?? '');
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return `required: ${REQUIRED.get(key) ?? `add ${key}:`}`;
      const got = kindOf(iss.input);
      const quote = iss.expected === 'string' && typeof iss.input !== 'object' ? '; quote it so YAML keeps it as text' : '';
      return `expected ${(Object.hasOwn(WANT, iss.expected) && WANT[iss.expected]) || iss.expected}, got ${got}${quote}`;
    }
    case 'invalid_value':
      return `must be one of: ${iss.values.map(String).join(', ')}`;
    case 'too_small':
      if (iss.origin === 'array') return `needs at least ${iss.minimum} entry`;
      return iss.origin === 'string' ? 'must not be empty' : `must be at least ${iss.minimum}`;
    case 'too_big':
      return `must be at most ${iss.maximum}`;
  }
  return undefined;
}

/** Optimal-string-alignment distance, for "did you mean": "pks" → "psk" is 1 (a swap). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

export function unknownKeyMessage(key: string, valid: string[]): string {
  const lower = key.toLowerCase();
  const best = valid
    .map((k) => ({ k, d: k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0];
  const hint = best && best.d <= Math.max(1, Math.floor(key.length / 3)) ? ` (did you mean "${best.k}"?)` : '';
  return `unknown key ${quoteInput(key)}${hint}; valid keys here: ${valid.join(', ')}`;
}
