//! ClickHouse, where ISPs keep this data: the schema of one table per record
//! kind ([`schema`], `docs/clickhouse.sql`, printed by `metaprobe
//! clickhouse-schema`) and the `JSONEachRow` rows `metaprobe collect --format
//! clickhouse` writes for it ([`to_clickhouse`]). Both come from the element
//! table and [`super::render::Table`], so a row always fits its table.
//!
//! Types: `TIME_STAMP` (and `export_time`, `observationTimeSeconds`) are
//! `DateTime('UTC')` (rows carry Unix seconds, which ClickHouse reads as
//! such); addresses `IPv4`/`IPv6` (a record fills its family's pair, the
//! other keeps the default `0.0.0.0`/`::`; the `IP_SRC`/`IP_DST` aliases give
//! either as IPv6); unsigned integers `UInt8`…`UInt64`; strings `String`;
//! octet arrays hex `String`; `LowCardinality(String)` where the values repeat
//! (MAC addresses, content types, cipher suite lists, MPLS stacks, SIP methods,
//! the kind). Tables are partitioned by day, ordered by (`LOGIN`,
//! `TIME_STAMP`) — the subscriber's history — with a projection ordered by host
//! (`HOSTNAME` or `DOMAIN`) where there is one, and a bloom filter on
//! `SESSION_ID` for the joins of spec §10 ([`SESSION_JOIN`]).

use super::DecodedRecord;
use super::render::{PREFIX, Table, json_str, json_value, layout_table, options_table};
use crate::ie::{self, DataType, Ie};
use crate::template::{COUNTER_TEMPLATE, RELIABILITY_TEMPLATE, Slot, TEMPLATES, TemplateDef};
use std::fmt::Write as _;

/// The database of the tables.
pub const DATABASE: &str = "metaprobe";

/// Spec §10: clickstream, HTTP reply and TLS reply records joined by
/// SESSION_ID (every reply of the session, or the column defaults when it
/// has none).
pub const SESSION_JOIN: &str = "\
SELECT
    c.SESSION_ID AS SESSION_ID,
    c.TIME_STAMP AS TIME_STAMP,
    c.LOGIN AS LOGIN,
    c.HOST_TYPE AS HOST_TYPE,
    c.HOSTNAME AS HOSTNAME,
    c.PATH AS PATH,
    h.RESULT_CODE AS RESULT_CODE,
    h.CONTENT_TYPE AS CONTENT_TYPE,
    h.LOCATION AS LOCATION,
    t.SSL_VERSION AS SSL_VERSION,
    t.CIPHER_SUITE AS CIPHER_SUITE,
    t.HOSTNAME AS CERT_NAME
FROM metaprobe.clickstream AS c
LEFT JOIN metaprobe.http_reply AS h ON h.SESSION_ID = c.SESSION_ID
LEFT JOIN metaprobe.tls_reply AS t ON t.SESSION_ID = c.SESSION_ID
ORDER BY SESSION_ID, TIME_STAMP, PATH, RESULT_CODE, LOCATION";

/// The columns of every table before the fields ([`PREFIX`]): name, type,
/// meaning.
const PREFIX_COLUMNS: [(&str, &str, &str); 3] = [
    (
        "kind",
        "LowCardinality(String)",
        "record kind: the table name, with _v6 for the IPv6 template",
    ),
    ("template_id", "UInt16", "IPFIX template id"),
    (
        "export_time",
        "DateTime('UTC')",
        "export time of the IPFIX message",
    ),
];

/// Elements whose values repeat enough for a dictionary column.
const LOW_CARDINALITY: [&str; 7] = [
    "CONTENT_TYPE",
    "CipherSuites",
    "MPLS_LABELS",
    "MSG_CODE",
    "CTYPE",
    "SERVER_NAME",
    "UAGENT",
];

