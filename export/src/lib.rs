//! IPFIX export of metaprobe: information elements and templates of
//! `spec/ipfix-export.md`, the sans-IO encoder, the UDP/TCP transports, the
//! export-side logs.
//!
//! The sans-IO core (no socket, no clock: `now` is passed in):
//! - [`ie`]: the one table of information elements;
//! - [`template`]: every template, derived from it, with the typed records
//!   workers fill;
//! - [`field`], [`encoder`]: size-first record encoding into recycled
//!   [`encoder::Chunk`]s;
//! - [`session`]: one collector session — messages, sequence numbers,
//!   template rounds, RFC 5610 type records and RFC 7011 §4.3 statistics;
//! - [`collect`]: a decoder of our templates, for `metaprobe collect`.
//!
//! At the edge (sockets, files, a clock passed in):
//! - [`transport`]: non-blocking UDP/TCP sockets bound to `ipfix_dev`, TCP
//!   reconnect with backoff, messages sent whole or not at all;
//! - [`exporter`]: the export lcore — worker rings of chunks in, every
//!   stream to every collector, backpressure, statistics;
//! - [`logs`]: `fastdpi_stat.log` and `fastdpi_alert.log` (spec §9);
//! - [`dnslog`]: the DNS text log (spec §8), written by the exporter from
//!   the DNS records it drains ([`dns_record`] reads them, [`dns_text`]
//!   renders RDATA).
#![forbid(unsafe_code)]

pub mod collect;
pub mod dns_record;
pub mod dns_text;
pub mod dnslog;
pub mod encoder;
pub mod exporter;
pub mod field;
pub mod ie;
pub mod logs;
pub mod samples;
pub mod session;
pub mod template;
pub mod transport;
