//! A decoder of IPFIX messages, for `metaprobe collect`: a pure function from
//! message bytes (and a per-session template cache) to records whose fields
//! carry the spec's names, and the JSON-lines / CSV renderings of a record.
//!
//! It decodes any template (unknown elements get generic names, `ie<id>` or
//! `e<pen>_<id>`), and names the kinds of our own templates as `ie_spec.py`
//! does (`clickstream`, `dns_v6`, …; options: `ie_type`, `reliability`).
//! It never panics on any input: every length is checked before use.

use crate::codec::Reader;
use crate::field::read_varlen;
use crate::ie::{self, DataType, Ie, VARLEN};
use crate::session::{OPTIONS_TEMPLATE_SET_ID, TEMPLATE_SET_ID, VERSION};
use crate::template::{self, OPTIONS_TEMPLATES};
use core::net::{Ipv4Addr, Ipv6Addr};
use std::collections::HashMap;
use std::fmt::Write as _;

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
}

impl ReceivedTemplate {
    fn new(id: u16, scope: u16, fields: Vec<FieldSpec>, options: bool) -> Self {
        let kind = if options {
            options_kind(&fields)
        } else {
            data_kind(&fields)
        };
        let mut names: Vec<String> = Vec::with_capacity(fields.len());
        for f in &fields {
            let base = element(f.id, f.pen).map_or_else(
                || {
                    if f.pen == 0 {
                        format!("ie{}", f.id)
                    } else {
                        format!("e{}_{}", f.pen, f.id)
                    }
                },
                |e| e.name.to_string(),
            );
            let seen = names
                .iter()
                .filter(|n| n.split('#').next() == Some(base.as_str()))
                .count();
            names.push(if seen == 0 {
                base
            } else {
                format!("{base}#{}", seen + 1)
            });
        }
        ReceivedTemplate {
            id,
            scope,
            fields,
            kind,
            names,
        }
    }

