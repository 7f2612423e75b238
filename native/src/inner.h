/*
 * Inner-packet work the tunnel-mode datapath owes, in C for the I/O threads; each function is the
 * twin of a TypeScript reference: parse_ipv4 (src/esp/inner.ts parseIpv4), sel_match
 * (matchesSelectors), clamp_mss (src/esp/mss.ts clampMss).
 */
#ifndef BRANCHGATE_INNER_H
#define BRANCHGATE_INNER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
  uint32_t src, dst;
  uint16_t total_len;
  uint8_t protocol;
  /* TCP/UDP/SCTP ports, ICMP type << 8 | code; -1 when unknown (non-first fragment, short). */
  int32_t src_port, dst_port;
} ipv4_info_t;

/* RFC 791: false unless a well-formed IPv4 header (version 4, IHL ≥ 5, lengths within len). */
bool parse_ipv4(const uint8_t *p, uint32_t len, ipv4_info_t *out);

/* One RFC 7296 §3.13.1 IPv4 traffic selector (TS_IPV4_ADDR_RANGE), host byte order. */
typedef struct {
  uint32_t start, end;
  uint16_t port_start, port_end;
  uint8_t proto; /* 0 = any */
} ts_t;

/* RFC 4301 §5.2: src in one of src_ts and dst in one of dst_ts. */
bool sel_match(const ipv4_info_t *i, const ts_t *src_ts, uint32_t n_src, const ts_t *dst_ts, uint32_t n_dst);

/* Lower the MSS option of an IPv4 TCP SYN to mss (RFC 6691), fixing the checksum (RFC 1624). */
bool clamp_mss(uint8_t *p, uint32_t len, uint32_t mss);

#endif
