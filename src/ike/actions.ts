/**
 * What the sans-IO engine asks the daemon to do, and what it reports: the engine performs no I/O
 * itself (docs/architecture-engine.md).
 * The engine never opens a socket or reads a clock: it is driven by onDatagram/onTick/up/down
 * with an explicit `now` (milliseconds) and returns a list of actions.
 */
import type { TrafficSelector } from './codec/types.js';
import type { Secret } from '../secret.js';

/** An IPv4 address and UDP port. */
export interface Endpoint {
  address: string;
  port: number;
}

/** Negotiated algorithm names as in the status document (e.g. "AES_GCM_16_256", "PRF_HMAC_SHA2_384"). */
export interface ChildSaInfo {
  tunnel: string;
  /** Our inbound SPI (the peer sends to it) and the peer's inbound SPI (we send to it). */
  spiIn: number;
  spiOut: number;
  /** Protocol numbers: ENCR transform id and key length in bits; integ id (0 for AEAD). */
  encrId: number;
  encrKeyBits: number;
  integId: number;
  esn: boolean;
  encr: string;
  integ: string | null;
  localTs: string[];
  remoteTs: string[];
  local: Endpoint;
  remote: Endpoint;
  /** ESP is sent in UDP (port 4500): NAT detected or natT: force. */
  encap: boolean;
  installedAt: number;
  rekeyAt: number;
}

/** Keys for the datapath. Never logged; the Dataplane seam consumes them. */
export interface ChildSaKeys {
  encrIn: Uint8Array;
  integIn: Uint8Array;
  encrOut: Uint8Array;
  integOut: Uint8Array;
}

/**
 * Debug key export (EngineOptions.exportKeys, off by default): what one Wireshark decryption
 * table record needs (src/debug/key-export.ts writes it with src/debug/wireshark-keys.ts). The
 * keys are copies wrapped in Secret, so an export-keys action that ends up in a log by mistake
 * prints "(hidden)"; only the writer reveals them.
 */
export type KeyExport =
  /** An IKE SA's keys (ikev2_decryption_table), when derived: after IKE_SA_INIT and on every IKE rekey. */
  | {
      sa: 'ike';
      tunnel: string;
      /** The 8-octet SPIs as 16 lowercase hex digits, as in status and events. */
      spiI: string;
      spiR: string;
      /** IANA transform ids (RFC 7296 §3.3.2); integId 0 (NONE) for AEAD. */
      encrId: number;
      encrKeyBits: number;
      integId: number;
      /** SK_e* include the 4-octet salt for GCM; SK_a* are empty for AEAD. Never SK_d or SK_p*. */
      keys: { skEi: Secret; skEr: Secret; skAi: Secret; skAr: Secret };
    }
  /** A Child SA's keys (esp_sa, both directions), when it is installed: creation and every rekey. */
  | { sa: 'child'; tunnel: string; child: ChildSaInfo; keys: { encrIn: Secret; integIn: Secret; encrOut: Secret; integOut: Secret } };

/**
 * What `monitor` streams and the daemon logs. SPIs are hex strings. The lifecycle events
 * (rekeys, liveness, reconnects, NAT mapping changes) are the contract between the engine and
 * the daemon; both sides code against these shapes.
 */
export type EngineEvent =
  /** handshakeMs: from our first IKE_SA_INIT (sent or received) to IKE_AUTH done. */
  | { type: 'ike-up'; tunnel: string; spiI: string; spiR: string; handshakeMs?: number }
  | { type: 'ike-down'; tunnel: string; reason: string }
  | { type: 'child-up'; tunnel: string; spiIn: string; spiOut: string }
  | { type: 'child-down'; tunnel: string; spiIn: string; reason: string }
  /** A Child SA was replaced by CREATE_CHILD_SA (RFC 7296 §2.8); `initiator`: we started it. */
  | { type: 'child-rekeyed'; tunnel: string; oldSpiIn: string; spiIn: string; spiOut: string; initiator: boolean }
  /** The IKE SA was replaced (RFC 7296 §2.8); its Child SAs moved to the new one. */
  | { type: 'ike-rekeyed'; tunnel: string; oldSpiI: string; oldSpiR: string; spiI: string; spiR: string; initiator: boolean }
  /** A liveness check (RFC 7296 §2.4) went unanswered through the whole retransmit budget. */
  | { type: 'dpd-dead'; tunnel: string; silentMs: number }
  /** The tunnel will be initiated again (after a failure or a dead peer) in `inMs`. */
  | { type: 'reconnect'; tunnel: string; attempt: number; inMs: number; reason: string }
  /** An authenticated message came from a new address/port (the peer's NAT mapping moved). */
  | { type: 'remote-moved'; tunnel: string; from: string; to: string };

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export type Action =
  /**
   * Send one IKE message. `bytes` never contains the non-ESP marker: when natT is true the
   * message goes out of the port-4500 socket and the daemon prefixes the marker (RFC 3948 §2.2).
   */
  | { kind: 'send'; from: Endpoint; to: Endpoint; natT: boolean; bytes: Uint8Array }
  /**
   * Install a Child SA in the datapath. activate (default true): its outbound SA becomes the
   * tunnel's sender now; false: inbound only until an activate-child (the rekey responder).
   */
  | { kind: 'install-child'; child: ChildSaInfo; keys: ChildSaKeys; selectors: { local: TrafficSelector[]; remote: TrafficSelector[] }; activate?: boolean }
  /** Switch the tunnel's outbound ESP to this installed Child SA (make-before-break). */
  | { kind: 'activate-child'; tunnel: string; spiIn: number }
  | { kind: 'remove-child'; tunnel: string; spiIn: number; spiOut: number }
  /**
   * The peer's NAT mapping moved (RFC 7296 §2.23: only from authenticated messages): send the
   * tunnel's ESP and IKE to `remote` from now on. The daemon calls Dataplane.updateRemote.
   */
  | { kind: 'update-remote'; tunnel: string; remote: Endpoint }
  /** RFC 3948 §2.3 NAT-keepalive: the one byte 0xFF, from our port-4500 socket at `from`. */
  | { kind: 'keepalive'; from: Endpoint; to: Endpoint }
  | { kind: 'event'; event: EngineEvent }
  /** Only with EngineOptions.exportKeys: append this record to the Wireshark tables (src/debug/key-export.ts). */
  | { kind: 'export-keys'; keys: KeyExport }
  | { kind: 'log'; level: LogLevel; tunnel?: string; msg: string; fields?: Record<string, string | number | boolean> };

/** How a datagram reached us. natT is true when it arrived on port 4500 (marker already stripped). */
export interface Arrival {
  from: Endpoint;
  to: Endpoint;
  natT: boolean;
}

export type TunnelState = 'down' | 'connecting' | 'established' | 'rekeying' | 'deleting';

export interface IkeSaStatus {
  spiI: string;
  spiR: string;
  initiator: boolean;
  encr: string;
  integ: string | null;
  prf: string;
  dh: string;
  establishedAt: number;
  rekeyAt: number;
}

export interface TunnelStatus {
  name: string;
  state: TunnelState;
  local: Endpoint | null;
  remote: Endpoint | null;
  natDetected: boolean;
  ike: IkeSaStatus | null;
  children: ChildSaInfo[];
}
