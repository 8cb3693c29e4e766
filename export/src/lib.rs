//! The IO edge of metaprobe's IPFIX export, on top of the sans-IO core
//! `metaprobe-ipfix` (elements, templates, encoder, the worker ring, the
//! collector session and decoder): sockets, files, and a clock passed in.
//!
//! - [`transport`]: non-blocking UDP/TCP sockets bound to `ipfix_dev`, TCP
//!   reconnect with backoff, messages sent whole or not at all;
//! - [`exporter`]: the export lcore — worker rings of chunks in, every
//!   stream to every collector, backpressure, statistics;
//! - [`logs`]: `fastdpi_stat.log` and `fastdpi_alert.log` (spec §9);
//! - [`dnslog`]: the DNS text log (spec §8), written by the exporter from
//!   the DNS records it drains.
//!
//! Nothing here reads the configuration: the binary translates it into
//! [`exporter::ExporterConfig`] and [`dnslog::DnsLogConfig`].
//!
//! The one `unsafe` is two socket calls that neither std nor socket2 offers,
//! each one libc call on a socket we own (`transport::sys`: `IP_RECVERR`,
//! `SIOCOUTQ`); everything else is refused by `deny(unsafe_code)`.
#![deny(unsafe_code)]

pub mod dnslog;
pub mod exporter;
pub mod logs;
pub mod transport;
