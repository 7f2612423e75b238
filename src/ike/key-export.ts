/**
 * The engine's side of the debug key export (EngineOptions.exportKeys): an `export-keys` action
 * when an IKE SA's keys are derived and when a Child SA is installed, carrying copies of exactly
 * the keys a Wireshark decryption table needs (never SKEYSEED, SK_d or SK_p*). With the option
 * off nothing is built: secrets leave the engine only when asked for.
 */
import { Secret } from '../secret.js';
import type { EngineContext, IkeSa } from './sa.js';
import { hex } from './spi.js';
import type { ChildSa } from './sa-types.js';

/** A copy the engine's wipe() cannot reach: the export owns its bytes. */
const copy = (b: Uint8Array): Secret => new Secret(Uint8Array.from(b));

/** The IKE SA's keys were derived (IKE_SA_INIT or IKE rekey). */
export function exportIkeKeys(ctx: EngineContext, sa: IkeSa): void {
  if (!ctx.exportKeys || !sa.keys || !sa.suite) return;
  const { keys: k, suite: s } = sa;
  ctx.actions.push({
    kind: 'export-keys',
    keys: {
      sa: 'ike', tunnel: sa.tunnel.name, spiI: hex(sa.spiI), spiR: hex(sa.spiR),
      encrId: s.encrId, encrKeyBits: s.encrKeyBits, integId: s.integId,
      keys: { skEi: copy(k.skEi), skEr: copy(k.skEr), skAi: copy(k.skAi), skAr: copy(k.skAr) },
    },
  });
}

/** A Child SA went into the datapath (created or rekeyed, either side). */
export function exportChildKeys(ctx: EngineContext, child: ChildSa): void {
  if (!ctx.exportKeys) return;
  const k = child.keys;
  const info = { ...child.info, local: { ...child.info.local }, remote: { ...child.info.remote }, localTs: [...child.info.localTs], remoteTs: [...child.info.remoteTs] };
  ctx.actions.push({
    kind: 'export-keys',
    keys: { sa: 'child', tunnel: info.tunnel, child: info, keys: { encrIn: copy(k.encrIn), integIn: copy(k.integIn), encrOut: copy(k.encrOut), integOut: copy(k.integOut) } },
  });
}