/// The ClickHouse type of an element's column.
fn column_type(e: &Ie) -> &'static str {
    if e.id == ie::TIME_STAMP.id && e.pen == ie::TIME_STAMP.pen
        || e.id == ie::OBSERVATION_TIME_SECONDS.id && e.pen == 0
    {
        return "DateTime('UTC')";
    }
    match e.data_type {
        DataType::Unsigned8 => "UInt8",
        DataType::Unsigned16 => "UInt16",
        DataType::Unsigned32 => "UInt32",
        DataType::Unsigned64 => "UInt64",
        DataType::Ipv4Address => "IPv4",
        DataType::Ipv6Address => "IPv6",
        DataType::MacAddress => "LowCardinality(String)",
        DataType::String | DataType::OctetArray if LOW_CARDINALITY.contains(&e.name) => {
            "LowCardinality(String)"
        }
        DataType::String | DataType::OctetArray => "String",
    }
}

/// A SQL string literal.
fn sql_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// One table of the schema: its columns (with their elements), what it holds.
struct Spec {
    table: Table,
    elements: Vec<&'static Ie>,
    about: &'static str,
    order_by: &'static str,
    partition: bool,
    by_host: Option<&'static str>,
    session_index: bool,
}

fn layout_elements(def: &TemplateDef) -> Vec<&'static Ie> {
    def.slots
        .iter()
        .flat_map(|s| match *s {
            Slot::Ie(e) => vec![e],
            Slot::Addrs => vec![
                &ie::IP_SOURCE,
                &ie::IP_DESTINATION,
                &ie::IP_SOURCE_V6,
                &ie::IP_DESTINATION_V6,
            ],
        })
        .collect()
}

fn about(kind: &str) -> &'static str {
    match kind {
        "clickstream" => "clickstream requests: HTTP requests, TLS/QUIC server names (spec §4)",
        "http_reply" => "HTTP replies (spec §5, http_parse_reply = 1)",
        "tls_reply" => "TLS replies: version, cipher suite, certificate name (spec §6)",
        "sip" => "SIP messages (spec §7)",
        "ftp" => "FTP logins and data-connection modes (spec §7)",
        "im" => "instant messenger metadata (spec §7)",
        "mail" => "mail messages: SMTP, POP3, IMAP (spec §7)",
        "raw_meta" => "raw metadata (spec §7)",
        "dns" => "DNS answers, one row per answer RR (spec §8)",
        _ => "",
    }
}

fn specs() -> Vec<Spec> {
    let mut v: Vec<Spec> = TEMPLATES
        .iter()
        .map(|def| {
            let elements = layout_elements(def);
            let has = |name: &str| elements.iter().any(|e| e.name == name);
            let by_host = if has("HOSTNAME") {
                Some("HOSTNAME")
            } else if has("DOMAIN") {
                Some("DOMAIN")
            } else {
                None
            };
            Spec {
                table: layout_table(def),
                about: about(def.kind),
                order_by: "(LOGIN, TIME_STAMP)",
                partition: true,
                by_host,
                session_index: has("SESSION_ID"),
                elements,
            }
        })
        .collect();
    v.push(Spec {
        table: options_table(&RELIABILITY_TEMPLATE),
        elements: RELIABILITY_TEMPLATE.fields.to_vec(),
        about: "RFC 7011 §4.3 reliability statistics: records the exporter could not send",
        order_by: "(exportingProcessId, export_time)",
        partition: false,
        by_host: None,
        session_index: false,
    });
    v.push(Spec {
        table: options_table(&COUNTER_TEMPLATE),
        elements: COUNTER_TEMPLATE.fields.to_vec(),
        about: "the probe's counters (final summary names), a row per counter and report",
        order_by: "(COUNTER_FAMILY, COUNTER_NAME, export_time)",
        partition: false,
        by_host: None,
        session_index: false,
    });
    v
}

