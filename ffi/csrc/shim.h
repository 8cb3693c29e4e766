/*
 * Out-of-line copies of DPDK's `static inline` functions, macros and TLS
 * variables, which bindgen cannot bind. Each is called once per burst (or
 * rarer), never once per packet: per-packet fields are read in Rust.
 */
#ifndef METAPROBE_SHIM_H
#define METAPROBE_SHIM_H

#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

uint16_t shim_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *shim_pktmbuf_alloc(struct rte_mempool *pool);
void shim_pktmbuf_free(struct rte_mbuf *m);
void shim_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n);
void *shim_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t shim_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t shim_pktmbuf_pkt_len(const struct rte_mbuf *m);
char *shim_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
unsigned int shim_lcore_id(void);
uint64_t shim_tsc_cycles(void);
uint64_t shim_tsc_hz(void);
int shim_errno(void);

#endif
