//! The DPDK-free part of metaprobe's dataplane.
//!
//! Everything here works on traits and plain numbers, so it builds, tests and
//! benchmarks without DPDK: the binary plugs DPDK queues in through
//! [`forward::PacketQueue`], the tests plug in queues made of vectors.
//! No `unsafe` but a prefetch hint ([`prefetch`]).
#![deny(unsafe_code)]

pub mod analyze;
pub mod app;
pub mod block;
pub mod counters;
pub mod defrag;
pub mod flow;
pub mod forward;
pub mod plan;
pub mod prefetch;
pub mod reasm;
pub mod subscribers;
pub mod table;
pub mod vchannel;
pub mod wire;
