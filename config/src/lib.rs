//! The metaprobe configuration: schema, defaults and validation.
//!
//! A configuration is one TOML file of top-level keys. The export keys keep the names of
//! the source product's document (`spec/ipfix-export.md`: `ipfix_udp_collectors`,
//! `netflow_timeout`, `ajb_dns_path`, …) so its users recognise every one; the dataplane
//! keys (`bridges`, `eal_args`, …) are ours. `docs/configuration.md` is the reference and
//! `config/examples/metaprobe.toml` a commented example of every key.
//!
//! Loading never stops at the first problem: every unknown key and bad value of a file is
//! reported, each with its line (see [`ConfigError`]).
//!
//! ```
//! let cfg = metaprobe_config::Config::from_toml_str(
//!     "bridges = [[0, 1]]\nipfix_udp_collectors = \"192.0.2.10:4739\"\n",
//!     "metaprobe.toml",
//! )
//! .expect("valid");
//! assert_eq!(cfg.all_ports().collect::<Vec<_>>(), [0, 1]);
//! assert_eq!(cfg.ipfix_udp_template_timer, 20);
//! ```

#![forbid(unsafe_code)]

mod error;
mod read;
mod schema;
mod write;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use error::ConfigError;

/// The effective configuration of one metaprobe process.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    // ---- dataplane ----
    /// Arguments given to the DPDK EAL before those after `--` on the command line.
    pub eal_args: Vec<String>,
    /// The bridges (port pairs) to forward; at least one, no port in two bridges.
    pub bridges: Vec<Bridge>,
    /// Directory of `fastdpi_alert.log` and `fastdpi_stat.log`.
    pub log_dir: PathBuf,
    /// Seconds between one-line summaries on stdout; 0 = none.
    pub stats_interval: u64,
    /// Where the Prometheus metrics endpoint listens (`GET /metrics`); None = off.
    pub metrics_listen: Option<SocketAddr>,
    /// Descriptors per RX queue: a power of two in 64..=16384.
    pub rx_descriptors: u16,
    /// Descriptors per TX queue: a power of two in 64..=16384.
    pub tx_descriptors: u16,
    /// RX/TX queues per port; 0 = automatic, else 1..=64.
    pub queues_per_port: u16,
    /// Flow table entries per worker lcore (memory is fixed at start).
    pub flow_table_size: u32,
    /// Idle timeout of an open TCP flow, seconds.
    pub flow_tcp_timeout: u32,
    /// Seconds a TCP flow is kept after RST or FIN from both ends.
    pub flow_tcp_closed_timeout: u32,
    /// Idle timeout of a UDP flow, seconds.
    pub flow_udp_timeout: u32,
    /// Idle timeout of a flow of another IP protocol, seconds.
    pub flow_other_timeout: u32,
    /// TCP reassembly slots per worker; 0 = from `flow_table_size`.
    pub reassembly_slots: u32,
    /// Octets of one TCP reassembly slot.
    pub reassembly_slot_bytes: u32,
    /// QUIC connection states per worker (ClientHellos in progress); 0 = from
    /// `flow_table_size`.
    pub quic_slots: u32,
    /// IP datagrams being reassembled from fragments, per worker; 0 = from
    /// `flow_table_size`.
    pub ip_fragment_slots: u32,
    /// Octets of the largest datagram IP reassembly rebuilds.
    pub ip_fragment_slot_bytes: u32,

    // ---- export (names of the spec) ----
    /// Network interface the export sockets are bound to; "" = not bound.
    pub ipfix_dev: String,
    /// Clickstream collectors over UDP.
    pub ipfix_udp_collectors: Vec<SocketAddr>,
    /// Clickstream collectors over TCP.
    pub ipfix_tcp_collectors: Vec<SocketAddr>,
    /// Meta stream collectors over UDP.
    pub ipfix_meta_udp_collectors: Vec<SocketAddr>,
    /// Meta stream collectors over TCP.
    pub ipfix_meta_tcp_collectors: Vec<SocketAddr>,
    /// Protocols whose every payload packet gives a raw metadata record (meta stream).
    pub ipfix_meta_raw: Vec<MetaRawProtocol>,
    /// Longest RAW_DATA of a raw metadata record, octets (longer payloads are cut).
    pub ipfix_meta_raw_max_bytes: u16,
    /// DNS stream collectors over UDP.
    pub ipfix_dns_udp_collectors: Vec<SocketAddr>,
    /// DNS stream collectors over TCP.
    pub ipfix_dns_tcp_collectors: Vec<SocketAddr>,
    /// Seconds between template re-sends to UDP collectors; > 0.
    pub ipfix_udp_template_timer: u32,
    /// Largest IP packet of an export message, octets; 576..=9216.
    pub ipfix_mtu: u16,
    /// Octets each TCP collector's backlog holds while its socket is full;
    /// 1..=1 GiB.
    pub ipfix_tcp_backlog: u64,
    /// IPFIX Observation Domain ID of this exporter.
    pub ipfix_domain_id: u32,
    /// Observation Domain ID of the clickstream stream's messages
    /// (`ipfix_clickstream_domain_id`; when absent, `ipfix_domain_id`).
    pub ipfix_clickstream_domain_id: u32,
    /// Observation Domain ID of the meta stream (default `ipfix_domain_id`).
    pub ipfix_meta_domain_id: u32,
    /// Observation Domain ID of the dns stream (default `ipfix_domain_id`).
    pub ipfix_dns_domain_id: u32,
    /// Export statistics period, seconds; > 0.
    pub netflow_timeout: u32,
    /// Export HTTP reply records.
    pub http_parse_reply: bool,
    /// Export TLS reply records.
    pub ssl_parse_reply: bool,
    /// Debug log bits; `0x80` writes the export statistics to `fastdpi_stat.log`.
    pub dbg_log_mask: u32,
    /// Write DNS records to the local text log.
    pub ajb_save_dns: bool,
    /// Path of the DNS text log being written.
    pub ajb_dns_path: PathBuf,
    /// Fields of one DNS text log line, in order.
    pub ajb_save_dns_format: Vec<DnsLogField>,
    /// Write buffer of the DNS text log, bytes; > 0.
    pub ajb_dns_bufsize: u64,
    /// Size at which the DNS text log switches to the next file, bytes; > 0.
    pub ajb_dns_fsize: u64,
    /// Minutes after which a non-empty DNS text log is closed; 0 = by size only.
    pub ajb_dns_ftimeout: u64,
    /// The subscriber map (`PREFIX LOGIN` lines) that fills LOGIN; None = none.
    pub subscribers_file: Option<PathBuf>,
    /// Subscriber bindings learnt from RADIUS accounting kept at most (the least
    /// recently refreshed is evicted, and counted, for a new one).
    pub subscribers_max: u32,
    /// Read RADIUS accounting (UDP 1813, 1646) crossing the bridges for logins.
    pub radius_snoop: bool,
    /// Where a BRAS sends a copy of its accounting (None: no listener).
    pub radius_accounting_listen: Option<SocketAddr>,
    /// The shared secret of the listener's clients (required with the listener).
    pub radius_secret: String,
    /// Outer VLAN ids of a bridge mapped to a vchannel number (BRIDGE_CHANNEL_NUM).
    pub vchannels: Vec<VChannel>,
    /// The block list (hosts, `*.` domains, host/path prefixes) whose requests
    /// are not forwarded; None = nothing is blocked.
    pub block_list: Option<PathBuf>,
    /// Where a blocked HTTP request is redirected (302); None = it is reset.
    pub block_redirect_url: Option<String>,
}

