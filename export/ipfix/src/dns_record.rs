//! Reads a DNS data record (templates 272/273, spec §8) straight from its encoded
//! bytes, without allocating: the export lcore writes the DNS text log from the very
//! records it exports over IPFIX, so the two agree record for record.
//!
//! The layout is the field order of [`crate::template::DNS`]: fixed-size numbers in
//! network byte order, IPv4 (272) or IPv6 (273) addresses, and the RFC 7011 §7
//! variable-length fields (a 1-octet length, or 255 and a 2-octet length). A record
//! that does not follow it exactly (short, or with octets left over) is `None`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::codec::Reader;
use crate::dns_text::RdataText;
use crate::field::read_varlen;
use crate::template::{DNS, TemplateId};

/// The fields of one DNS data record, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsRecordView<'a> {
    pub time_stamp: u32,
    /// LOGIN (UTF-8 as encoded).
    pub login: &'a [u8],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub port_source: u16,
    pub port_destination: u16,
    pub session_id: u64,
    /// 0 UDP, 1 TCP.
    pub transport: u8,
    /// DOMAIN: the owner name, dotted.
    pub domain: &'a [u8],
    pub rrclass: u16,
    pub rrtype: u16,
    pub ttl: u32,
    /// RDATA as exported (names uncompressed).
    pub rdata: &'a [u8],
    pub vlan_id: u16,
    pub post_vlan_id: u16,
    pub source_mac: [u8; 6],
    pub destination_mac: [u8; 6],
    pub mpls_labels: &'a [u8],
    pub bridge_channel_num: u16,
}

