//! Record encoding, size first: a record is planned (its exact length, with
//! any truncation needed to fit a limit) before a single octet is written,
//! and written only into room that is already there — a buffer never grows,
//! so encoding never allocates.
//!
//! # Why encoded chunks
//!
//! A worker turns a typed record (`template::Clickstream`, …, borrowed slices
//! of the packet) into the record's final IPFIX bytes inside a [`Chunk`], a
//! recycled buffer of many records. That is the copy out of the mbuf the
//! worker must make anyway, and it leaves the single export lcore only a
//! `memcpy` per record and collector (see `benches/encode.rs`). The encoded
//! data record is also the most compact form there is, so a chunk of a given
//! size carries the most records.
//!
//! # Truncation
//!
//! A record must fit in one message (spec §2: never split; a UDP message
//! never exceeds the MTU). When the fields are longer than the limit, the
//! variable-length fields are cut to one common cap, the largest that fits
//! ("water filling"): short fields stay whole, the long ones (cookies, paths,
//! payloads) lose their tails; strings are cut on a character boundary.

use crate::field::{Field, MAX_VARLEN_CONTENT};
use crate::template::{Record, TemplateId};

/// Why a record was not encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// Even with every variable-length field empty the record exceeds the limit.
    TooLong {
        /// Octets of the record with empty variable-length fields.
        min: usize,
        /// The limit.
        limit: usize,
    },
    /// The buffer has not this much room left (nothing was written).
    NoRoom {
        /// Octets needed.
        needed: usize,
    },
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::TooLong { min, limit } => {
                write!(
                    f,
                    "record of at least {min} octets exceeds the limit of {limit}"
                )
            }
            EncodeError::NoRoom { needed } => write!(f, "no room for {needed} octets"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The plan of one record: its length and the cap of its variable fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Octets the record will take.
    pub len: usize,
    /// Content cap applied to every variable-length field.
    pub cap: usize,
    /// True when some field is cut.
    pub truncated: bool,
}

/// The fields of one data record in wire order, measured and written as a whole:
/// a typed record (the `templates!` macro writes each field's own code, with no
/// dynamic dispatch: the worker encodes every record this way), or a slice of
/// fields of any types (a record refitted field by field).
pub trait Fields {
    /// Octets the fields take with every variable-length one cut to `cap`, and
    /// whether one had to be cut.
    fn wire_len(&self, cap: usize) -> (usize, bool);
    /// Writes the fields as [`Fields::wire_len`] measured them for `cap`.
    fn write(&self, cap: usize, out: &mut Vec<u8>);
}

impl Fields for [&dyn Field] {
    fn wire_len(&self, cap: usize) -> (usize, bool) {
        self.iter().fold((0, false), |(len, cut), f| {
            let (n, c) = f.wire_len(cap);
            (len + n, cut | c)
        })
    }
    fn write(&self, cap: usize, out: &mut Vec<u8>) {
        for f in self {
            f.write(cap, out);
        }
    }
}

fn total_with_cap<F: Fields + ?Sized>(fields: &F, cap: usize) -> usize {
    fields.wire_len(cap).0
}

/// Plans a record of `fields` that must not exceed `limit` octets.
pub fn plan<F: Fields + ?Sized>(fields: &F, limit: usize) -> Result<Plan, EncodeError> {
    let (full, truncated) = fields.wire_len(MAX_VARLEN_CONTENT);
    if full <= limit {
        return Ok(Plan {
            len: full,
            cap: MAX_VARLEN_CONTENT,
            truncated,
        });
    }
    let min = total_with_cap(fields, 0);
    if min > limit {
        return Err(EncodeError::TooLong { min, limit });
    }
    // Largest cap in [0, MAX] whose total fits: total is monotone in cap.
    let (mut lo, mut hi) = (0usize, MAX_VARLEN_CONTENT);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if total_with_cap(fields, mid) <= limit {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Plan {
        len: total_with_cap(fields, lo),
        cap: lo,
        truncated: true,
    })
}

/// Writes `fields` as planned. `out` must have `plan.len` octets of spare
/// capacity (checked by [`encode_fields`]).
pub(crate) fn write_planned<F: Fields + ?Sized>(fields: &F, plan: &Plan, out: &mut Vec<u8>) {
    fields.write(plan.cap, out);
}

