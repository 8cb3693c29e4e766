//! A decoder of IPFIX messages, for `metaprobe collect`: a pure function from
//! message bytes (and a per-session template cache) to records whose fields
//! carry the spec's names; [`render`] writes them as JSON lines or CSV,
//! [`clickhouse`] as rows of the tables of `docs/clickhouse.sql`.
//!
//! It decodes any template (unknown elements get generic names, `ie<id>` or
//! `e<pen>_<id>`), and names the kinds of our own templates as `ie_spec.py`
//! does (`clickstream`, `dns_v6`, …; options: `ie_type`, `reliability`,
//! `counter`).
//!
//! Hostile input cannot make it panic or grow: every length and count read
//! from the wire is checked against the octets that are there before it is
//! used, and bounds the work —
//! - a template whose records would have no octets (every field of length 0)
//!   is refused, so every data record consumes at least one octet;
//! - a message decodes to at most as many field values as it has octets
//!   ([`DecodeError::TooManyValues`]): zero-length fields cannot multiply
//!   the work of a set;
//! - the template cache of a session holds at most [`CacheLimits`] templates
//!   and field specifiers; templates past that are refused and counted
//!   ([`TemplateCache::refused`]), never stored.

pub mod clickhouse;
pub mod render;

use crate::codec::Reader;
use crate::field::read_varlen;
use crate::ie::{self, DataType, Ie, VARLEN};
use crate::session::{OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VERSION};
use crate::template::{self, OPTIONS_TEMPLATES};
use core::net::{Ipv4Addr, Ipv6Addr};
use core::num::NonZeroUsize;
use std::collections::HashMap;

/// A Field Specifier of a received template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Element id (enterprise bit removed).
    pub id: u16,
    /// Enterprise number, 0 for IANA.
    pub pen: u32,
    /// Field length (65535: variable).
    pub len: u16,
}

/// A received (options) template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedTemplate {
    /// Template id.
    pub id: u16,
    /// Scope field count (0 for a plain template).
    pub scope: u16,
    /// Fields in wire order.
    pub fields: Vec<FieldSpec>,
    /// Our kind name when the field list is one of ours.
    pub kind: Option<String>,
    names: Vec<String>,
    /// Octets of the smallest record (variable fields empty): at least one,
    /// so that a data set of `n` octets holds at most `n` records.
    min_len: NonZeroUsize,
}

impl ReceivedTemplate {
    /// The template, or why it cannot be used.
    fn new(
        id: u16,
        scope: u16,
        fields: Vec<FieldSpec>,
        options: bool,
    ) -> Result<Self, &'static str> {
        if id < 256 {
            return Err("template id below 256");
        }
        if options && (scope == 0 || usize::from(scope) > fields.len()) {
            return Err("scope field count 0 or above the field count");
        }
        let min = fields
            .iter()
            .map(|f| {
                if f.len == VARLEN {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        let Some(min_len) = NonZeroUsize::new(min) else {
            return Err("its records would have no octets (every field of length 0)");
        };
        let kind = if options {
            options_kind(&fields)
        } else {
            data_kind(&fields)
        };
        let names = numbered(fields.iter().map(|f| {
            element(f.id, f.pen).map_or_else(
                || {
                    if f.pen == 0 {
                        format!("ie{}", f.id)
                    } else {
                        format!("e{}_{}", f.pen, f.id)
                    }
                },
                |e| e.name.to_string(),
            )
        }));
        Ok(ReceivedTemplate {
            id,
            scope,
            fields,
            kind,
            names,
            min_len,
        })
    }
}

/// Field names with repeated elements told apart: NAME, NAME#2, NAME#3, …
/// (linear: a count per name).
fn numbered(bases: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    bases
        .map(|base| {
            let n = seen.entry(base.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { base } else { format!("{base}#{n}") }
        })
        .collect()
}

fn element(id: u16, pen: u32) -> Option<&'static Ie> {
    ie::lookup(id, pen)
}

fn data_kind(fields: &[FieldSpec]) -> Option<String> {
    template::all()
        .find(|t| {
            t.elements().count() == fields.len()
                && t.elements()
                    .zip(fields)
                    .all(|(e, f)| e.id == f.id && e.pen == f.pen && e.template_len() == f.len)
        })
        .map(|t| t.kind_name())
}

fn options_kind(fields: &[FieldSpec]) -> Option<String> {
    OPTIONS_TEMPLATES
        .iter()
        .find(|o| {
            o.fields.len() == fields.len()
                && o.fields
                    .iter()
                    .zip(fields)
                    .all(|(e, f)| e.id == f.id && e.pen == f.pen)
        })
        .map(|o| o.name.to_string())
}

/// How much one session's template cache holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// Templates and options templates, over every observation domain.
    pub templates: usize,
    /// Field specifiers of those templates, summed.
    pub fields: usize,
}

impl Default for CacheLimits {
    /// 256 templates and 4096 field specifiers: metaprobe's 20 templates of
    /// one stream need about 500, so eight observation domains of every
    /// template fit; a session's cache stays below a megabyte.
    fn default() -> Self {
        CacheLimits {
            templates: 256,
            fields: 4096,
        }
    }
}

/// Templates of one transport session, per observation domain, within
/// [`CacheLimits`].
#[derive(Clone, Debug, Default)]
pub struct TemplateCache {
    map: HashMap<(u32, u16), ReceivedTemplate>,
    limits: CacheLimits,
    /// Field specifiers held.
    fields: usize,
    /// Templates refused because the cache was full.
    refused: u64,
}

impl TemplateCache {
    /// An empty cache (a new transport session) with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache with these limits.
    pub fn with_limits(limits: CacheLimits) -> Self {
        TemplateCache {
            limits,
            ..Self::default()
        }
    }

