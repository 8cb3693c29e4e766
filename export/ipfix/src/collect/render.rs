//! Text renderings of decoded records: JSON lines and CSV (one table per
//! record kind); the ClickHouse rows of the same tables are in
//! [`super::clickhouse`].
//!
//! Field values are packet data (Host, User-Agent, SNI, DNS names…): no
//! rendering writes a control character raw, so the output cannot drive a
//! terminal or break a line.
//! - JSON escapes `"` and `\`, `\n` `\r` `\t`, every other C0 control, DEL,
//!   the C1 controls (U+0080–U+009F) and U+2028/U+2029 as `\u00XX`/`\uXXXX`:
//!   still the same string for a JSON reader.
//! - CSV has no escapes of its own, so a text cell is written with the same
//!   backslash escapes (`\\`, `\n`, `\r`, `\t`, `\u00XX` for the other
//!   controls): every record is one line, and a cell is quoted (RFC 4180)
//!   only when it holds `,` or `"`.
//!
//! # Tables
//!
//! A [`Table`] is one CSV file or one ClickHouse table: every record of a
//! table has the same columns. Each of our kinds is one table for both
//! address families (`dns` holds `dns` and `dns_v6` records): its columns are
//! the template's elements in wire order, with both address pairs
//! (`IP_SOURCE`, `IP_DESTINATION`, `IP_SOURCE_V6`, `IP_DESTINATION_V6`), the
//! other family's left empty. The options kinds are `ie_type`,
//! `reliability` and `counter`; a template that is not ours is `template_<id>`, its columns
//! its field names.

use super::{DecodedRecord, Value, numbered};
use crate::ie;
use crate::template::{OPTIONS_TEMPLATES, OptionsTemplate, Slot, TEMPLATES, TemplateDef};
use std::fmt::Write as _;

fn hex(b: &[u8], out: &mut String) {
    for x in b {
        let _ = write!(out, "{x:02x}");
    }
}

impl Value {
    /// The value as text (addresses compressed, MAC lowercase, octets hex),
    /// not escaped.
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

/// True for a character no text output writes raw: C0 controls, DEL, C1
/// controls, and the line/paragraph separators.
fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Appends `s` with the backslash escapes of JSON (without the quotes).
fn escape_into(s: &str, json: bool, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' if json => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if is_control(c) => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// A JSON string.
pub(super) fn json_str(s: &str, out: &mut String) {
    out.push('"');
    escape_into(s, true, out);
    out.push('"');
}

/// A JSON value: integers as numbers, everything else as text.
pub(super) fn json_value(v: &Value, out: &mut String) {
    match v {
        Value::Unsigned(n) => {
            let _ = write!(out, "{n}");
        }
        other => json_str(&other.to_text(), out),
    }
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
        json_value(v, &mut s);
    }
    s.push_str("}}");
    s
}

/// One table of records with the same columns (a CSV file, a ClickHouse
/// table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    /// The kind: `clickstream`, `dns`, `ie_type`, `template_300`, …; the
    /// file is `<name>.csv`.
    pub name: String,
    /// The field columns, in order.
    pub columns: Vec<String>,
}

/// The columns of one of our layouts, both address families.
pub fn layout_columns(def: &TemplateDef) -> Vec<&'static str> {
    def.slots
        .iter()
        .flat_map(|s| match *s {
            Slot::Ie(e) => vec![e.name],
            Slot::Addrs => vec![
                ie::IP_SOURCE.name,
                ie::IP_DESTINATION.name,
                ie::IP_SOURCE_V6.name,
                ie::IP_DESTINATION_V6.name,
            ],
        })
        .collect()
}

/// The layout of one of our kinds (`dns` or `dns_v6` → the dns layout).
pub fn layout_of_kind(kind: &str) -> Option<&'static TemplateDef> {
    let base = kind.strip_suffix("_v6").unwrap_or(kind);
    TEMPLATES.iter().copied().find(|d| d.kind == base)
}

/// The table `r` belongs to.
pub fn table_of(r: &DecodedRecord) -> Table {
    let ours = r.kind.as_deref().and_then(|k| {
        if r.options {
            OPTIONS_TEMPLATES
                .iter()
                .find(|o| o.name == k)
                .map(|o| options_table(o))
        } else {
            layout_of_kind(k).map(layout_table)
        }
    });
    ours.unwrap_or_else(|| Table {
        name: format!("template_{}", r.template_id),
        columns: r.fields.iter().map(|(n, _)| n.clone()).collect(),
    })
}

/// The table of one of our options templates: its fields as the decoder
/// names them (a repeated element is `NAME#2`).
pub fn options_table(o: &OptionsTemplate) -> Table {
    Table {
        name: o.name.to_string(),
        columns: numbered(o.fields.iter().map(|e| e.name.to_string())),
    }
}