/// `docs/clickhouse.sql`: the database and one table per record kind, for
/// the rows of [`to_clickhouse`].
pub fn schema() -> String {
    let mut s = String::from(
        "-- ClickHouse tables for metaprobe's records: one per record kind, for the rows of\n\
         -- `metaprobe collect --format clickhouse --out-dir DIR` (DIR/<table>.ndjson, JSONEachRow).\n\
         -- Generated from the element table (export/ipfix/src/collect/clickhouse.rs): do not\n\
         -- edit; `metaprobe clickhouse-schema` prints it. Load, with clickhouse-client:\n\
         --   clickhouse-client --multiquery < docs/clickhouse.sql\n\
         --   for f in DIR/*.ndjson; do\n\
         --     clickhouse-client --query \"INSERT INTO metaprobe.$(basename \"$f\" .ndjson) FORMAT JSONEachRow\" < \"$f\"\n\
         --   done\n\
         -- or with clickhouse-local / chdb:\n\
         --   INSERT INTO metaprobe.dns SELECT * FROM file('DIR/dns.ndjson', 'JSONEachRow');\n\
         -- A row carries the columns of its record; the others (the other address family's)\n\
         -- take their defaults. Add a TTL to keep what the law asks, e.g.\n\
         --   ALTER TABLE metaprobe.clickstream MODIFY TTL TIME_STAMP + INTERVAL 180 DAY;\n\n",
    );
    let _ = writeln!(s, "CREATE DATABASE IF NOT EXISTS {DATABASE};");
    for t in specs() {
        let _ = write!(
            s,
            "\n-- {}\nCREATE TABLE IF NOT EXISTS {DATABASE}.{}\n(\n",
            t.about, t.table.name
        );
        let mut cols: Vec<String> = PREFIX_COLUMNS
            .iter()
            .map(|(name, ty, comment)| format!("    {name} {ty} COMMENT {}", sql_str(comment)))
            .collect();
        for (name, e) in t.table.columns.iter().zip(&t.elements) {
            let comment = if e.description.is_empty() {
                String::new()
            } else {
                format!(" COMMENT {}", sql_str(e.description))
            };
            cols.push(format!("    `{name}` {}{comment}", column_type(e)));
        }
        if t.table.columns.iter().any(|c| c == "IP_SOURCE_V6") {
            for (alias, v4, v6) in [
                ("IP_SRC", "IP_SOURCE", "IP_SOURCE_V6"),
                ("IP_DST", "IP_DESTINATION", "IP_DESTINATION_V6"),
            ] {
                cols.push(format!(
                    "    {alias} IPv6 ALIAS if({v6} = toIPv6('::'), CAST({v4} AS IPv6), {v6}) COMMENT '{v4} or {v6}; IPv4 as ::ffff:a.b.c.d'"
                ));
            }
        }
        if t.session_index {
            cols.push("    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4".into());
        }
        if let Some(h) = t.by_host {
            cols.push(format!(
                "    PROJECTION by_host (SELECT * ORDER BY ({h}, TIME_STAMP))"
            ));
        }
        s.push_str(&cols.join(",\n"));
        s.push_str("\n)\nENGINE = MergeTree\n");
        if t.partition {
            s.push_str("PARTITION BY toYYYYMMDD(TIME_STAMP)\n");
        }
        let _ = writeln!(s, "ORDER BY {};", t.order_by);
    }
    s.push_str(
        "\n-- Spec §10: clickstream, HTTP reply and TLS reply records joined by SESSION_ID.\n",
    );
    for line in SESSION_JOIN.lines() {
        let _ = writeln!(s, "-- {line}");
    }
    s
}

/// One ClickHouse `JSONEachRow` row of `r` in table `t` (no newline): an
/// object of `kind`, `template_id`, `export_time` and the columns `r`
/// carries, numbers as numbers (TIME_STAMP and `export_time` as Unix
/// seconds, which ClickHouse reads into a DateTime), everything else as
/// text. A column `r` does not carry is left out: ClickHouse fills in its
/// default (the other address family's columns).
pub fn to_clickhouse(r: &DecodedRecord, t: &Table) -> String {
    let mut s = String::with_capacity(256);
    s.push_str("{\"kind\":");
    json_str(r.kind.as_deref().unwrap_or(""), &mut s);
    let _ = write!(
        s,
        ",\"template_id\":{},\"export_time\":{}",
        r.template_id, r.export_time
    );
    for c in &t.columns {
        if let Some(v) = r.get(c) {
            s.push(',');
            json_str(c, &mut s);
            s.push(':');
            json_value(v, &mut s);
        }
    }
    s.push('}');
    s
}