/// Appends the data record of `fields` to `out`, at most `limit` octets,
/// without growing `out`. Returns the plan that was written.
pub fn encode_fields<F: Fields + ?Sized>(
    fields: &F,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<Plan, EncodeError> {
    let plan = plan(fields, limit)?;
    if out.capacity() - out.len() < plan.len {
        return Err(EncodeError::NoRoom { needed: plan.len });
    }
    let start = out.len();
    write_planned(fields, &plan, out);
    debug_assert_eq!(out.len() - start, plan.len);
    Ok(plan)
}

/// Length of a record's data record when not truncated (size first).
pub fn record_len<R: Record>(r: &R) -> usize {
    total_with_cap(r, MAX_VARLEN_CONTENT)
}

/// Appends `r` as a data record (see [`encode_fields`]).
pub fn encode<R: Record>(r: &R, limit: usize, out: &mut Vec<u8>) -> Result<Plan, EncodeError> {
    encode_fields(r, limit, out)
}

/// A batch of encoded data records of any templates, in one recycled buffer:
/// what a worker hands to the export lcore.
///
/// Layout: for each record, template id (2 octets), record length (2 octets),
/// the record's IPFIX data record bytes. The buffer keeps the capacity it was
/// made with; [`Chunk::clear`] empties it for reuse.
#[derive(Debug)]
pub struct Chunk {
    buf: Vec<u8>,
    records: u32,
    truncated: u32,
}

/// What [`Chunk::push`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// Octets of the data record.
    pub len: usize,
    /// True when a field was cut to fit the limit.
    pub truncated: bool,
}

impl Chunk {
    /// A chunk that holds `capacity` octets (records + 4 octets each).
    pub fn with_capacity(capacity: usize) -> Self {
        Chunk {
            buf: Vec::with_capacity(capacity),
            records: 0,
            truncated: 0,
        }
    }

    /// Appends `r`, at most `limit` octets of data record (use
    /// `Session::max_record_len` or [`record_limit_for_mtu`]).
    /// `Err(NoRoom)` means the chunk is full: hand it over and take another.
    pub fn push<R: Record>(&mut self, r: &R, limit: usize) -> Result<Pushed, EncodeError> {
        let limit = limit.min(u16::MAX as usize);
        let tid = r.template().id();
        let plan = plan(r, limit)?;
        if self.buf.capacity() - self.buf.len() < plan.len + 4 {
            return Err(EncodeError::NoRoom {
                needed: plan.len + 4,
            });
        }
        self.buf.extend_from_slice(&tid.0.to_be_bytes());
        self.buf.extend_from_slice(&(plan.len as u16).to_be_bytes());
        write_planned(r, &plan, &mut self.buf);
        self.records += 1;
        if plan.truncated {
            self.truncated += 1;
        }
        Ok(Pushed {
            len: plan.len,
            truncated: plan.truncated,
        })
    }

    /// Records in the chunk.
    pub fn records(&self) -> u32 {
        self.records
    }

    /// Records that were cut to fit.
    pub fn truncated(&self) -> u32 {
        self.truncated
    }

    /// True when the chunk holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Octets used.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Empties the chunk, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.records = 0;
        self.truncated = 0;
    }

    /// The records: (template id, data record bytes).
    pub fn iter(&self) -> ChunkIter<'_> {
        ChunkIter { rest: &self.buf }
    }
}

/// Iterator over the records of a [`Chunk`].
#[derive(Clone, Debug)]
pub struct ChunkIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ChunkIter<'a> {
    type Item = (TemplateId, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (hdr, rest) = self.rest.split_first_chunk::<4>()?;
        let tid = u16::from_be_bytes([hdr[0], hdr[1]]);
        let len = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
        let (rec, rest) = rest.split_at_checked(len)?;
        self.rest = rest;
        Some((TemplateId(tid), rec))
    }
}

/// IPv4 + UDP header octets.
pub const IPV4_UDP_OVERHEAD: usize = 20 + 8;
/// IPv6 + UDP header octets.
pub const IPV6_UDP_OVERHEAD: usize = 40 + 8;
/// IPFIX message header octets.
pub const MESSAGE_HEADER_LEN: usize = 16;
/// Set header octets.
pub const SET_HEADER_LEN: usize = 4;

