//! The fields every record of a packet shares (spec §3), built in one place
//! for every record kind.

use metaprobe_ipfix::field::{IpPair, Mac, Octets, Text};
use metaprobe_ipfix::template::{Clickstream, Dns, HttpReply, TlsReply};

use crate::flow::Observed;
use crate::wire::{MPLS_CAP, Packet};

/// MPLS label stack entries a record carries (the decoder keeps as many).
const MPLS_OCTETS: usize = 4 * MPLS_CAP;

/// HOST_TYPE of clickstream records (spec §4).
pub const HOST_HTTP: u8 = 1;
pub const HOST_CNAME: u8 = 2;
pub const HOST_SNI: u8 = 3;
pub const HOST_QUIC: u8 = 4;

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
    pub bridge: u16,
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
        bridge: u16,
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
            bridge,
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
        Clickstream {
            time_stamp: self.time_stamp,
            login: Text::new(self.login),
            addrs: self.addrs,
            hostname: Text::new(host),
            path: Text::EMPTY,
            refer: Text::EMPTY,
            user_agent: Text::EMPTY,
            cookie: Text::EMPTY,
            session_id: self.session_id,
            locked: 0,
            host_type,
            method: 0,
            port_source: self.sport,
            port_destination: self.dport,
            bridge_channel_num: self.bridge,
            cipher_suites_len: 0,
            cipher_suites: Octets(&[]),
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            tcp_sequence: seq,
            ..Default::default()
        }
    }

    /// A TLS reply record (spec §6) with the ServerHello fields zero.
    pub fn tls_reply(&self) -> TlsReply<'_> {
        TlsReply {
            time_stamp: self.time_stamp,
            login: Text::new(self.login),
            addrs: self.addrs,
            session_id: self.session_id,
            bridge_channel_num: self.bridge,
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            ..Default::default()
        }
    }

    /// An HTTP reply record (spec §5) with the reply fields empty.
    pub fn http_reply(&self) -> HttpReply<'_> {
        HttpReply {
            time_stamp: self.time_stamp,
            login: Text::new(self.login),
            addrs: self.addrs,
            session_id: self.session_id,
            bridge_channel_num: self.bridge,
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            ..Default::default()
        }
    }

    /// A DNS record (spec §8) with the answer fields empty.
    pub fn dns(&self, transport: u8) -> Dns<'_> {
        Dns {
            time_stamp: self.time_stamp,
            login: Text::new(self.login),
            addrs: self.addrs,
            port_source: self.sport,
            port_destination: self.dport,
            session_id: self.session_id,
            transport,
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            bridge_channel_num: self.bridge,
            ..Default::default()
        }
    }
}
