//! Raw metadata (spec §7, templates 270/271 of the meta stream): for the flows
//! of the protocols `ipfix_meta_raw` lists, one record per packet with payload
//! — the payload itself (cut to `ipfix_meta_raw_max_bytes`, cuts counted), who
//! sent it and how.
//!
//! The path is generic: a protocol takes part by answering its `raw(&State)`
//! with the [`Raw`] numbers of its flows, and the dispatch emits the record of
//! every payload packet of such a flow before the protocol's driver sees it.
//! Adding a protocol to the raw path is that one function; a protocol whose
//! only records are raw ones (NNTP, H.323) has a signature and a driver that
//! does nothing else.

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::RawMeta;

use super::{Output, Seen};
use crate::counters::{AppCount, AppCounters};
use crate::wire::Transport;

/// META_PROTO (spec §7): the protocol of a raw record, in the spec's numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum MetaProto {
    Sip = 3,
    Ftp = 4,
    Smtp = 5,
    Pop3 = 6,
    Imap = 7,
    Xmpp = 8,
    Icq = 9,
    Nntp = 11,
    H323 = 12,
}

impl MetaProto {
    pub const ALL: [MetaProto; 9] = [
        MetaProto::Sip,
        MetaProto::Ftp,
        MetaProto::Smtp,
        MetaProto::Pop3,
        MetaProto::Imap,
        MetaProto::Xmpp,
        MetaProto::Icq,
        MetaProto::Nntp,
        MetaProto::H323,
    ];

    pub const fn code(self) -> u16 {
        self as u16
    }
}

/// VDPI_PROTO: the protocol as metaprobe's registry identified the flow.
/// These numbers are ours and stable (docs/ipfix.md lists them); they tell
/// apart what META_PROTO puts together (an FTP control connection and the
/// data connections it announced are both META_PROTO 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum DpiProto {
    Sip = 1,
    /// An FTP control connection (port 21 or the 220 greeting).
    FtpControl = 2,
    /// A data connection a control connection announced (PORT/EPRT/PASV/EPSV).
    FtpData = 3,
    Nntp = 4,
    /// H.323 call signalling (H.225.0/Q.931 in TPKT, port 1720).
    H323 = 5,
    /// XMPP client-to-server (port 5222 or the stream header).
    Xmpp = 9,
    /// ICQ/AIM over OSCAR (FLAP on 5190, 443 or any port by its sign-on).
    Oscar = 10,
    /// SMTP (ports 25, 587, or a greeting naming SMTP).
    Smtp = 6,
    /// POP3 (port 110, or a `+OK` greeting).
    Pop3 = 7,
    /// IMAP (port 143, or a `* OK` greeting).
    Imap = 8,
}

impl DpiProto {
    pub const fn code(self) -> u16 {
        self as u16
    }
}

/// The protocols whose raw records are wanted (`ipfix_meta_raw`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawSet(u16);

impl RawSet {
    pub const NONE: RawSet = RawSet(0);

    /// The set with `p` too (every META_PROTO is below 16: one bit each).
    pub const fn with(self, p: MetaProto) -> RawSet {
        RawSet(self.0 | 1 << p.code())
    }

