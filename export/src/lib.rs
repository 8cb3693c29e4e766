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
#![forbid(unsafe_code)]

pub mod collect;
pub mod encoder;
pub mod field;
pub mod ie;
pub mod samples;
pub mod session;
pub mod template;
