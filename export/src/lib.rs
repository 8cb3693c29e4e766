//! IPFIX export of metaprobe: information elements and templates of
//! `spec/ipfix-export.md`, the sans-IO encoder, the UDP/TCP transports, the
//! export-side logs. It is filled by the export issue; the dataplane does not
//! depend on it yet.
#![forbid(unsafe_code)]
