//! What the exporter is told: its collectors (one [`CollectorSpec`] per
//! address of the six `ipfix_*_collectors` lists) and the settings of the
//! loop, the rings and the logs ([`ExporterConfig`]). The binary fills it
//! from the configuration.

use crate::dnslog::DnsLogConfig;
use crate::transport::{RECONNECT_MAX_US, RECONNECT_MIN_US};
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;
use std::net::SocketAddr;
use std::path::PathBuf;

/// One collector of one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectorSpec {
    /// The stream it receives (whole).
    pub stream: Stream,
    /// UDP or TCP.
    pub transport: Transport,
    /// Its address.
    pub addr: SocketAddr,
}

impl CollectorSpec {
    /// The configuration key of its list (spec §1).
    pub const fn key(&self) -> &'static str {
        match (self.stream, self.transport) {
            (Stream::Clickstream, Transport::Udp) => "ipfix_udp_collectors",
            (Stream::Clickstream, Transport::Tcp) => "ipfix_tcp_collectors",
            (Stream::Meta, Transport::Udp) => "ipfix_meta_udp_collectors",
            (Stream::Meta, Transport::Tcp) => "ipfix_meta_tcp_collectors",
            (Stream::Dns, Transport::Udp) => "ipfix_dns_udp_collectors",
            (Stream::Dns, Transport::Tcp) => "ipfix_dns_tcp_collectors",
        }
    }
}

impl core::fmt::Display for CollectorSpec {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let t = match self.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        write!(f, "{t} {} ({})", self.addr, self.stream.name())
    }
}

/// Everything the exporter needs; [`ExporterConfig::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// Every collector (the six `ipfix_*_collectors` lists).
    pub collectors: Vec<CollectorSpec>,
    /// `ipfix_dev`: interface the sockets are bound to; "" none.
    pub ipfix_dev: String,
    /// `ipfix_mtu`: largest IP packet of a message.
    pub mtu: usize,
    /// Observation Domain ID of each stream's messages, in [`Stream::ALL`]
    /// order (`ipfix_domain_id`, or `ipfix_<stream>_domain_id`).
    pub domain_ids: [u32; 3],
    /// exportingProcessId of the reliability records.
    pub exporting_process_id: u32,
    /// `ipfix_udp_template_timer`, seconds.
    pub udp_template_timer: u32,
    /// Worker rings (one [`metaprobe_ipfix::ring::RecordSender`] each).
    pub workers: usize,
    /// Chunks each worker ring holds.
    pub ring_chunks: usize,
    /// Octets of one chunk (raised to hold at least one record of the limit).
    pub chunk_bytes: usize,
    /// Send cycle period, µs: [`super::Exporter::run`] polls this often, and a
    /// cycle longer than this skips chunks.
    pub cycle_period_us: u64,
    /// `log_dir`: where `fastdpi_alert.log` and `fastdpi_stat.log` go.
    pub log_dir: PathBuf,
    /// `dbg_log_mask & 0x80`: write `fastdpi_stat.log`.
    pub stat_log: bool,
    /// `netflow_timeout`: statistics period, seconds (also the period of
    /// the reliability records).
    pub stat_period_secs: u32,
    /// Least time between two alert writes, µs.
    pub alert_interval_us: u64,
    /// First TCP reconnect delay, µs.
    pub reconnect_min_us: u64,
    /// Longest TCP reconnect delay, µs.
    pub reconnect_max_us: u64,
    /// `SO_SNDBUF` of the TCP sockets; None: the system's.
    pub tcp_send_buffer: Option<usize>,
    /// `ipfix_tcp_backlog`: octets each TCP collector's backlog holds
    /// when its socket is full; at least one message, whatever is set.
    pub tcp_backlog: usize,
    /// The DNS text log (`ajb_save_dns`); None: off. Independent of the dns stream's collectors.
    pub dns_log: Option<DnsLogConfig>,
}

impl ExporterConfig {
    /// Defaults: MTU 1500, template timer 20 s, statistics every 30 s, one
    /// worker, rings of 128 chunks of 16 KiB, a 10 ms cycle, alerts at most
    /// once a second, reconnects 1 s → 30 s, a TCP backlog of one message.
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        ExporterConfig {
            collectors: Vec::new(),
            ipfix_dev: String::new(),
            mtu: 1500,
            domain_ids: [0; 3],
            exporting_process_id: std::process::id(),
            udp_template_timer: 20,
            workers: 1,
            ring_chunks: 128,
            chunk_bytes: 16 * 1024,
            cycle_period_us: 10_000,
            log_dir: log_dir.into(),
            stat_log: false,
            stat_period_secs: 30,
            alert_interval_us: 1_000_000,
            reconnect_min_us: RECONNECT_MIN_US,
            reconnect_max_us: RECONNECT_MAX_US,
            tcp_send_buffer: None,
            tcp_backlog: 0,
            dns_log: None,
        }
    }

    /// Every stream's messages with observation domain `id`.
    pub fn set_domain_id(&mut self, id: u32) {
        self.domain_ids = [id; 3];
    }

    /// The observation domain of `stream`'s messages.
    pub fn domain_id(&self, stream: Stream) -> u32 {
        stream.of(&self.domain_ids)
    }

    /// Adds collectors of one list.
    pub fn add(&mut self, stream: Stream, transport: Transport, addrs: &[SocketAddr]) {
        self.collectors
            .extend(addrs.iter().map(|&addr| CollectorSpec {
                stream,
                transport,
                addr,
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_the_spec() {
        let spec = |stream, transport| CollectorSpec {
            stream,
            transport,
            addr: "127.0.0.1:1".parse().unwrap(),
        };
        assert_eq!(
            spec(Stream::Dns, Transport::Tcp).key(),
            "ipfix_dns_tcp_collectors"
        );
        assert_eq!(
            spec(Stream::Clickstream, Transport::Udp).key(),
            "ipfix_udp_collectors"
        );
        assert_eq!(
            spec(Stream::Meta, Transport::Udp).to_string(),
            "udp 127.0.0.1:1 (meta)"
        );
    }
}