    /// A template by observation domain and id.
    pub fn get(&self, odid: u32, id: u16) -> Option<&ReceivedTemplate> {
        self.map.get(&(odid, id))
    }

    /// Number of templates known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no template is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Field specifiers held, summed over the templates.
    pub fn fields(&self) -> usize {
        self.fields
    }

    /// The limits.
    pub fn limits(&self) -> CacheLimits {
        self.limits
    }

    /// Templates refused since the session began because the cache was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Stores `t` (replacing a template of the same domain and id); false,
    /// counted, when that would pass the limits.
    fn insert(&mut self, odid: u32, t: ReceivedTemplate) -> bool {
        let old = self.map.get(&(odid, t.id)).map_or(0, |o| o.fields.len());
        let templates = self.map.len() + usize::from(old == 0);
        let fields = self.fields - old + t.fields.len();
        if templates > self.limits.templates || fields > self.limits.fields {
            self.refused += 1;
            return false;
        }
        self.fields = fields;
        self.map.insert((odid, t.id), t);
        true
    }

    /// RFC 7011 §8.1: a template of `odid` withdrawn.
    fn withdraw(&mut self, odid: u32, id: u16) {
        if let Some(t) = self.map.remove(&(odid, id)) {
            self.fields -= t.fields.len();
        }
    }

    /// RFC 7011 §8.1: every template (`options` false) or every options
    /// template of `odid` withdrawn.
    fn withdraw_all(&mut self, odid: u32, options: bool) {
        let mut fields = self.fields;
        self.map.retain(|&(d, _), t| {
            let keep = d != odid || (t.scope > 0) != options;
            if !keep {
                fields -= t.fields.len();
            }
            keep
        });
        self.fields = fields;
    }
}

/// A decoded field value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Any unsigned integer.
    Unsigned(u64),
    /// IPv4 address.
    Ipv4(Ipv4Addr),
    /// IPv6 address.
    Ipv6(Ipv6Addr),
    /// MAC address.
    Mac([u8; 6]),
    /// A string (invalid UTF-8 shown with U+FFFD).
    Str(String),
    /// Octets.
    Bytes(Vec<u8>),
}

/// One decoded data record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedRecord {
    /// Observation domain.
    pub odid: u32,
    /// Sequence number of its message.
    pub seq: u32,
    /// Export time of its message.
    pub export_time: u32,
    /// Template id.
    pub template_id: u16,
    /// Our kind name, when the template is one of ours.
    pub kind: Option<String>,
    /// True for an options record.
    pub options: bool,
    /// Fields in wire order, named as the spec names them.
    pub fields: Vec<(String, Value)>,
}

