//! Why decoding stopped before an L4 payload: the layer, the reason, where, and how
//! many bytes were needed versus there.
//!
//! One table defines every reason with its layer, its kind and its name (the idea of
//! VPP's `foreach_flowprobe_error`), so the enum can index per-worker counters
//! (`[u64; StopReason::COUNT]`) and the statistics can print names without a second
//! list to keep in step.

use core::fmt;

/// The layer a [`Stop`] happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layer {
    Ethernet,
    Vlan,
    Mpls,
    Pppoe,
    /// An IP header chosen by its first nibble (after MPLS, or raw IP), before its
    /// version is known.
    Ip,
    Ipv4,
    Ipv6,
    /// An IPv6 extension header (hop-by-hop, routing, fragment, destination options, …).
    Ipv6Ext,
    Tcp,
    Udp,
    /// The transport layer when it is neither TCP nor UDP.
    Transport,
}

/// What kind of stop a reason is; lets counters group reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StopKind {
    /// A header (or the part a length field announced) is cut short by the capture.
    Truncated,
    /// A field holds a value the protocol does not allow.
    Malformed,
    /// A repetition went past this decoder's fixed bound.
    Limit,
    /// Well-formed, but not something this decoder follows further (ARP, ICMP, a later
    /// fragment, …). The packet is forwarded and counted like every other.
    NotDecoded,
}