impl<'a> DnsRecordView<'a> {
    /// Reads `rec`, a data record of template `id`; `None` when `id` is not a DNS
    /// template or the octets do not follow its layout.
    pub fn parse(id: TemplateId, rec: &'a [u8]) -> Option<Self> {
        let v6 = if id == DNS.v4 {
            false
        } else if id == DNS.v6 {
            true
        } else {
            return None;
        };
        let mut r = Reader::new(rec);
        let time_stamp = r.u32()?;
        let login = read_varlen(&mut r)?;
        let (src, dst) = if v6 {
            (
                IpAddr::V6(Ipv6Addr::from(*r.take_array::<16>()?)),
                IpAddr::V6(Ipv6Addr::from(*r.take_array::<16>()?)),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::from(*r.take_array::<4>()?)),
                IpAddr::V4(Ipv4Addr::from(*r.take_array::<4>()?)),
            )
        };
        let v = DnsRecordView {
            time_stamp,
            login,
            src,
            dst,
            port_source: r.u16()?,
            port_destination: r.u16()?,
            session_id: r.u64()?,
            transport: r.u8()?,
            domain: read_varlen(&mut r)?,
            rrclass: r.u16()?,
            rrtype: r.u16()?,
            ttl: r.u32()?,
            rdata: read_varlen(&mut r)?,
            vlan_id: r.u16()?,
            post_vlan_id: r.u16()?,
            source_mac: *r.take_array()?,
            destination_mac: *r.take_array()?,
            mpls_labels: read_varlen(&mut r)?,
            bridge_channel_num: r.u16()?,
        };
        (!r.any_left()).then_some(v)
    }

    /// The RDATA as the text log writes it.
    pub fn rdata_text(&self) -> RdataText<'a> {
        RdataText {
            rrtype: self.rrtype,
            rdata: self.rdata,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::encoder::encode;
    use crate::field::{Octets, Text};
    use crate::ie;
    use crate::samples;
    use crate::template::{Record, Template};

    /// The reader's field order is the template's: a change of the template must
    /// change the reader.
    #[test]
    fn reader_follows_the_template() {
        let want_v4 = [
            &ie::TIME_STAMP,
            &ie::LOGIN,
            &ie::IP_SOURCE,
            &ie::IP_DESTINATION,
            &ie::PORT_SOURCE,
            &ie::PORT_DESTINATION,
            &ie::SESSION_ID,
            &ie::TRANSPORT,
            &ie::DOMAIN,
            &ie::RRCLASS,
            &ie::RRTYPE,
            &ie::TTL,
            &ie::RDATA,
            &ie::VLAN_ID,
            &ie::POST_VLAN_ID,
            &ie::SOURCE_MAC_ADDRESS,
            &ie::POST_DESTINATION_MAC_ADDRESS,
            &ie::MPLS_LABELS,
            &ie::BRIDGE_CHANNEL_NUM,
        ];
        let got: Vec<_> = Template {
            def: &DNS,
            ipv6: false,
        }
        .elements()
        .collect();
        assert_eq!(got, want_v4);
        let got6: Vec<_> = Template {
            def: &DNS,
            ipv6: true,
        }
        .elements()
        .map(|e| (e.id, e.template_len()))
        .collect();
        let mut want6: Vec<_> = want_v4.iter().map(|e| (e.id, e.template_len())).collect();
        want6[2] = (ie::IP_SOURCE_V6.id, 16);
        want6[3] = (ie::IP_DESTINATION_V6.id, 16);
        assert_eq!(got6, want6);
    }

    fn roundtrip(r: &crate::template::Dns<'_>) -> (Vec<u8>, TemplateId) {
        let mut out = Vec::with_capacity(65_000);
        let plan = encode(r, 65_000, &mut out).unwrap();
        assert!(!plan.truncated);
        (out, r.template().id())
    }

    #[test]
    fn samples_v4_and_v6() {
        for v6 in [false, true] {
            let s = samples::dns(1_700_000_000, v6);
            let (bytes, id) = roundtrip(&s);
            assert_eq!(id, if v6 { DNS.v6 } else { DNS.v4 });
            let v = DnsRecordView::parse(id, &bytes).unwrap();
            assert_eq!(v.time_stamp, 1_700_000_000);
            assert_eq!(v.login, b"subscriber-1");
            assert_eq!((v.src, v.dst), (s.addrs.src, s.addrs.dst));
            assert_eq!((v.port_source, v.port_destination), (53, 40003));
            assert_eq!(v.session_id, 13);
            assert_eq!(v.transport, 0);
            assert_eq!(v.domain, b"www.example.com");
            assert_eq!((v.rrclass, v.rrtype, v.ttl), (1, 1, 300));
            assert_eq!(v.rdata, [93, 184, 216, 34]);
            assert_eq!((v.vlan_id, v.post_vlan_id), (100, 200));
            assert_eq!(v.source_mac, s.source_mac);
            assert_eq!(v.destination_mac, s.destination_mac);
            assert_eq!(v.mpls_labels, b"");
            assert_eq!(v.bridge_channel_num, 1);
            assert_eq!(v.rdata_text().to_string(), "93.184.216.34");
            // The other family's id, a non-DNS id, every truncation, a trailing octet.
            let other = if v6 { DNS.v4 } else { DNS.v6 };
            assert_eq!(DnsRecordView::parse(other, &bytes), None);
            assert_eq!(DnsRecordView::parse(TemplateId(256), &bytes), None);
            for n in 0..bytes.len() {
                assert_eq!(DnsRecordView::parse(id, &bytes[..n]), None, "cut at {n}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert_eq!(DnsRecordView::parse(id, &long), None);
        }
    }

    #[test]
    fn long_varlen_fields_use_the_three_octet_form() {
        let rdata = vec![0xab; 300];
        let name = "a".repeat(260);
        let mut s = samples::dns(7, true);
        s.rdata = Octets(&rdata);
        s.domain = Text::from_str(&name);
        s.rrtype = 16;
        s.transport = 1;
        s.mpls_labels = Octets(&[1, 2, 3, 4]);
        let (bytes, id) = roundtrip(&s);
        let v = DnsRecordView::parse(id, &bytes).unwrap();
        assert_eq!(v.rdata, &rdata[..]);
        assert_eq!(v.domain, name.as_bytes());
        assert_eq!(v.transport, 1);
        assert_eq!(v.mpls_labels, [1, 2, 3, 4]);
        assert_eq!(v.rdata_text().to_string(), "ab".repeat(300));
    }
}