/// The longest data record that fits in one UDP message for an IP MTU of
/// `mtu` octets towards any collector (IPv6 worst case): what a worker passes
/// as the limit of [`Chunk::push`].
pub const fn record_limit_for_mtu(mtu: usize) -> usize {
    mtu.saturating_sub(IPV6_UDP_OVERHEAD + MESSAGE_HEADER_LEN + SET_HEADER_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::{IpPair, Octets, Text};
    use crate::template::{Clickstream, Dns};

    /// A typed record written through its own field code, and the same record as a
    /// slice of `&dyn Field`: the same octets and the same cuts at every limit.
    fn typed_and_dynamic_agree<R: Record>(r: &R) {
        let dynamic_v6 = r.with_fields(|fs| fs.iter().any(|f| f.is_v6()));
        assert_eq!(r.is_v6(), dynamic_v6, "{}", R::DEF.kind);
        let whole = record_len(r);
        for limit in [whole, whole - 1, whole / 2, 90, 40, 0] {
            let (mut typed, mut dynamic) = (Vec::with_capacity(whole), Vec::with_capacity(whole));
            let a = encode_fields(r, limit, &mut typed);
            let b = r.with_fields(|fs| encode_fields(fs, limit, &mut dynamic));
            assert_eq!(a, b, "{} at limit {limit}", R::DEF.kind);
            assert_eq!(typed, dynamic, "{} at limit {limit}", R::DEF.kind);
        }
    }

    #[test]
    fn every_template_encodes_the_same_typed_and_through_dyn_fields() {
        use crate::samples;
        for v6 in [false, true] {
            typed_and_dynamic_agree(&samples::clickstream(7, v6));
            typed_and_dynamic_agree(&samples::http_reply(7, v6));
            typed_and_dynamic_agree(&samples::tls_reply(7, v6));
            typed_and_dynamic_agree(&samples::sip(7, v6));
            typed_and_dynamic_agree(&samples::ftp(7, v6));
            typed_and_dynamic_agree(&samples::im(7, v6));
            typed_and_dynamic_agree(&samples::mail(7, v6));
            typed_and_dynamic_agree(&samples::raw_meta(7, v6));
            typed_and_dynamic_agree(&samples::dns(7, v6));
        }
    }

    fn dns<'a>(domain: &'a str, rdata: &'a [u8]) -> Dns<'a> {
        Dns {
            time_stamp: 0x6553_f100,
            login: Text::from_str("u1"),
            addrs: IpPair::new("198.18.0.1".parse().unwrap(), "198.19.0.2".parse().unwrap()),
            port_source: 53,
            port_destination: 40000,
            session_id: 0x0102_0304_0506_0708,
            transport: 0,
            domain: Text::from_str(domain),
            rrclass: 1,
            rrtype: 1,
            ttl: 300,
            rdata: Octets(rdata),
            vlan_id: 10,
            post_vlan_id: 20,
            source_mac: [2, 0, 0, 0, 0, 1],
            destination_mac: [2, 0, 0, 0, 0, 2],
            mpls_labels: Octets(&[]),
            bridge_channel_num: 1,
            ..Default::default()
        }
    }

    #[test]
    fn dns_record_hand_checked_bytes() {
        let r = dns("a.example", &[192, 0, 2, 7]);
        let mut out = Vec::with_capacity(256);
        let plan = encode(&r, 1400, &mut out).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = [
            &[0x65, 0x53, 0xf1, 0x00][..],          // 1001 TIME_STAMP
            &[2, b'u', b'1'],                        // 1002 LOGIN "u1"
            &[198, 18, 0, 1], &[198, 19, 0, 2],      // 1003, 1004
            &[0, 53], &[0x9c, 0x40],                 // 1013, 1014 (40000)
            &[1, 2, 3, 4, 5, 6, 7, 8],               // 2000 SESSION_ID
            &[0],                                    // 3200 TRANSPORT udp
            &[9], b"a.example",                      // 3201 DOMAIN
            &[0, 1], &[0, 1],                        // 3202 RRCLASS, 3203 RRTYPE
            &[0, 0, 1, 0x2c],                        // 3204 TTL 300
            &[4, 192, 0, 2, 7],                      // 3205 RDATA
            &[0, 10], &[0, 20],                      // 58, 59
            &[2, 0, 0, 0, 0, 1], &[2, 0, 0, 0, 0, 2],// 56, 57
            &[0],                                    // 2017 MPLS (empty)
            &[0, 1],                                 // 2016 BRIDGE_CHANNEL_NUM
        ].concat();
        assert_eq!(out, want);
        assert_eq!(plan.len, want.len());
        assert_eq!(record_len(&r), want.len());
        assert!(!plan.truncated);
        assert_eq!(r.template().id(), TemplateId(272));
    }

    #[test]
    fn varlen_at_254_255_256_65535() {
        let big = vec![b'x'; 70000];
        for n in [0usize, 1, 254, 255, 256, 65535] {
            let r = dns(core::str::from_utf8(&big[..n]).unwrap(), &[]);
            let mut out = Vec::with_capacity(70000);
            let plan = encode(&r, 200_000, &mut out).unwrap();
            assert!(!plan.truncated);
            // Fixed prefix of the record before DOMAIN: 4+3+8+4+8+1 = 28 octets.
            let dom = &out[28..];
            if n < 255 {
                assert_eq!(dom[0] as usize, n);
                assert_eq!(&dom[1..1 + n], &big[..n]);
            } else {
                assert_eq!(dom[0], 255);
                assert_eq!(u16::from_be_bytes([dom[1], dom[2]]) as usize, n);
                assert_eq!(&dom[3..3 + n], &big[..n]);
            }
            assert_eq!(plan.len, out.len());
        }
        // Longer than 65535 is cut to 65535 (never wrapped).
        let r = dns(core::str::from_utf8(&big).unwrap(), &[]);
        let mut out = Vec::with_capacity(140_000);
        let plan = encode(&r, 200_000, &mut out).unwrap();
        assert!(plan.truncated);
        assert_eq!(&out[28..31], &[255, 255, 255]);
    }

    #[test]
    fn truncation_fits_the_limit_exactly_and_keeps_short_fields() {
        let long = "p".repeat(3000);
        let cookie = "c".repeat(3000);
        let r = Clickstream {
            hostname: Text::from_str("www.example.com"),
            path: Text::from_str(&long),
            cookie: Text::from_str(&cookie),
            ..Default::default()
        };
        for limit in [200usize, 1000, 1432, 4000] {
            let mut out = Vec::with_capacity(8000);
            let plan = encode(&r, limit, &mut out).unwrap();
            assert!(plan.truncated);
            assert!(out.len() <= limit, "{} > {limit}", out.len());
            // No wasted room beyond what a 1..3 octet prefix change can cost.
            assert!(out.len() + 6 >= limit, "{} << {limit}", out.len());
            // The hostname survived whole.
            assert!(out.windows(16).any(|w| w == b"\x0fwww.example.com"));
        }
        let mut out = Vec::with_capacity(8000);
        assert!(matches!(
            encode(&r, 20, &mut out),
            Err(EncodeError::TooLong { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn utf8_truncation_in_a_record() {
        // 1000 two-octet characters, limit forces a cut inside one of them.
        let s = "é".repeat(1000);
        let r = Clickstream {
            user_agent: Text::from_str(&s),
            ..Default::default()
        };
        let min = record_len(&Clickstream::default());
        let mut out = Vec::with_capacity(4000);
        let plan = encode(&r, min + 101, &mut out).unwrap();
        assert!(plan.truncated);
        assert_eq!(plan.cap % 2, 1);
        // The user agent starts after TIME_STAMP, LOGIN, addrs, 4 varlen fields.
        let ua = &out[4 + 1 + 8 + 1 + 1 + 1..];
        let n = ua[0] as usize;
        assert_eq!(n, 100);
        assert!(core::str::from_utf8(&ua[1..1 + n]).is_ok());
    }

    #[test]
    fn no_room_writes_nothing() {
        let r = dns("x", &[]);
        let mut out = Vec::with_capacity(10);
        let e = encode(&r, 1000, &mut out).unwrap_err();
        assert_eq!(
            e,
            EncodeError::NoRoom {
                needed: record_len(&r)
            }
        );
        assert!(out.is_empty());
        assert_eq!(out.capacity(), 10);
    }

    #[test]
    fn chunk_round_trip_and_full() {
        let mut c = Chunk::with_capacity(400);
        let a = dns("a.example", &[1, 2, 3, 4]);
        let b = Dns {
            addrs: IpPair::new(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ),
            ..dns("b.example", &[])
        };
        c.push(&a, 1400).unwrap();
        c.push(&b, 1400).unwrap();
        let got: Vec<_> = c.iter().collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, TemplateId(272));
        assert_eq!(got[1].0, TemplateId(273));
        assert_eq!(got[0].1.len(), record_len(&a));
        assert_eq!(got[1].1.len(), record_len(&b));
        let cap = c.len();
        let mut n = 2;
        while c.push(&a, 1400).is_ok() {
            n += 1;
        }
        assert_eq!(c.records(), n);
        assert!(c.len() <= 400 && cap < c.len());
        c.clear();
        assert!(c.is_empty());
        assert_eq!(c.iter().count(), 0);
    }

    #[test]
    fn mtu_record_limit() {
        assert_eq!(record_limit_for_mtu(1500), 1500 - 48 - 16 - 4);
        assert_eq!(record_limit_for_mtu(10), 0);
    }
}