macro_rules! stop_reasons {
    ($( $(#[$doc:meta])* $variant:ident = ($layer:ident, $kind:ident, $name:literal), )+) => {
        /// Why decoding stopped. `reason as usize` (or [`StopReason::index`]) is dense
        /// from 0 to [`StopReason::COUNT`] - 1.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum StopReason {
            $( $(#[$doc])* $variant, )+
        }

        impl StopReason {
            /// Every reason, in index order.
            pub const ALL: &'static [StopReason] = &[$( StopReason::$variant, )+];
            /// Number of reasons: the length of a counter array indexed by them.
            pub const COUNT: usize = Self::ALL.len();

            /// The layer this reason belongs to.
            pub const fn layer(self) -> Layer {
                match self { $( StopReason::$variant => Layer::$layer, )+ }
            }

            /// Truncated, malformed, over a limit, or just not decoded further.
            pub const fn kind(self) -> StopKind {
                match self { $( StopReason::$variant => StopKind::$kind, )+ }
            }

            /// A short stable name for logs and statistics.
            pub const fn name(self) -> &'static str {
                match self { $( StopReason::$variant => $name, )+ }
            }
        }
    };
}

stop_reasons! {
    /// Fewer than the 14 octets of an Ethernet II header.
    EthernetTruncated = (Ethernet, Truncated, "eth_truncated"),
    /// An ether type this decoder does not follow (ARP, LLDP, an 802.3 length, …);
    /// `value` is the ether type.
    UnsupportedEtherType = (Ethernet, NotDecoded, "eth_unsupported_type"),
    /// Fewer than the 4 octets of a VLAN tag.
    VlanTruncated = (Vlan, Truncated, "vlan_truncated"),
    /// More than [`crate::wire::VLAN_MAX_DEPTH`] stacked tags.
    VlanTooDeep = (Vlan, Limit, "vlan_too_deep"),
    /// Fewer than 4 octets for a label stack entry.
    MplsTruncated = (Mpls, Truncated, "mpls_truncated"),
    /// No bottom of stack within [`crate::wire::MPLS_MAX_DEPTH`] entries.
    MplsTooDeep = (Mpls, Limit, "mpls_too_deep"),
    /// After the bottom of stack the first nibble is neither 4 nor 6 (a pseudowire
    /// control word, Ethernet over MPLS, …); `value` is the nibble.
    MplsPayloadNotIp = (Mpls, NotDecoded, "mpls_payload_not_ip"),
    /// Fewer than the 6 octets of the PPPoE header plus the PPP protocol field.
    PppoeTruncated = (Pppoe, Truncated, "pppoe_truncated"),
    /// PPPoE session with version/type other than 1/1 or a code other than 0;
    /// `value` is `ver_type << 8 | code`.
    PppoeBadHeader = (Pppoe, Malformed, "pppoe_bad_header"),
    /// PPPoE discovery (0x8863): PADI/PADO/PADR/PADS/PADT carry no IP.
    PppoeDiscovery = (Pppoe, NotDecoded, "pppoe_discovery"),
    /// A PPP protocol other than IPv4/IPv6 (LCP, IPCP, CHAP, …); `value` is the protocol.
    UnsupportedPppProtocol = (Pppoe, NotDecoded, "ppp_unsupported_protocol"),
    /// Nothing where an IP header chosen by its first nibble was expected (after the
    /// MPLS bottom of stack, or an empty raw-IP packet).
    IpTruncated = (Ip, Truncated, "ip_truncated"),
    /// A raw-IP packet whose first nibble is neither 4 nor 6; `value` is the nibble.
    IpBadVersion = (Ip, Malformed, "ip_bad_version"),
    /// Fewer than the 20 octets of the fixed IPv4 header.
    Ipv4Truncated = (Ipv4, Truncated, "ipv4_truncated"),
    /// The header says IPv4 (ether type 0x0800 or PPP 0x0021) but the version is not 4;
    /// `value` is the version.
    Ipv4BadVersion = (Ipv4, Malformed, "ipv4_bad_version"),
    /// IHL below 5; `value` is the IHL.
    Ipv4BadHeaderLen = (Ipv4, Malformed, "ipv4_bad_header_len"),
    /// IHL announces options that were not captured (`need` comes from IHL × 4).
    Ipv4OptionsTruncated = (Ipv4, Truncated, "ipv4_options_truncated"),
    /// Total length below the header length (and not 0); `value` is the total length.
    Ipv4BadTotalLen = (Ipv4, Malformed, "ipv4_bad_total_len"),
    /// A fragment with a non-zero offset: counted and passed, no L4 header in it.
    Ipv4LaterFragment = (Ipv4, NotDecoded, "ipv4_later_fragment"),
    /// Fewer than the 40 octets of the IPv6 header.
    Ipv6Truncated = (Ipv6, Truncated, "ipv6_truncated"),
    /// The header says IPv6 but the version is not 6; `value` is the version.
    Ipv6BadVersion = (Ipv6, Malformed, "ipv6_bad_version"),
    /// An extension header cut short (its fixed part, or the length it announces).
    Ipv6ExtTruncated = (Ipv6Ext, Truncated, "ipv6_ext_truncated"),
    /// More than [`crate::wire::IPV6_EXT_CAP`] extension headers.
    Ipv6ExtTooMany = (Ipv6Ext, Limit, "ipv6_ext_too_many"),
    /// A fragment header with a non-zero offset: counted and passed.
    Ipv6LaterFragment = (Ipv6Ext, NotDecoded, "ipv6_later_fragment"),
    /// An IP protocol other than TCP and UDP (ICMP, GRE, ESP, …); `value` is the protocol.
    UnsupportedTransport = (Transport, NotDecoded, "ip_unsupported_protocol"),
    /// Fewer than the 20 octets of the fixed TCP header.
    TcpTruncated = (Tcp, Truncated, "tcp_truncated"),
    /// Data offset below 5; `value` is the data offset.
    TcpBadDataOffset = (Tcp, Malformed, "tcp_bad_data_offset"),
    /// The data offset announces options that were not captured (`need` = offset × 4).
    TcpOptionsTruncated = (Tcp, Truncated, "tcp_options_truncated"),
    /// Fewer than the 8 octets of the UDP header.
    UdpTruncated = (Udp, Truncated, "udp_truncated"),
    /// UDP length below 8 (and not 0, which jumbograms use); `value` is the length.
    UdpBadLength = (Udp, Malformed, "udp_bad_length"),
}

impl StopReason {
    /// The counter index of this reason.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where and why decoding stopped. Small and `Copy`: it lives in the [`Packet`]
/// summary and costs nothing to build.
///
/// [`Packet`]: crate::wire::Packet
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stop {
    pub reason: StopReason,
    /// Offset in the frame of the header that stopped decoding.
    pub offset: u32,
    /// For truncations: octets the header needed from `offset`.
    pub need: u32,
    /// For truncations: octets there were from `offset` (within the enclosing layer).
    pub have: u32,
    /// The wire value behind the reason (an ether type, a protocol, a version, a
    /// length field); 0 when the reason has none.
    pub value: u32,
}

impl Stop {
    /// A header that needed `need` octets where `have` were available.
    #[inline]
    pub(crate) const fn truncated(reason: StopReason, need: usize, have: usize) -> Self {
        Self {
            reason,
            offset: 0,
            need: sat(need),
            have: sat(have),
            value: 0,
        }
    }

    /// A stop explained by one wire value.
    #[inline]
    pub(crate) const fn value(reason: StopReason, value: u32) -> Self {
        Self {
            reason,
            offset: 0,
            need: 0,
            have: 0,
            value,
        }
    }

    /// The same stop, placed at `offset` in the frame (headers parse relative to their
    /// own start; the decoder knows where that is).
    #[inline]
    pub(crate) const fn at(mut self, offset: usize) -> Self {
        self.offset = sat(offset);
        self
    }

    pub const fn layer(&self) -> Layer {
        self.reason.layer()
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.reason, self.offset)?;
        if self.reason.kind() == StopKind::Truncated {
            write!(f, ": need {} octets, have {}", self.need, self.have)?;
        } else if self.value != 0 {
            write!(f, ": value {:#x}", self.value)?;
        }
        Ok(())
    }
}

const fn sat(n: usize) -> u32 {
    if n > u32::MAX as usize {
        u32::MAX
    } else {
        n as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_densely_and_have_unique_names() {
        for (i, r) in StopReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut names: Vec<&str> = StopReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), StopReason::COUNT);
    }

    #[test]
    fn display_says_where_and_how_much() {
        let s = Stop::truncated(StopReason::TcpOptionsTruncated, 40, 24).at(34);
        assert_eq!(
            s.to_string(),
            "tcp_options_truncated at offset 34: need 40 octets, have 24"
        );
        let s = Stop::value(StopReason::UnsupportedEtherType, 0x0806).at(12);
        assert_eq!(
            s.to_string(),
            "eth_unsupported_type at offset 12: value 0x806"
        );
        assert_eq!(s.layer(), Layer::Ethernet);
    }
}
