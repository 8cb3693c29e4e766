//! The sans-IO core of metaprobe: what both the dataplane and the export edge
//! need, with no socket, file or clock.
//!
//! - [`codec`]: the one bounded cursor over untrusted bytes, used by every
//!   protocol parser of the dataplane and by the collector-side decoders.
#![forbid(unsafe_code)]

pub mod codec;
