//! The fields every record of a packet shares (spec §3), built in one place
//! for every record kind.

use metaprobe_ipfix::field::{IpPair, Mac, Octets, Text};
use metaprobe_ipfix::template::{Clickstream, Dns, Ftp, HttpReply, RawMeta, Sip, TlsReply};

use crate::flow::Observed;
use crate::wire::{MPLS_CAP, Packet};

/// MPLS label stack entries a record carries (the decoder keeps as many).
const MPLS_OCTETS: usize = 4 * MPLS_CAP;

/// HOST_TYPE of clickstream records (spec §4).
pub const HOST_HTTP: u8 = 1;
pub const HOST_CNAME: u8 = 2;
pub const HOST_SNI: u8 = 3;
pub const HOST_QUIC: u8 = 4;

/// A record of template `$record` with the common fields of `$c` (spec §3:
/// time, login, addresses, session, VLAN ids, MACs, MPLS labels) — written
/// here once for every record kind — the fields given, and every other field
/// empty or zero.
macro_rules! with_common {
    ($c:expr, $record:ident { $($field:ident: $value:expr),* $(,)? }) => {
        $record {
            time_stamp: $c.time_stamp,
            login: Text::new($c.login),
            addrs: $c.addrs,
            session_id: $c.session_id,
            vlan_id: $c.vlan,
            post_vlan_id: $c.post_vlan,
            source_mac: $c.src_mac,
            destination_mac: $c.dst_mac,
            mpls_labels: $c.mpls(),
            $($field: $value,)*
            ..Default::default()
        }
    };
}

/// The spec's common fields of one packet: addresses, ports, session, L2.
#[derive(Clone, Copy, Debug)]
pub struct Common<'l> {
    /// The flow's subscriber login (empty: unknown).
    pub login: &'l [u8],
    pub time_stamp: u32,
    pub addrs: IpPair,
    pub sport: u16,
    pub dport: u16,
    pub session_id: u64,
    /// BRIDGE_CHANNEL_NUM: the packet's vchannel, or its bridge's number.
    pub channel: u16,
    pub vlan: u16,
    pub post_vlan: u16,
    pub src_mac: Mac,
    pub dst_mac: Mac,
    mpls: [u8; MPLS_OCTETS],
    mpls_len: usize,
}

impl<'l> Common<'l> {
    /// `None` for a packet without IP addresses (no record can name it).
    pub fn of(
        p: &Packet,
        obs: &Observed,
        channel: u16,
        now_unix: u32,
        login: &'l [u8],
    ) -> Option<Self> {
        let (src, dst) = (p.src_addr()?, p.dst_addr()?);
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        let eth = p.ethernet;
        let mut mpls = [0u8; MPLS_OCTETS];
        let mut mpls_len = 0;
        for (e, slot) in p.mpls.entries().iter().zip(mpls.chunks_exact_mut(4)) {
            slot.copy_from_slice(&e.0.to_be_bytes());
            mpls_len += 4;
        }
        Some(Common {
            login,
            time_stamp: now_unix,
            addrs: IpPair::new(src, dst),
            sport,
            dport,
            session_id: obs.session_id.0,
            channel,
            vlan: p.vlan.outer.map_or(0, |t| t.id.value()),
            post_vlan: p.vlan.inner.map_or(0, |t| t.id.value()),
            src_mac: eth.map_or([0; 6], |e| e.src.octets()),
            dst_mac: eth.map_or([0; 6], |e| e.dst.octets()),
            mpls,
            mpls_len,
        })
    }

    /// The same packet seen from the other end (a record about the client's
    /// request built from a server packet), with the client's MACs.
    pub fn reversed(&self, [src_mac, dst_mac]: [Mac; 2]) -> Common<'l> {
        Common {
            addrs: IpPair::new(self.addrs.dst, self.addrs.src),
            sport: self.dport,
            dport: self.sport,
            src_mac,
            dst_mac,
            ..*self
        }
    }

    /// The same fields with another login (e.g. none, to keep them past the packet).
    pub fn with_login<'m>(self, login: &'m [u8]) -> Common<'m> {
        Common { login, ..self }
    }

    pub fn mpls(&self) -> Octets<'_> {
        #[expect(
            clippy::indexing_slicing,
            reason = "mpls_len counts the 4-octet entries written into mpls, at most MPLS_OCTETS"
        )]
        Octets(&self.mpls[..self.mpls_len])
    }

    /// A clickstream record of this packet with the request fields empty.
    pub fn clickstream<'a>(&'a self, host: &'a [u8], host_type: u8, seq: u32) -> Clickstream<'a> {
        with_common!(
            self,
            Clickstream {
                hostname: Text::new(host),
                host_type: host_type,
                port_source: self.sport,
                port_destination: self.dport,
                bridge_channel_num: self.channel,
                tcp_sequence: seq,
            }
        )
    }

    /// A TLS reply record (spec §6) with the ServerHello fields zero.
    pub fn tls_reply(&self) -> TlsReply<'_> {
        with_common!(
            self,
            TlsReply {
                bridge_channel_num: self.channel,
            }
        )
    }

    /// An HTTP reply record (spec §5) with the reply fields empty.
    pub fn http_reply(&self) -> HttpReply<'_> {
        with_common!(
            self,
            HttpReply {
                bridge_channel_num: self.channel,
            }
        )
    }

    /// A DNS record (spec §8) with the answer fields empty.
    pub fn dns(&self, transport: u8) -> Dns<'_> {
        with_common!(
            self,
            Dns {
                port_source: self.sport,
                port_destination: self.dport,
                transport: transport,
                bridge_channel_num: self.channel,
            }
        )
    }

    /// A SIP record (spec §7) with the message fields empty.
    pub fn sip(&self) -> Sip<'_> {
        with_common!(self, Sip {})
    }

    /// An FTP record (spec §7) with the login/mode fields empty.
    pub fn ftp(&self) -> Ftp<'_> {
        with_common!(self, Ftp {})
    }

    /// A raw metadata record (spec §7) with this packet's ports and the
    /// direction, protocol and payload fields empty.
    pub fn raw_meta(&self) -> RawMeta<'_> {
        with_common!(
            self,
            RawMeta {
                source_transport_port: self.sport,
                destination_transport_port: self.dport,
            }
        )
    }
}
