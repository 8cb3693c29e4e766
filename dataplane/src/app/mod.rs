//! Application-layer parsers: pure functions over payload bytes and bounded per-flow state.

pub mod dns;
pub mod http;
pub mod quic;
pub mod tls;