/// The table of one of our layouts.
pub fn layout_table(def: &TemplateDef) -> Table {
    Table {
        name: def.kind.to_string(),
        columns: layout_columns(def)
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

/// The columns every table starts with, before the fields.
pub const PREFIX: [&str; 3] = ["kind", "template_id", "export_time"];

fn csv_cell(v: &str, out: &mut String) {
    let mut esc = String::with_capacity(v.len());
    escape_into(v, false, &mut esc);
    if esc.contains([',', '"']) {
        out.push('"');
        out.push_str(&esc.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&esc);
    }
}

/// The one header line of a table's CSV: `kind,template_id,export_time,`
/// then the columns.
pub fn csv_header(t: &Table) -> String {
    let mut s = PREFIX.join(",");
    for c in &t.columns {
        s.push(',');
        csv_cell(c, &mut s);
    }
    s
}

/// One CSV line of `r` in table `t` (no newline): a column `r` does not
/// carry is empty.
pub fn to_csv(r: &DecodedRecord, t: &Table) -> String {
    let mut s = String::with_capacity(256);
    csv_cell(r.kind.as_deref().unwrap_or(""), &mut s);
    let _ = write!(s, ",{},{}", r.template_id, r.export_time);
    for c in &t.columns {
        s.push(',');
        if let Some(v) = r.get(c) {
            csv_cell(&v.to_text(), &mut s);
        }
    }
    s
}

/// A dns record of four fields, for the tests of the renderings.
#[cfg(test)]
pub(super) fn dns_record() -> DecodedRecord {
    use core::net::Ipv4Addr;
    DecodedRecord {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        assert_eq!(
            to_json(&dns_record()),
            r#"{"odid":1,"seq":2,"export_time":3,"template_id":272,"kind":"dns","fields":{"TTL":300,"DOMAIN":"a\"b,c\n","RDATA":"dead","IP_SOURCE":"192.0.2.1"}}"#
        );
    }

    #[test]
    fn csv_of_a_kind_has_both_families() {
        let r = dns_record();
        let t = table_of(&r);
        assert_eq!(t.name, "dns");
        let v6 = DecodedRecord {
            kind: Some("dns_v6".into()),
            template_id: 273,
            ..r.clone()
        };
        assert_eq!(table_of(&v6), t);
        let h = csv_header(&t);
        assert!(
            h.starts_with(
                "kind,template_id,export_time,TIME_STAMP,LOGIN,IP_SOURCE,IP_DESTINATION,IP_SOURCE_V6,IP_DESTINATION_V6,PORT_SOURCE,"
            ),
            "{h}"
        );
        let line = to_csv(&r, &t);
        assert_eq!(line.matches(',').count(), h.matches(',').count() + 1);
        assert!(line.starts_with("dns,272,3,,,192.0.2.1,,,,"), "{line}");
        assert!(line.contains(",300,"), "{line}");
        // The quote is doubled, the line break escaped: one record, one line.
        assert!(line.contains(",\"a\"\"b,c\\n\","), "{line}");
        assert!(line.ends_with(",dead,,,,,,"), "{line}");
    }

    #[test]
    fn an_options_table_tells_repeated_elements_apart() {
        let t = options_table(&crate::template::RELIABILITY_TEMPLATE);
        assert_eq!(t.name, "reliability");
        assert_eq!(
            t.columns.last().map(String::as_str),
            Some("observationTimeSeconds#2")
        );
        assert_eq!(t.columns.len(), 6);
    }

    #[test]
    fn a_foreign_template_is_its_own_table() {
        let r = DecodedRecord {
            kind: None,
            template_id: 300,
            ..dns_record()
        };
        let t = table_of(&r);
        assert_eq!(t.name, "template_300");
        assert_eq!(t.columns, ["TTL", "DOMAIN", "RDATA", "IP_SOURCE"]);
        assert_eq!(to_csv(&r, &t), ",300,3,300,\"a\"\"b,c\\n\",dead,192.0.2.1");
    }

    #[test]
    fn control_characters_are_never_written_raw() {
        let nasty = "a\u{1b}[31mb\u{7}c\0d\u{7f}e\u{9b}f\u{2028}g\t\\";
        let r = DecodedRecord {
            fields: vec![("DOMAIN".into(), Value::Str(nasty.into()))],
            ..dns_record()
        };
        let json = to_json(&r);
        assert!(
            json.contains(r#""DOMAIN":"a\u001b[31mb\u0007c\u0000d\u007fe\u009bf\u2028g\t\\""#),
            "{json}"
        );
        let csv = to_csv(&r, &table_of(&r));
        assert!(
            csv.contains(r",a\u001b[31mb\u0007c\u0000d\u007fe\u009bf\u2028g\t\\,"),
            "{csv}"
        );
        let ch = super::super::clickhouse::to_clickhouse(&r, &table_of(&r));
        assert!(
            ch.contains(r#""DOMAIN":"a\u001b[31mb\u0007c\u0000d"#),
            "{ch}"
        );
        for out in [json, csv, ch] {
            assert!(!out.chars().any(is_control), "{out:?}");
        }
    }
}
