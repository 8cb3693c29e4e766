//! The sans-IO IPFIX core of metaprobe: what both the dataplane and the
//! export edge (`metaprobe-export`) need, with no socket, file or clock
//! (`now` is always passed in).
//!
//! - [`codec`]: the one bounded cursor over untrusted bytes, used by every
//!   protocol parser of the dataplane and by the collector-side decoders;
//! - [`ie`]: the one table of information elements (spec §2–§7);
//! - [`template`]: every template, derived from it, with the typed records
//!   workers fill;
//! - [`field`], [`encoder`]: size-first record encoding into recycled
//!   [`encoder::Chunk`]s;
//! - [`refit`]: an encoded record cut again for a smaller limit (a UDP
//!   collector's MTU);
//! - [`ring`]: the worker's end of the ring to the export lcore
//!   ([`ring::RecordSender`]) and the export lcore's end, chunks recycled
//!   through a free ring;
//! - [`session`]: one collector session — messages, sequence numbers,
//!   template rounds, RFC 5610 type records and RFC 7011 §4.3 statistics;
//! - [`collect`]: the collector-side decoder of IPFIX messages (behind
//!   `metaprobe collect` and the tests);
//! - [`dns_record`], [`dns_text`]: a DNS data record read back from its
//!   bytes, and the RDATA layouts and their text form (spec §8);
//! - [`samples`]: example records of every template, for tests and benches.
#![forbid(unsafe_code)]

pub mod codec;
pub mod collect;
pub mod dns_record;
pub mod dns_text;
pub mod encoder;
pub mod field;
pub mod ie;
pub mod refit;
pub mod ring;
pub mod samples;
pub mod session;
pub mod template;