/// `vchannels` entry: the outer VLAN ids of `bridge` whose packets carry `channel`
/// as BRIDGE_CHANNEL_NUM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VChannel {
    pub bridge: u16,
    /// Inclusive ranges of VLAN ids, as written.
    pub vlans: Vec<(u16, u16)>,
    pub channel: u16,
}

/// One bridge: two ports whose traffic is forwarded to each other unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bridge {
    /// The port facing the subscribers (written first in `bridges = [[sub, inet]]`).
    pub subscriber: u16,
    /// The port facing the internet.
    pub internet: u16,
}

impl Bridge {
    /// The two ports, subscriber first.
    pub fn ports(&self) -> [u16; 2] {
        [self.subscriber, self.internet]
    }
}

/// A field of a DNS text log line (`ajb_save_dns_format`, spec §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsLogField {
    /// `ts`: time, Unix seconds.
    Ts,
    /// `ssid`: session id.
    Ssid,
    /// `login`: subscriber login.
    Login,
    /// `ipsrc`: source address.
    IpSrc,
    /// `ipdst`: destination address.
    IpDst,
    /// `psrc`: source port.
    PSrc,
    /// `pdst`: destination port.
    PDst,
    /// `transport`: UDP or TCP.
    Transport,
    /// `host`: the name asked about.
    Host,
    /// `rrtype`: resource record type.
    RrType,
    /// `rrclass`: resource record class.
    RrClass,
    /// `ttl`: time to live.
    Ttl,
    /// `rdlen`: rdata length.
    RdLen,
    /// `rdata`: the record data, readable.
    Rdata,
}

