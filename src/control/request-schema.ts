/**
 * The daemon's side of the control protocol (protocol.ts): every request line is validated with
 * zod before it is handled. Kept apart from protocol.ts so the CLI, which only encodes requests
 * and reads responses, does not load zod on every command (it is most of the CLI's start time).
 */
import { z } from 'zod';
import { COMMANDS, MAX_WAIT_S, NEEDS_NAME, type ControlRequest, type ParsedRequest } from './protocol.js';

const requestSchema = z.object({
  id: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  cmd: z.enum(COMMANDS),
  args: z.object({
    name: z.string().min(1).max(256).optional(),
    /** rekey: the IKE SA instead of the Child SA. */
    ike: z.boolean().optional(),
    /** rekey: answer when the rekey completed (or after this many seconds, with an error). */
    wait: z.number().int().min(1).max(MAX_WAIT_S).optional(),
  }).strict().optional(),
});

// The schema and the protocol's type describe the same request (tsc fails on drift either way).
const sameShape = (r: z.infer<typeof requestSchema>): ControlRequest => r;
const sameShapeBack = (r: ControlRequest): z.infer<typeof requestSchema> => r;
void sameShape;
void sameShapeBack;

function badRequest(id: number | null, error: string): ParsedRequest {
  return { ok: false, response: { id, ok: false, error, code: 'bad-request' } };
}

/** Validate one line. Never throws; junk gets an error response with id null (or the id, if any). */
export function parseRequest(line: string): ParsedRequest {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return badRequest(null, 'request is not JSON; send one {"id":N,"cmd":"..."} object per line');
  }
  const r = requestSchema.safeParse(raw);
  if (r.success) {
    if (NEEDS_NAME.includes(r.data.cmd) && r.data.args?.name === undefined) {
      return badRequest(r.data.id, `'${r.data.cmd}' needs args.name (the tunnel name)`);
    }
    return { ok: true, request: r.data };
  }
  const id =
    typeof raw === 'object' && raw !== null && 'id' in raw && typeof raw.id === 'number' && Number.isSafeInteger(raw.id)
      ? raw.id
      : null;
  const cmd = typeof raw === 'object' && raw !== null && 'cmd' in raw ? raw.cmd : undefined;
  if (typeof cmd === 'string' && !(COMMANDS as readonly string[]).includes(cmd)) {
    return badRequest(id, `unknown command '${cmd.slice(0, 64)}'; known: ${COMMANDS.join(', ')}`);
  }
  const first = r.error.issues[0];
  const where = first && first.path.length > 0 ? first.path.join('.') : 'request';
  return badRequest(id, `invalid request: ${where}: ${first?.message ?? 'malformed'}`);
}