impl DecodedRecord {
    /// A field by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// One decoded message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecodedMessage {
    /// Export time (Unix seconds).
    pub export_time: u32,
    /// Sequence number.
    pub seq: u32,
    /// Observation domain.
    pub odid: u32,
    /// Template and options template records defined by this message.
    pub templates: u32,
    /// Data sets skipped because their template is unknown.
    pub unknown_sets: u32,
    /// Templates this message defined that the cache refused (full).
    pub templates_refused: u32,
    /// Data records, options records included.
    pub records: Vec<DecodedRecord>,
}

/// Why a message could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer octets than the structure needs.
    Short {
        /// What was being read.
        what: &'static str,
        /// Offset in the message.
        at: usize,
    },
    /// Version other than 10.
    Version(u16),
    /// Header length differs from the message's octets.
    Length {
        /// Length in the header.
        header: usize,
        /// Octets given.
        actual: usize,
    },
    /// A set length below 4 or past the message end.
    SetLength {
        /// Offset of the set.
        at: usize,
        /// Its length field.
        len: usize,
    },
    /// A template that cannot be used: id < 256, a bad scope count, or
    /// records of no octets.
    BadTemplate {
        /// Template id.
        id: u16,
        /// Why.
        reason: &'static str,
    },
    /// A record runs past the end of its set.
    RecordOverrun {
        /// Template id.
        template: u16,
        /// Offset of the record.
        at: usize,
    },
    /// The message holds more field values than octets (zero-length fields).
    TooManyValues {
        /// Template id of the record that passed the budget.
        template: u16,
        /// Offset of the record.
        at: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Short { what, at } => write!(f, "message too short for {what} at {at}"),
            DecodeError::Version(v) => write!(f, "version {v}, not 10"),
            DecodeError::Length { header, actual } => {
                write!(f, "header length {header}, message {actual} octets")
            }
            DecodeError::SetLength { at, len } => write!(f, "set length {len} at {at}"),
            DecodeError::BadTemplate { id, reason } => write!(f, "template {id}: {reason}"),
            DecodeError::RecordOverrun { template, at } => {
                write!(f, "record of template {template} at {at} runs past its set")
            }
            DecodeError::TooManyValues { template, at } => write!(
                f,
                "record of template {template} at {at}: more field values than the message has octets"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The value of a read, or the error that says what was short and where:
/// `r` is where the read was tried (a failed read consumes nothing, and a
/// [`Reader::sub`] cursor counts its offset from the start of the message).
fn need<T>(v: Option<T>, what: &'static str, r: &Reader<'_>) -> Result<T, DecodeError> {
    v.ok_or(DecodeError::Short {
        what,
        at: r.offset(),
    })
}

/// Length of the message that starts `buf` (for framing a TCP stream), once
/// its first 4 octets are there.
pub fn message_len(buf: &[u8]) -> Option<usize> {
    let mut r = Reader::new(buf);
    r.skip(2)?;
    r.u16().map(usize::from)
}

/// Decodes one message, learning its templates into `cache`.
pub fn decode_message(
    cache: &mut TemplateCache,
    msg: &[u8],
) -> Result<DecodedMessage, DecodeError> {
    let mut r = Reader::new(msg);
    let version = need(r.u16(), "message header", &r)?;
    let len = usize::from(need(r.u16(), "message header", &r)?);
    let export_time = need(r.u32(), "message header", &r)?;
    let seq = need(r.u32(), "message header", &r)?;
    let odid = need(r.u32(), "message header", &r)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    if len != msg.len() {
        return Err(DecodeError::Length {
            header: len,
            actual: msg.len(),
        });
    }
    let mut out = DecodedMessage {
        export_time,
        seq,
        odid,
        ..Default::default()
    };
    // Field values this message may still decode: one per octet.
    let mut budget = msg.len();
    while r.any_left() {
        let at = r.offset();
        let set_id = need(r.u16(), "set header", &r)?;
        let set_len = usize::from(need(r.u16(), "set header", &r)?);
        let Some(body) = set_len.checked_sub(4).and_then(|n| r.sub(n)) else {
            return Err(DecodeError::SetLength { at, len: set_len });
        };
        match set_id {
            TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                template_set(cache, body, set_id == OPTIONS_TEMPLATE_SET_ID, &mut out)?;
            }
            id if id >= 256 => match cache.get(odid, id) {
                Some(t) => data_set(t, body, &mut budget, &mut out)?,
                None => out.unknown_sets += 1,
            },
            _ => out.unknown_sets += 1,
        }
    }
    Ok(out)
}

fn template_set(
    cache: &mut TemplateCache,
    mut r: Reader<'_>,
    options: bool,
    out: &mut DecodedMessage,
) -> Result<(), DecodeError> {
    let odid = out.odid;
    let hdr = if options { 6 } else { 4 };
    // Anything shorter than a record header is padding (RFC 7011 §3.3.1).
    while r.left() >= hdr {
        let id = need(r.u16(), "template record", &r)?;
        let count = need(r.u16(), "template record", &r)?;
        if count == 0 {
            // Withdrawal (RFC 7011 §8.1); the set id withdraws them all.
            if id == TEMPLATE_SET_ID || id == OPTIONS_TEMPLATE_SET_ID {
                cache.withdraw_all(odid, options);
            } else {
                cache.withdraw(odid, id);
            }
            continue;
        }
        let scope = if options {
            need(r.u16(), "options template record", &r)?
        } else {
            0
        };
        // Every specifier takes at least 4 octets: the count is checked
        // against what is there before anything is allocated for it.
        let specs = usize::from(count);
        if specs.saturating_mul(4) > r.left() {
            return Err(DecodeError::Short {
                what: "field specifiers",
                at: r.offset(),
            });
        }
        let mut fields = Vec::with_capacity(specs);
        for _ in 0..count {
            let raw = need(r.u16(), "field specifier", &r)?;
            let len = need(r.u16(), "field specifier", &r)?;
            let (id, pen) = if raw & 0x8000 != 0 {
                (raw & 0x7fff, need(r.u32(), "enterprise number", &r)?)
            } else {
                (raw, 0)
            };
            fields.push(FieldSpec { id, pen, len });
        }
        if fields.len() > cache.limits.fields {
            // Too big for any cache: refused before its names are built.
            cache.refused += 1;
            out.templates_refused += 1;
            continue;
        }
        let t = ReceivedTemplate::new(id, scope, fields, options)
            .map_err(|reason| DecodeError::BadTemplate { id, reason })?;
        if cache.insert(odid, t) {
            out.templates += 1;
        } else {
            out.templates_refused += 1;
        }
    }
    Ok(())
}

/// Decodes the records of one data set; `budget` is the field values the
/// message may still decode.
fn data_set(
    t: &ReceivedTemplate,
    mut r: Reader<'_>,
    budget: &mut usize,
    out: &mut DecodedMessage,
) -> Result<(), DecodeError> {
    // Each record consumes at least `min_len` ≥ 1 octets: the loop ends.
    // What is left below it is padding.
    while r.left() >= t.min_len.get() {
        let at = r.offset();
        *budget = budget
            .checked_sub(t.fields.len())
            .ok_or(DecodeError::TooManyValues { template: t.id, at })?;
        let overrun = DecodeError::RecordOverrun { template: t.id, at };
        let mut fields = Vec::with_capacity(t.fields.len());
        for (f, name) in t.fields.iter().zip(&t.names) {
            let v = if f.len == VARLEN {
                read_varlen(&mut r)
            } else {
                r.take(usize::from(f.len))
            }
            .ok_or(overrun)?;
            fields.push((name.clone(), value(element(f.id, f.pen), v)));
        }
        out.records.push(DecodedRecord {
            odid: out.odid,
            seq: out.seq,
            export_time: out.export_time,
            template_id: t.id,
            kind: t.kind.clone(),
            options: t.scope > 0,
            fields,
        });
    }
    Ok(())
}

fn value(e: Option<&Ie>, v: &[u8]) -> Value {
    let unsigned = |v: &[u8]| v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let bytes = |v: &[u8]| Value::Bytes(v.to_vec());
    match e.map(|e| e.data_type) {
        Some(DataType::String) => Value::Str(String::from_utf8_lossy(v).into_owned()),
        Some(DataType::Ipv4Address) => {
            <[u8; 4]>::try_from(v).map_or_else(|_| bytes(v), |a| Value::Ipv4(Ipv4Addr::from(a)))
        }
        Some(DataType::Ipv6Address) => {
            <[u8; 16]>::try_from(v).map_or_else(|_| bytes(v), |a| Value::Ipv6(Ipv6Addr::from(a)))
        }
        Some(DataType::MacAddress) => <[u8; 6]>::try_from(v).map_or_else(|_| bytes(v), Value::Mac),
        Some(
            DataType::Unsigned8
            | DataType::Unsigned16
            | DataType::Unsigned32
            | DataType::Unsigned64,
        ) if !v.is_empty() && v.len() <= 8 => Value::Unsigned(unsigned(v)),
        None if matches!(v.len(), 1 | 2 | 4 | 8) => Value::Unsigned(unsigned(v)),
        _ => bytes(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use crate::session::{Session, SessionConfig};
    use crate::template::Stream;

    const T0: u32 = 1_700_000_000;

    /// Every template, a record each, through a session and back.
    #[test]
    fn round_trip_every_template() {
        let mut seen = Vec::new();
        for stream in Stream::ALL {
            let mut s = Session::new(SessionConfig::udp(stream, 1500, false, 20)).unwrap();
            let mut cache = TemplateCache::new();
            let mut buf = Vec::new();
            let mut pending = Vec::new();
            samples::for_each_encoded(T0, s.max_record_len(), |t, rec| {
                if t.def.stream == stream {
                    pending.push((t, rec));
                }
            });
            let mut decoded = Vec::new();
            for (t, rec) in &pending {
                loop {
                    match s.push_record(T0, t.id(), rec) {
                        Ok(()) => break,
                        Err(crate::session::PushError::Blocked) => {
                            let _ = s.poll_transmit(T0, &mut buf).unwrap();
                            decoded.extend(decode_message(&mut cache, &buf).unwrap().records);
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            s.flush();
            while s.poll_transmit(T0, &mut buf).is_some() {
                decoded.extend(decode_message(&mut cache, &buf).unwrap().records);
            }
            let data: Vec<_> = decoded.into_iter().filter(|r| !r.options).collect();
            assert_eq!(data.len(), pending.len());
            for (r, (t, _)) in data.iter().zip(&pending) {
                assert_eq!(r.template_id, t.id().0);
                assert_eq!(r.kind.as_deref(), Some(t.kind_name().as_str()));
                assert_eq!(r.fields.len(), t.elements().count());
                let names: Vec<&str> = r.fields.iter().map(|(n, _)| n.as_str()).collect();
                let want: Vec<&str> = t.elements().map(|e| e.name).collect();
                assert_eq!(names, want);
                assert_eq!(r.get("TIME_STAMP"), Some(&Value::Unsigned(u64::from(T0))));
                let src = if t.ipv6 { "IP_SOURCE_V6" } else { "IP_SOURCE" };
                let want_src = if t.ipv6 {
                    "2001:db8::10"
                } else {
                    "198.18.0.10"
                };
                assert_eq!(r.get(src).map(Value::to_text).as_deref(), Some(want_src));
                seen.push(t.kind_name());
            }
            // Field values of a few kinds, checked by name.
            for r in &data {
                match r.kind.as_deref() {
                    Some("clickstream") => {
                        assert_eq!(
                            r.get("PATH"),
                            Some(&Value::Str("/index.html?q=ünïcödé".into()))
                        );
                        assert_eq!(
                            r.get("CipherSuites"),
                            Some(&Value::Bytes(vec![0x13, 1, 0x13, 2]))
                        );
                        assert_eq!(r.get("TCP_SEQUENCE"), Some(&Value::Unsigned(0x1234_5678)));
                        assert_eq!(
                            r.get("sourceMacAddress").map(Value::to_text).as_deref(),
                            Some("02:00:5e:10:00:01")
                        );
                    }
                    Some("dns_v6") => {
                        assert_eq!(r.get("DOMAIN"), Some(&Value::Str("www.example.com".into())));
                        assert_eq!(
                            r.get("RDATA").map(Value::to_text).as_deref(),
                            Some("5db8d822")
                        );
                        assert_eq!(r.get("TTL"), Some(&Value::Unsigned(300)));
                    }
                    Some("mail") => {
                        assert_eq!(
                            r.get("MAIL_SUBJECT"),
                            Some(&Value::Str("Привет, test".into()))
                        );
                    }
                    Some("raw_meta") => {
                        assert_eq!(
                            r.get("RAW_DATA"),
                            Some(&Value::Str("USER anonymous\r\n".into()))
                        );
                        assert_eq!(r.get("tcpControlBits"), Some(&Value::Unsigned(0x18)));
                    }
                    _ => {}
                }
            }
        }
        seen.sort();
        assert_eq!(seen.len(), 18);
        seen.dedup();
        assert_eq!(seen.len(), 18);
    }

    #[test]
    fn malformed_messages_are_errors() {
        let mut c = TemplateCache::new();
        assert!(matches!(
            decode_message(&mut c, &[0, 10, 0]),
            Err(DecodeError::Short { .. })
        ));
        let mut m = vec![0, 9, 0, 16];
        m.extend_from_slice(&[0; 12]);
        assert_eq!(decode_message(&mut c, &m), Err(DecodeError::Version(9)));
        m[1] = 10;
        m[3] = 17;
        assert!(matches!(
            decode_message(&mut c, &m),
            Err(DecodeError::Length { .. })
        ));
        // A set that runs past the end.
        let mut m = vec![0, 10, 0, 24];
        m.extend_from_slice(&[0; 12]);
        m.extend_from_slice(&[1, 0, 0, 9, 0, 0, 0, 0]);
        assert!(matches!(
            decode_message(&mut c, &m),
            Err(DecodeError::SetLength { .. })
        ));
        assert_eq!(message_len(&[0, 10, 1, 2]), Some(258));
        assert_eq!(message_len(&[0, 10, 1]), None);
    }

    /// An IPFIX message header for `body`.
    fn message(odid: u32, body: &[u8]) -> Vec<u8> {
        let mut m = vec![0, 10];
        m.extend_from_slice(&((16 + body.len()) as u16).to_be_bytes());
        m.extend_from_slice(&T0.to_be_bytes());
        m.extend_from_slice(&0u32.to_be_bytes());
        m.extend_from_slice(&odid.to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    /// A set of `id` holding `body`.
    fn set(id: u16, body: &[u8]) -> Vec<u8> {
        let mut s = id.to_be_bytes().to_vec();
        s.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    }

    /// A template record: id, then (element id, length) specifiers.
    fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
        let mut t = id.to_be_bytes().to_vec();
        t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (e, l) in fields {
            t.extend_from_slice(&e.to_be_bytes());
            t.extend_from_slice(&l.to_be_bytes());
        }
        t
    }

    /// Issue 18: one 40-octet datagram — a template whose only field has
    /// length 0, and a data set of it — looped forever in `data_set` and grew
    /// the collector to 23 GB. Its records would have no octets: refused.
    #[test]
    fn a_template_of_zero_length_fields_is_refused() {
        let mut body = set(TEMPLATE_SET_ID, &template(256, &[(1, 0)]));
        body.extend_from_slice(&set(256, &[0; 8]));
        let m = message(0, &body);
        assert_eq!(m.len(), 40);
        let mut c = TemplateCache::new();
        assert!(matches!(
            decode_message(&mut c, &m),
            Err(DecodeError::BadTemplate { id: 256, .. })
        ));
        assert!(c.is_empty());
        // A data set alone for it is an unknown set, nothing more.
        let d = decode_message(&mut c, &message(0, &set(256, &[0; 8]))).unwrap();
        assert_eq!((d.records.len(), d.unknown_sets), (0, 1));
    }

    /// Zero-length fields beside one real one: a record of one octet would
    /// carry a thousand values; the message's budget (a value per octet)
    /// stops it.
    #[test]
    fn zero_length_fields_cannot_multiply_the_work() {
        let mut fields = vec![(1u16, 1u16)];
        fields.extend(std::iter::repeat_n((2u16, 0u16), 1000));
        let mut c = TemplateCache::new();
        let d = decode_message(
            &mut c,
            &message(0, &set(TEMPLATE_SET_ID, &template(300, &fields))),
        )
        .unwrap();
        assert_eq!(d.templates, 1);
        // 1020 octets: the first record's 1001 values fit, the second's not.
        let data = message(0, &set(300, &[7; 1000]));
        assert_eq!(data.len(), 1020);
        assert_eq!(
            decode_message(&mut c, &data),
            Err(DecodeError::TooManyValues {
                template: 300,
                at: 21
            })
        );
        // Within the budget it decodes: one-octet records of two fields.
        let d = decode_message(
            &mut c,
            &message(0, &set(TEMPLATE_SET_ID, &template(301, &[(1, 1), (2, 0)]))),
        )
        .unwrap();
        assert_eq!(d.templates, 1);
        let d = decode_message(&mut c, &message(0, &set(301, &[7; 10]))).unwrap();
        assert_eq!(d.records.len(), 10);
    }

    /// The count of a template record is checked against the octets there
    /// before anything is allocated for it.
    #[test]
    fn a_field_count_past_the_set_is_short() {
        let mut t = template(256, &[(1, 4)]);
        t[2..4].copy_from_slice(&u16::MAX.to_be_bytes());
        let mut c = TemplateCache::new();
        assert_eq!(
            decode_message(&mut c, &message(0, &set(TEMPLATE_SET_ID, &t))),
            Err(DecodeError::Short {
                what: "field specifiers",
                at: 24
            })
        );
    }

    #[test]
    fn the_template_cache_is_bounded_and_counts_what_it_refuses() {
        let limits = CacheLimits {
            templates: 8,
            fields: 20,
        };
        let mut c = TemplateCache::with_limits(limits);
        // Ten templates of two fields: eight fit the template limit... and
        // the field limit stops at ten fields.
        let mut body = Vec::new();
        for id in 256..266 {
            body.extend_from_slice(&template(id, &[(1, 4), (2, 4)]));
        }
        let d = decode_message(&mut c, &message(0, &set(TEMPLATE_SET_ID, &body))).unwrap();
        assert_eq!((d.templates, d.templates_refused), (8, 2));
        assert_eq!((c.len(), c.fields(), c.refused()), (8, 16, 2));
        // A bigger template for an id held: 16 - 2 + 5 = 19 fields, fits.
        let five = template(256, &[(1, 4), (2, 4), (3, 4), (4, 4), (5, 4)]);
        let d = decode_message(&mut c, &message(0, &set(TEMPLATE_SET_ID, &five))).unwrap();
        assert_eq!((d.templates, c.len(), c.fields()), (1, 8, 19));
        // Another domain's template does not fit; one past every limit is
        // refused before its names are built.
        let big: Vec<(u16, u16)> = (1..=21).map(|e| (e, 1)).collect();
        let mut body = template(256, &[(1, 4)]);
        body.extend_from_slice(&template(257, &big));
        let d = decode_message(&mut c, &message(7, &set(TEMPLATE_SET_ID, &body))).unwrap();
        assert_eq!((d.templates, d.templates_refused), (0, 2));
        assert_eq!((c.len(), c.fields(), c.refused()), (8, 19, 4));
        // Withdrawals free room: one, then all of domain 0.
        let d = decode_message(
            &mut c,
            &message(0, &set(TEMPLATE_SET_ID, &template(257, &[]))),
        )
        .unwrap();
        assert_eq!((d.templates, c.len(), c.fields()), (0, 7, 17));
        decode_message(
            &mut c,
            &message(0, &set(TEMPLATE_SET_ID, &template(2, &[]))),
        )
        .unwrap();
        assert_eq!((c.len(), c.fields()), (0, 0));
    }

    proptest::proptest! {
        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let mut c = TemplateCache::new();
            let mut m = bytes.clone();
            if m.len() >= 4 {
                let n = m.len() as u16;
                m[0] = 0; m[1] = 10; m[2..4].copy_from_slice(&n.to_be_bytes());
            }
            let _ = decode_message(&mut c, &m);
        }

        #[test]
        fn truncated_real_messages_never_panic(cut in 0usize..1500) {
            let mut s = Session::new(SessionConfig::udp(Stream::Clickstream, 1500, false, 20)).unwrap();
            let mut c = TemplateCache::new();
            let mut buf = Vec::new();
            while let Some(_t) = s.poll_transmit(T0, &mut buf) {
                decode_message(&mut c, &buf).unwrap();
            }
            s.push(T0, &samples::clickstream(T0, true)).unwrap();
            s.flush();
            s.poll_transmit(T0, &mut buf).unwrap();
            let n = cut.min(buf.len());
            let mut m = buf[..n].to_vec();
            if m.len() >= 4 {
                let l = m.len() as u16;
                m[2..4].copy_from_slice(&l.to_be_bytes());
            }
            let _ = decode_message(&mut c, &m);
        }
    }
}