impl DnsLogField {
    /// Every field, in the spec's default order
    /// (`ts:ssid:login:ipsrc:ipdst:psrc:pdst:transport:host:rrtype:rrclass:ttl:rdlen:rdata`).
    pub const ALL: [DnsLogField; 14] = [
        DnsLogField::Ts,
        DnsLogField::Ssid,
        DnsLogField::Login,
        DnsLogField::IpSrc,
        DnsLogField::IpDst,
        DnsLogField::PSrc,
        DnsLogField::PDst,
        DnsLogField::Transport,
        DnsLogField::Host,
        DnsLogField::RrType,
        DnsLogField::RrClass,
        DnsLogField::Ttl,
        DnsLogField::RdLen,
        DnsLogField::Rdata,
    ];

    /// The spec's token for this field (`ts`, `ipsrc`, …).
    pub fn name(&self) -> &'static str {
        match self {
            DnsLogField::Ts => "ts",
            DnsLogField::Ssid => "ssid",
            DnsLogField::Login => "login",
            DnsLogField::IpSrc => "ipsrc",
            DnsLogField::IpDst => "ipdst",
            DnsLogField::PSrc => "psrc",
            DnsLogField::PDst => "pdst",
            DnsLogField::Transport => "transport",
            DnsLogField::Host => "host",
            DnsLogField::RrType => "rrtype",
            DnsLogField::RrClass => "rrclass",
            DnsLogField::Ttl => "ttl",
            DnsLogField::RdLen => "rdlen",
            DnsLogField::Rdata => "rdata",
        }
    }

    /// The field whose token is `name` (exact, lower case).
    pub fn from_name(name: &str) -> Option<DnsLogField> {
        DnsLogField::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl fmt::Display for DnsLogField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A protocol of `ipfix_meta_raw`: its flows' payload packets give raw metadata records
/// (spec §7; META_PROTO in parentheses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetaRawProtocol {
    /// `sip` (3).
    Sip,
    /// `ftp` (4): control connections and the data connections they announce.
    Ftp,
    /// `smtp` (5).
    Smtp,
    /// `pop3` (6).
    Pop3,
    /// `imap` (7).
    Imap,
    /// `xmpp` (8).
    Xmpp,
    /// `icq` (9).
    Icq,
    /// `nntp` (11).
    Nntp,
    /// `h323` (12).
    H323,
}

impl MetaRawProtocol {
    /// Every protocol, in the order of their META_PROTO numbers.
    pub const ALL: [MetaRawProtocol; 9] = [
        MetaRawProtocol::Sip,
        MetaRawProtocol::Ftp,
        MetaRawProtocol::Smtp,
        MetaRawProtocol::Pop3,
        MetaRawProtocol::Imap,
        MetaRawProtocol::Xmpp,
        MetaRawProtocol::Icq,
        MetaRawProtocol::Nntp,
        MetaRawProtocol::H323,
    ];

