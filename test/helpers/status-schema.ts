/**
 * schema/status.schema.json, compiled once with ajv (JSON Schema draft 2020-12). Unit tests run
 * buildStatus output through it and the interop tests a running daemon's `status --json`, so the
 * documented schema and the code cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';

export const STATUS_SCHEMA_PATH = join(import.meta.dirname, '..', '..', 'schema', 'status.schema.json');

const ajv = new Ajv2020({ allErrors: true, strict: true });
const validate = ajv.compile(JSON.parse(readFileSync(STATUS_SCHEMA_PATH, 'utf8')) as object);

/** The schema's complaints about doc, one line each ("/tunnels/0/state: must be equal to one of …"); [] when valid. */
export function statusSchemaProblems(doc: unknown): string[] {
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})` : '';
    return `${e.instancePath || '/'}: ${e.message ?? e.keyword}${extra}`;
  });
}
