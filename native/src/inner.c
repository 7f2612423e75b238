/*
 * IPv4 header parsing, traffic-selector matching and MSS clamping for the native datapath. Every
 * read is bounds-checked against the packet length first: inbound packets are peer-controlled.
 * Semantics follow src/esp/inner.ts and src/esp/mss.ts exactly (see those for the RFC details).
 */
#include "inner.h"

#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_SCTP 132

static inline uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static inline uint32_t rd32(const uint8_t *p) { return rd16(p) << 16 | rd16(p + 2); }

bool parse_ipv4(const uint8_t *p, uint32_t len, ipv4_info_t *o)
{
  if (len < 20) return false;
  uint32_t hl = (uint32_t)(p[0] & 0x0f) * 4;
  uint32_t total = rd16(p + 2);
  if (p[0] >> 4 != 4 || hl < 20 || hl > len || total < hl || total > len) return false;
  uint32_t frag = rd16(p + 6);
  o->total_len = (uint16_t)total;
  o->protocol = p[9];
  o->src = rd32(p + 12);
  o->dst = rd32(p + 16);
  o->src_port = o->dst_port = -1;
  if ((frag & 0x1fff) != 0) return true; /* RFC 4301 §4.4.1.3: ports are OPAQUE in later fragments */
  const uint8_t *l4 = p + hl;
  uint32_t l4_len = total - hl;
  uint8_t pr = o->protocol;
  if ((pr == PROTO_TCP || pr == PROTO_UDP || pr == PROTO_SCTP) && l4_len >= 4) {
    o->src_port = (int32_t)rd16(l4);
    o->dst_port = (int32_t)rd16(l4 + 2);
  } else if (pr == PROTO_ICMP && l4_len >= 2) {
    o->src_port = o->dst_port = (int32_t)rd16(l4);
  }
  return true;
}

static bool one(const ts_t *ts, uint8_t proto, uint32_t addr, int32_t port)
{
  if (ts->proto != 0 && ts->proto != proto) return false;
  if (addr < ts->start || addr > ts->end) return false;
  if (ts->port_start == 0 && ts->port_end == 0xffff) return true; /* ANY, including OPAQUE */
  if (ts->port_start > ts->port_end) return port < 0;              /* OPAQUE (RFC 7296 §3.13.1) */
  return port >= 0 && port >= ts->port_start && port <= ts->port_end;
}

static bool any(const ts_t *list, uint32_t n, uint8_t proto, uint32_t addr, int32_t port)
{
  for (uint32_t i = 0; i < n; i++)
    if (one(&list[i], proto, addr, port)) return true;
  return false;
}

bool sel_match(const ipv4_info_t *i, const ts_t *src_ts, uint32_t n_src, const ts_t *dst_ts, uint32_t n_dst)
{
  return any(src_ts, n_src, i->protocol, i->src, i->src_port) &&
         any(dst_ts, n_dst, i->protocol, i->dst, i->dst_port);
}

/* RFC 1624 eqn. 3 per aligned 16-bit word the two rewritten octets touch (see mss.ts). */
static void rewrite16(uint8_t *seg, uint32_t pos, uint32_t v)
{
  uint32_t first = pos & ~1u, last = (pos + 1) & ~1u;
  uint32_t old0 = rd16(seg + first), old1 = last != first ? rd16(seg + last) : 0;
  seg[pos] = (uint8_t)(v >> 8);
  seg[pos + 1] = (uint8_t)v;
  uint32_t sum = ~rd16(seg + 16) & 0xffff;
  sum += ~old0 & 0xffff;
  sum += rd16(seg + first);
  if (last != first) {
    sum += ~old1 & 0xffff;
    sum += rd16(seg + last);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >> 16);
  uint32_t hc = ~sum & 0xffff;
  seg[16] = (uint8_t)(hc >> 8);
  seg[17] = (uint8_t)hc;
}

bool clamp_mss(uint8_t *p, uint32_t len, uint32_t mss)
{
  if (mss == 0 || mss > 0xffff || len < 20) return false;
  uint32_t ihl = (uint32_t)(p[0] & 0x0f) * 4;
  uint32_t total = rd16(p + 2);
  if (p[0] >> 4 != 4 || ihl < 20 || total > len || total < ihl + 20) return false;
  if (p[9] != PROTO_TCP) return false;
  if ((rd16(p + 6) & 0x1fff) != 0) return false; /* non-first fragment */
  uint8_t *tcp = p + ihl;
  uint32_t tcp_len = total - ihl;
  uint32_t data_off = (uint32_t)(tcp[12] >> 4) * 4;
  if (data_off < 20 || data_off > tcp_len) return false;
  if ((tcp[13] & 0x02) == 0) return false; /* not a SYN */
  uint32_t i = 20;
  while (i < data_off) {
    uint8_t kind = tcp[i];
    if (kind == 0) return false; /* EOL */
    if (kind == 1) {             /* NOP */
      i += 1;
      continue;
    }
    if (i + 1 >= data_off) return false;
    uint32_t opt_len = tcp[i + 1];
    if (opt_len < 2 || i + opt_len > data_off) return false; /* malformed: leave it alone */
    if (kind == 2) {
      if (opt_len != 4) return false;
      if (rd16(tcp + i + 2) <= mss) return false;
      rewrite16(tcp, i + 2, mss);
      return true;
    }
    i += opt_len;
  }
  return false;
}