    pub const fn contains(self, p: MetaProto) -> bool {
        self.0 & (1 << p.code()) != 0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// What the raw records of a flow say of it, from its protocol's `raw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Raw {
    pub meta: MetaProto,
    pub dpi: DpiProto,
    /// The SESSION_ID the records carry when it is not the flow's own: an
    /// FTP data connection's records carry its control connection's.
    pub session_id: Option<u64>,
}

impl Raw {
    pub const fn new(meta: MetaProto, dpi: DpiProto) -> Raw {
        Raw {
            meta,
            dpi,
            session_id: None,
        }
    }
}

/// Hands the raw record of one packet to the export side. `data` is the
/// packet's payload — or, for the segment that completed a signature the
/// detection had waited for, the octets held since the first of them — and
/// `seq` the TCP sequence number of its first octet (0 over UDP). Longer
/// than `max` octets, it is cut (counted).
pub(super) fn emit(
    raw: Raw,
    seen: &Seen<'_>,
    (data, seq): (&[u8], u32),
    max: usize,
    out: &mut Output,
    c: &AppCounters,
) {
    if !out.exporting() {
        return;
    }
    let Some(common) = seen.common() else {
        return;
    };
    let data = match data.get(..max) {
        Some(cut) if cut.len() < data.len() => {
            c.add(AppCount::RawCut, 1);
            cut
        }
        _ => data,
    };
    let flags = match seen.packet.transport {
        Transport::Tcp(tcp) => tcp.flags.0,
        Transport::Udp(_) | Transport::None => 0,
    };
    let record = RawMeta {
        session_id: raw.session_id.unwrap_or(common.session_id),
        flw_dir: seen.obs.dir,
        dir_data: u8::from(!seen.from_client),
        vdpi_proto: raw.dpi.code(),
        meta_proto: raw.meta.code(),
        raw_data: Text::new(data),
        protocol_identifier: seen.packet.protocol().map_or(0, |p| p.0),
        tcp_control_bits: flags,
        tcp_sequence: seq,
        ..common.raw_meta()
    };
    if out.emit(&record, c) {
        c.add(AppCount::RawRecords, 1);
    }
}

/// The per-flow and per-worker state and the driver of a protocol whose only
/// records are raw ones (NNTP, H.323): nothing is kept and nothing done — the
/// dispatch makes the raw record of every packet. Such a protocol's home is
/// its signature, `wanted` and `raw`.
pub mod only {
    use crate::app::{AppConfig, Close, Cx, Ends, Seen};

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct State;

    pub struct Worker;

    impl Worker {
        pub fn new(_: &AppConfig) -> Worker {
            Worker
        }

        pub fn memory_bytes(&self) -> usize {
            0
        }
    }

    pub(in crate::app) fn on_payload(
        _: &mut State,
        _: &mut Worker,
        _: &mut Ends,
        _: &mut Cx<'_>,
        _: &Seen<'_>,
    ) {
    }

    pub(in crate::app) fn on_close(
        _: &mut State,
        _: &mut Worker,
        _: &mut Ends,
        _: &mut Cx<'_>,
        _: Close,
    ) {
    }

    pub(in crate::app) fn on_end(_: &State, _: &mut Worker, _: &Ends, _: &mut Cx<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use metaprobe_ipfix::encoder::{plan, record_limit_for_mtu};
    use metaprobe_ipfix::field::IpPair;

    /// What docs/configuration.md says of the default `ipfix_mtu`: the fields of a raw
    /// record leave RAW_DATA 1374 octets over IPv4, 1350 over IPv6 (no MPLS labels), so
    /// the encoder cuts a payload of 1400 further (counted as truncated by the export).
    #[test]
    fn the_default_mtu_leaves_1374_octets_of_raw_data() {
        let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let payload = [b'a'; 1400];
        for (addrs, fits) in [(IpPair::new(v4, v4), 1374), (IpPair::new(v6, v6), 1350)] {
            let r = RawMeta {
                addrs,
                raw_data: Text::new(&payload),
                ..RawMeta::default()
            };
            let p = plan(&r, record_limit_for_mtu(1500));
            assert_eq!(p.map(|p| (p.cap, p.truncated)), Ok((fits, true)));
        }
    }

    #[test]
    fn a_set_holds_what_was_added() {
        let s = RawSet::NONE.with(MetaProto::Sip).with(MetaProto::H323);
        assert!(s.contains(MetaProto::Sip) && s.contains(MetaProto::H323));
        assert!(!s.contains(MetaProto::Ftp) && !s.contains(MetaProto::Nntp));
        assert!(RawSet::NONE.is_empty() && !s.is_empty());
    }
}