    /// The name a configuration lists it by (`sip`, `h323`, …).
    pub fn name(&self) -> &'static str {
        match self {
            MetaRawProtocol::Sip => "sip",
            MetaRawProtocol::Ftp => "ftp",
            MetaRawProtocol::Smtp => "smtp",
            MetaRawProtocol::Pop3 => "pop3",
            MetaRawProtocol::Imap => "imap",
            MetaRawProtocol::Xmpp => "xmpp",
            MetaRawProtocol::Icq => "icq",
            MetaRawProtocol::Nntp => "nntp",
            MetaRawProtocol::H323 => "h323",
        }
    }

    /// The protocol named `name` (exact, lower case).
    pub fn from_name(name: &str) -> Option<MetaRawProtocol> {
        MetaRawProtocol::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for MetaRawProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Defaults of every key but `bridges` (which has none).
pub(crate) mod defaults {
    pub const LOG_DIR: &str = "/var/log/metaprobe";
    pub const STATS_INTERVAL: u64 = 10;
    pub const RX_DESCRIPTORS: u16 = 1024;
    pub const TX_DESCRIPTORS: u16 = 1024;
    pub const QUEUES_PER_PORT: u16 = 0;
    pub const IPFIX_UDP_TEMPLATE_TIMER: u32 = 20;
    pub const IPFIX_MTU: u16 = 1500;
    /// 16 MiB: half a second of a busy probe's export (~30 MB/s) at most, and
    /// nothing resident until a collector stalls.
    pub const IPFIX_TCP_BACKLOG: u64 = 16 << 20;
    pub const IPFIX_DOMAIN_ID: u32 = 0;
    pub const NETFLOW_TIMEOUT: u32 = 30;
    pub const IPFIX_META_RAW_MAX_BYTES: u16 = 1400;
    pub const DBG_LOG_MASK: u32 = 0;
    pub const AJB_DNS_PATH: &str = "/var/log/metaprobe/dns.log";
    pub const FLOW_TABLE_SIZE: u32 = 262_144;
    pub const FLOW_TCP_TIMEOUT: u32 = 300;
    pub const FLOW_TCP_CLOSED_TIMEOUT: u32 = 5;
    pub const FLOW_UDP_TIMEOUT: u32 = 60;
    pub const FLOW_OTHER_TIMEOUT: u32 = 30;
    pub const REASSEMBLY_SLOT_BYTES: u32 = 4096;
    pub const IP_FRAGMENT_SLOT_BYTES: u32 = 9216;
    pub const AJB_DNS_BUFSIZE: u64 = 1 << 20;
    pub const AJB_DNS_FSIZE: u64 = 100 << 20;
    pub const AJB_DNS_FTIMEOUT: u64 = 60;
    pub const SUBSCRIBERS_MAX: u32 = 1_000_000;
}

/// Every key a configuration file may hold, in the order `to_toml` writes them.
pub const KEYS: &[&str] = &[
    "eal_args",
    "bridges",
    "log_dir",
    "stats_interval",
    "metrics_listen",
    "rx_descriptors",
    "tx_descriptors",
    "queues_per_port",
    "flow_table_size",
    "flow_tcp_timeout",
    "flow_tcp_closed_timeout",
    "flow_udp_timeout",
    "flow_other_timeout",
    "reassembly_slots",
    "reassembly_slot_bytes",
    "quic_slots",
    "ip_fragment_slots",
    "ip_fragment_slot_bytes",
    "ipfix_dev",
    "ipfix_udp_collectors",
    "ipfix_tcp_collectors",
    "ipfix_meta_udp_collectors",
    "ipfix_meta_tcp_collectors",
    "ipfix_meta_raw",
    "ipfix_meta_raw_max_bytes",
    "ipfix_dns_udp_collectors",
    "ipfix_dns_tcp_collectors",
    "ipfix_udp_template_timer",
    "ipfix_mtu",
    "ipfix_tcp_backlog",
    "ipfix_domain_id",
    "ipfix_clickstream_domain_id",
    "ipfix_meta_domain_id",
    "ipfix_dns_domain_id",
    "netflow_timeout",
    "http_parse_reply",
    "ssl_parse_reply",
    "dbg_log_mask",
    "ajb_save_dns",
    "ajb_dns_path",
    "ajb_save_dns_format",
    "ajb_dns_bufsize",
    "ajb_dns_fsize",
    "ajb_dns_ftimeout",
    "subscribers_file",
    "subscribers_max",
    "radius_snoop",
    "radius_accounting_listen",
    "radius_secret",
    "vchannels",
    "block_list",
    "block_redirect_url",
];

impl Config {
    /// Reads and validates the file at `path`. Messages name the file as given.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::whole_file(&origin, format!("cannot read configuration file: {e}"))
        })?;
        Config::from_toml_str(&text, &origin)
    }

    /// Parses and validates a configuration; `origin` (usually the file name) starts
    /// every message.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        read::from_toml_str(text, origin)
    }

    /// The effective configuration as TOML: every key, one per line, grouped and
    /// commented; [`Config::from_toml_str`] reads it back to an equal `Config`.
    pub fn to_toml(&self) -> String {
        write::to_toml(self)
    }

    /// TCP reassembly slots per worker: `reassembly_slots`, or one per 64
    /// flow table entries (at least 1024): with slots given back between
    /// messages, a slot is needed only by an end whose message is cut.
    pub fn reassembly_slots_effective(&self) -> u32 {
        auto(self.reassembly_slots, self.flow_table_size / 64, 1024)
    }

    /// QUIC connection states per worker: `quic_slots`, or one per 1024 flow
    /// table entries (at least 64): a state is held only until the
    /// connection's ClientHello (and ServerHello) is read.
    pub fn quic_slots_effective(&self) -> u32 {
        auto(self.quic_slots, self.flow_table_size / 1024, 64)
    }

    /// IP reassembly slots per worker: `ip_fragment_slots`, or one per 1024
    /// flow table entries (at least 64).
    pub fn ip_fragment_slots_effective(&self) -> u32 {
        auto(self.ip_fragment_slots, self.flow_table_size / 1024, 64)
    }

    /// Every port id of every bridge, subscriber port of each bridge first.
    pub fn all_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.bridges.iter().flat_map(Bridge::ports)
    }

    /// The configuration with every default and the given bridges (which are not
    /// validated here; [`Config::from_toml_str`] is the validating constructor).
    pub fn with_bridges(bridges: Vec<Bridge>) -> Config {
        Config {
            eal_args: Vec::new(),
            bridges,
            log_dir: PathBuf::from(defaults::LOG_DIR),
            stats_interval: defaults::STATS_INTERVAL,
            metrics_listen: None,
            rx_descriptors: defaults::RX_DESCRIPTORS,
            tx_descriptors: defaults::TX_DESCRIPTORS,
            queues_per_port: defaults::QUEUES_PER_PORT,
            flow_table_size: defaults::FLOW_TABLE_SIZE,
            flow_tcp_timeout: defaults::FLOW_TCP_TIMEOUT,
            flow_tcp_closed_timeout: defaults::FLOW_TCP_CLOSED_TIMEOUT,
            flow_udp_timeout: defaults::FLOW_UDP_TIMEOUT,
            flow_other_timeout: defaults::FLOW_OTHER_TIMEOUT,
            reassembly_slots: 0,
            reassembly_slot_bytes: defaults::REASSEMBLY_SLOT_BYTES,
            quic_slots: 0,
            ip_fragment_slots: 0,
            ip_fragment_slot_bytes: defaults::IP_FRAGMENT_SLOT_BYTES,
            ipfix_dev: String::new(),
            ipfix_udp_collectors: Vec::new(),
            ipfix_tcp_collectors: Vec::new(),
            ipfix_meta_udp_collectors: Vec::new(),
            ipfix_meta_tcp_collectors: Vec::new(),
            ipfix_meta_raw: Vec::new(),
            ipfix_meta_raw_max_bytes: defaults::IPFIX_META_RAW_MAX_BYTES,
            ipfix_dns_udp_collectors: Vec::new(),
            ipfix_dns_tcp_collectors: Vec::new(),
            ipfix_udp_template_timer: defaults::IPFIX_UDP_TEMPLATE_TIMER,
            ipfix_mtu: defaults::IPFIX_MTU,
            ipfix_tcp_backlog: defaults::IPFIX_TCP_BACKLOG,
            ipfix_domain_id: defaults::IPFIX_DOMAIN_ID,
            ipfix_clickstream_domain_id: defaults::IPFIX_DOMAIN_ID,
            ipfix_meta_domain_id: defaults::IPFIX_DOMAIN_ID,
            ipfix_dns_domain_id: defaults::IPFIX_DOMAIN_ID,
            netflow_timeout: defaults::NETFLOW_TIMEOUT,
            http_parse_reply: false,
            ssl_parse_reply: false,
            dbg_log_mask: defaults::DBG_LOG_MASK,
            ajb_save_dns: false,
            ajb_dns_path: PathBuf::from(defaults::AJB_DNS_PATH),
            ajb_save_dns_format: DnsLogField::ALL.to_vec(),
            ajb_dns_bufsize: defaults::AJB_DNS_BUFSIZE,
            ajb_dns_fsize: defaults::AJB_DNS_FSIZE,
            ajb_dns_ftimeout: defaults::AJB_DNS_FTIMEOUT,
            subscribers_file: None,
            subscribers_max: defaults::SUBSCRIBERS_MAX,
            radius_snoop: true,
            radius_accounting_listen: None,
            radius_secret: String::new(),
            vchannels: Vec::new(),
            block_list: None,
            block_redirect_url: None,
        }
    }
}

#[cfg(test)]
mod tests;

/// A pool size: the configured one, or (0) `derived` but at least `floor`.
fn auto(configured: u32, derived: u32, floor: u32) -> u32 {
    if configured == 0 {
        derived.max(floor)
    } else {
        configured
    }
}