    /// Smallest record (variable fields empty).
    fn min_len(&self) -> usize {
        self.fields
            .iter()
            .map(|f| {
                if f.len == VARLEN {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum()
    }
}

fn element(id: u16, pen: u32) -> Option<&'static Ie> {
    ie::lookup(id, pen).or_else(|| {
        ie::OPTIONS_ELEMENTS
            .iter()
            .find(|e| e.id == id && e.pen == pen)
    })
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

/// Templates of one transport session, per observation domain.
#[derive(Clone, Debug, Default)]
pub struct TemplateCache {
    map: HashMap<(u32, u16), ReceivedTemplate>,
}

impl TemplateCache {
    /// An empty cache (a new transport session).
    pub fn new() -> Self {
        Self::default()
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
    /// A template with id < 256, or an options template with a bad scope count.
    BadTemplate {
        /// Template id.
        id: u16,
    },
    /// A record runs past the end of its set.
    RecordOverrun {
        /// Template id.
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
            DecodeError::BadTemplate { id } => write!(f, "bad template {id}"),
            DecodeError::RecordOverrun { template, at } => {
                write!(f, "record of template {template} at {at} runs past its set")
            }
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
    while r.any_left() {
        let at = r.offset();
        let set_id = need(r.u16(), "set header", &r)?;
        let set_len = usize::from(need(r.u16(), "set header", &r)?);
        let Some(body) = set_len.checked_sub(4).and_then(|n| r.sub(n)) else {
            return Err(DecodeError::SetLength { at, len: set_len });
        };
        match set_id {
            TEMPLATE_SET_ID | OPTIONS_TEMPLATE_SET_ID => {
                out.templates +=
                    template_set(cache, odid, body, set_id == OPTIONS_TEMPLATE_SET_ID)?;
            }
            id if id >= 256 => match cache.get(odid, id) {
                Some(t) => data_set(t, body, &mut out)?,
                None => out.unknown_sets += 1,
            },
            _ => out.unknown_sets += 1,
        }
    }
    Ok(out)
}

fn template_set(
    cache: &mut TemplateCache,
    odid: u32,
    mut r: Reader<'_>,
    options: bool,
) -> Result<u32, DecodeError> {
    let mut n = 0;
    let hdr = if options { 6 } else { 4 };
    while r.left() >= hdr {
        let id = need(r.u16(), "template record", &r)?;
        let count = need(r.u16(), "template record", &r)?;
        if count == 0 {
            // Withdrawal (RFC 7011 §8.1).
            cache.map.remove(&(odid, id));
            continue;
        }
        let scope = if options {
            need(r.u16(), "options template record", &r)?
        } else {
            0
        };
        if id < 256 || (options && (scope == 0 || scope > count)) {
            return Err(DecodeError::BadTemplate { id });
        }
        let mut fields = Vec::with_capacity(usize::from(count));
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
        cache.map.insert(
            (odid, id),
            ReceivedTemplate::new(id, scope, fields, options),
        );
        n += 1;
    }
    Ok(n)
}

fn data_set(
    t: &ReceivedTemplate,
    mut r: Reader<'_>,
    out: &mut DecodedMessage,
) -> Result<(), DecodeError> {
    let min = t.min_len().max(1);
    while r.left() >= min {
        let at = r.offset();
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

// --- rendering -----------------------------------------------------------------------

fn hex(b: &[u8], out: &mut String) {
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
}

impl Value {
    /// The value as text (addresses compressed, MAC lowercase, octets hex).
    pub fn to_text(&self) -> String {
        match self {
            Value::Unsigned(n) => n.to_string(),
            Value::Ipv4(a) => a.to_string(),
            Value::Ipv6(a) => a.to_string(),
            Value::Mac(m) => m
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            Value::Str(s) => s.clone(),
            Value::Bytes(b) => {
                let mut s = String::with_capacity(b.len() * 2);
                hex(b, &mut s);
                s
            }
        }
    }
}

fn json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One JSON line (no newline): `{"odid":..,"seq":..,"export_time":..,
/// "template_id":..,"kind":..,["options":true,]"fields":{NAME: value, ...}}`
/// — integers as numbers, everything else as text.
pub fn to_json(r: &DecodedRecord) -> String {
    let mut s = String::with_capacity(256);
    let _ = write!(
        s,
        "{{\"odid\":{},\"seq\":{},\"export_time\":{},\"template_id\":{},\"kind\":",
        r.odid, r.seq, r.export_time, r.template_id
    );
    match &r.kind {
        Some(k) => json_str(k, &mut s),
        None => s.push_str("null"),
    }
    if r.options {
        s.push_str(",\"options\":true");
    }
    s.push_str(",\"fields\":{");
    for (i, (name, v)) in r.fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        json_str(name, &mut s);
        s.push(':');
        match v {
            Value::Unsigned(n) => {
                let _ = write!(s, "{n}");
            }
            other => json_str(&other.to_text(), &mut s),
        }
    }
    s.push_str("}}");
    s
}

fn csv_cell(v: &str, out: &mut String) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The CSV header line for records of `r`'s template: `kind,template_id,
/// export_time,` then the field names. Print it whenever the template changes.
pub fn csv_header(r: &DecodedRecord) -> String {
    let mut s = String::from("kind,template_id,export_time");
    for (name, _) in &r.fields {
        s.push(',');
        csv_cell(name, &mut s);
    }
    s
}

/// One CSV line (RFC 4180 quoting, no newline), matching [`csv_header`].
pub fn to_csv(r: &DecodedRecord) -> String {
    let mut s = String::with_capacity(256);
    csv_cell(r.kind.as_deref().unwrap_or(""), &mut s);
    let _ = write!(s, ",{},{}", r.template_id, r.export_time);
    for (_, v) in &r.fields {
        s.push(',');
        csv_cell(&v.to_text(), &mut s);
    }
    s
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
    fn json_and_csv_rendering() {
        let r = DecodedRecord {
            odid: 1,
            seq: 2,
            export_time: 3,
            template_id: 272,
            kind: Some("dns".into()),
            options: false,
            fields: vec![
                ("TTL".into(), Value::Unsigned(300)),
                ("DOMAIN".into(), Value::Str("a\"b,c\n".into())),
                ("RDATA".into(), Value::Bytes(vec![0xde, 0xad])),
                ("IP_SOURCE".into(), Value::Ipv4(Ipv4Addr::new(192, 0, 2, 1))),
            ],
        };
        assert_eq!(
            to_json(&r),
            r#"{"odid":1,"seq":2,"export_time":3,"template_id":272,"kind":"dns","fields":{"TTL":300,"DOMAIN":"a\"b,c\n","RDATA":"dead","IP_SOURCE":"192.0.2.1"}}"#
        );
        assert_eq!(
            csv_header(&r),
            "kind,template_id,export_time,TTL,DOMAIN,RDATA,IP_SOURCE"
        );
        assert_eq!(to_csv(&r), "dns,272,3,300,\"a\"\"b,c\n\",dead,192.0.2.1");
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