/// The columns of every table of [`schema`], by table name (for the checks
/// of the rows against the schema).
pub fn schema_columns() -> Vec<(String, Vec<String>)> {
    specs()
        .into_iter()
        .map(|t| {
            let mut cols: Vec<String> = PREFIX.iter().map(|c| c.to_string()).collect();
            cols.extend(t.table.columns);
            (t.table.name, cols)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::render::table_of;
    use crate::collect::{TemplateCache, decode_message};
    use crate::samples;
    use crate::session::SessionConfig;
    use crate::template::Stream;

    /// The committed schema is the generator's: regenerate it with
    /// `metaprobe clickhouse-schema > docs/clickhouse.sql`.
    #[test]
    fn the_committed_schema_is_generated() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/clickhouse.sql");
        let committed = std::fs::read_to_string(path).unwrap();
        assert!(
            committed == schema(),
            "{path} differs from the generator: regenerate it with `metaprobe clickhouse-schema > docs/clickhouse.sql`"
        );
    }

    /// Every row of every template (both families, the reliability and the
    /// counter records) names only columns of its table, with the table's name.
    #[test]
    fn rows_fit_their_tables() {
        let tables = schema_columns();
        assert_eq!(tables.len(), 11);
        let mut seen = Vec::new();
        for stream in Stream::ALL {
            let cfg = SessionConfig::udp(stream, 9000, false, 20);
            let (msgs, _) = samples::session_messages(cfg, 1_700_000_000, 1);
            let mut cache = TemplateCache::new();
            for m in msgs {
                for r in decode_message(&mut cache, &m).unwrap().records {
                    let t = table_of(&r);
                    if t.name == "ie_type" {
                        continue;
                    }
                    let cols = &tables.iter().find(|(n, _)| *n == t.name).unwrap().1;
                    let row = to_clickhouse(&r, &t);
                    for (k, _) in &r.fields {
                        assert!(cols.contains(k), "{}: {k} not a column", t.name);
                        assert!(row.contains(&format!("\"{k}\":")), "{row}");
                    }
                    seen.push(t.name);
                }
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 11, "{seen:?}");
    }

    #[test]
    fn a_row_carries_the_columns_of_its_record() {
        let r = crate::collect::render::dns_record();
        // In the table's column order; the IPv6 pair and the rest left out.
        assert_eq!(
            to_clickhouse(&r, &table_of(&r)),
            r#"{"kind":"dns","template_id":272,"export_time":3,"IP_SOURCE":"192.0.2.1","DOMAIN":"a\"b,c\n","TTL":300,"RDATA":"dead"}"#
        );
    }

    #[test]
    fn prefix_columns_are_the_tables() {
        let names: Vec<&str> = PREFIX_COLUMNS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, PREFIX);
    }

    #[test]
    fn column_types() {
        assert_eq!(column_type(&ie::TIME_STAMP), "DateTime('UTC')");
        assert_eq!(column_type(&ie::IP_SOURCE_V6), "IPv6");
        assert_eq!(column_type(&ie::SESSION_ID), "UInt64");
        assert_eq!(column_type(&ie::HOSTNAME), "String");
        assert_eq!(column_type(&ie::CONTENT_TYPE), "LowCardinality(String)");
        assert_eq!(
            column_type(&ie::SOURCE_MAC_ADDRESS),
            "LowCardinality(String)"
        );
        assert_eq!(sql_str("it's a \\ b"), "'it\\'s a \\\\ b'");
    }
}
