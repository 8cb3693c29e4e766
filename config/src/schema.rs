//! The schema of a configuration file as serde types.
//!
//! [`File`] is derived with `deny_unknown_fields`: serde knows every key, and an
//! unknown one is refused by the derive itself (`read.rs` turns that refusal into a
//! message with the key's line and the closest known key). Each value is a
//! [`Spanned`] [`Shaped`]: its span for the message's line, and either a value of
//! the *shape* its key takes (an integer, a string, an array of pairs, …) or what was
//! [`Found`] instead. A value of the wrong shape is therefore not a serde error: the
//! file is read whole, so that every problem of it is reported at once, and the
//! messages say what was expected and what was found in our words.
//!
//! Shapes check only what TOML's types say. Ranges, address syntax, duplicates and the
//! other rules of each key are checked by `read.rs` on these typed values, where the
//! key's name is at hand for the message.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// A value of the file: its span, and its shape or what was found.
pub(crate) type Value<S> = Spanned<Shaped<S>>;

/// Every key of a configuration file. `None`: the key is not in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct File {
    pub eal_args: Option<Value<List<Text>>>,
    pub bridges: Option<Value<List<BridgeShape>>>,
    pub log_dir: Option<Value<Text>>,
    pub stats_interval: Option<Value<Int>>,
    pub metrics_listen: Option<Value<Text>>,
    pub rx_descriptors: Option<Value<Int>>,
    pub tx_descriptors: Option<Value<Int>>,
    pub queues_per_port: Option<Value<Int>>,
    pub flow_table_size: Option<Value<Int>>,
    pub flow_tcp_timeout: Option<Value<Int>>,
    pub flow_tcp_closed_timeout: Option<Value<Int>>,
    pub flow_udp_timeout: Option<Value<Int>>,
    pub flow_other_timeout: Option<Value<Int>>,
    pub reassembly_slots: Option<Value<Int>>,
    pub reassembly_slot_bytes: Option<Value<Int>>,
    pub quic_slots: Option<Value<Int>>,
    pub ip_fragment_slots: Option<Value<Int>>,
    pub ip_fragment_slot_bytes: Option<Value<Int>>,
    pub ipfix_dev: Option<Value<Text>>,
    pub ipfix_udp_collectors: Option<Value<TextOrList>>,
    pub ipfix_tcp_collectors: Option<Value<TextOrList>>,
    pub ipfix_meta_udp_collectors: Option<Value<TextOrList>>,
    pub ipfix_meta_tcp_collectors: Option<Value<TextOrList>>,
    pub ipfix_meta_raw: Option<Value<TextOrList>>,
    pub ipfix_meta_raw_max_bytes: Option<Value<Int>>,
    pub ipfix_dns_udp_collectors: Option<Value<TextOrList>>,
    pub ipfix_dns_tcp_collectors: Option<Value<TextOrList>>,
    pub ipfix_udp_template_timer: Option<Value<Int>>,
    pub ipfix_mtu: Option<Value<Int>>,
    pub ipfix_tcp_backlog: Option<Value<IntOrText>>,
    pub ipfix_domain_id: Option<Value<Int>>,
    pub ipfix_clickstream_domain_id: Option<Value<Int>>,
    pub ipfix_meta_domain_id: Option<Value<Int>>,
    pub ipfix_dns_domain_id: Option<Value<Int>>,
    pub netflow_timeout: Option<Value<Int>>,
    pub http_parse_reply: Option<Value<Flag>>,
    pub ssl_parse_reply: Option<Value<Flag>>,
    pub dbg_log_mask: Option<Value<IntOrText>>,
    pub ajb_save_dns: Option<Value<Flag>>,
    pub ajb_dns_path: Option<Value<Text>>,
    pub ajb_save_dns_format: Option<Value<TextOrList>>,
    pub ajb_dns_bufsize: Option<Value<IntOrText>>,
    pub ajb_dns_fsize: Option<Value<IntOrText>>,
    pub ajb_dns_ftimeout: Option<Value<Int>>,
    pub subscribers_file: Option<Value<Text>>,
    pub subscribers_max: Option<Value<Int>>,
    pub radius_snoop: Option<Value<Flag>>,
    pub radius_accounting_listen: Option<Value<Text>>,
    pub radius_secret: Option<Value<Text>>,
    pub vchannels: Option<Value<List<EntryTable>>>,
    pub block_list: Option<Value<Text>>,
    pub block_redirect_url: Option<Value<Text>>,
}

/// What a value was when it was not of its key's shape, for "found …".
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array,
    Table,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Str(s) => write!(f, "the string {s:?}"),
            Found::Int(i) => write!(f, "the integer {i}"),
            // Debug keeps the decimal point of 1500.0.
            Found::Float(x) => write!(f, "the float {x:?}"),
            Found::Bool(b) => write!(f, "`{b}`"),
            Found::Datetime(d) => write!(f, "the date-time {d}"),
            Found::Array => f.write_str("an array"),
            Found::Table => f.write_str("a table"),
        }
    }
}

/// A value of shape `S`, or what the file had instead.
pub(crate) struct Shaped<S>(pub Result<S, Found>);

/// How a shape is made from each kind of TOML value; every kind it does not take
/// is [`Found`] (the defaults). Arrays and tables are handed over as serde's access
/// so that a shape reads their elements as values of its own.
pub(crate) trait Shape<'de>: Sized {
    fn int(n: i128) -> Result<Self, Found> {
        Err(Found::Int(n))
    }

    fn str(s: &str) -> Result<Self, Found> {
        Err(Found::Str(s.to_owned()))
    }

    fn bool(b: bool) -> Result<Self, Found> {
        Err(Found::Bool(b))
    }

    fn seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Result<Self, Found>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Err(Found::Array))
    }

    /// A table whose first key, already read, is `first`.
    fn table<A: MapAccess<'de>>(
        _first: Spanned<String>,
        mut map: A,
    ) -> Result<Result<Self, Found>, A::Error> {
        map.next_value::<IgnoredAny>()?;
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(Found::Table))
    }
}

impl<'de, S: Shape<'de>> Deserialize<'de> for Shaped<S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShapeVisitor(PhantomData)).map(Shaped)
    }
}

struct ShapeVisitor<S>(PhantomData<S>);

impl<'de, S: Shape<'de>> Visitor<'de> for ShapeVisitor<S> {
    type Value = Result<S, Found>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(S::bool(b))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(S::int(n.into()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(S::int(n.into()))
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<Self::Value, E> {
        Ok(S::int(n))
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<Self::Value, E> {
        match i128::try_from(n) {
            Ok(n) => Ok(S::int(n)),
            Err(_) => Err(E::custom(format!("the integer {n} is too large"))),
        }
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
        Ok(Err(Found::Float(x)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(S::str(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        S::seq(seq)
    }

    /// A table, or a date-time: toml hands a date-time over as a map of one entry
    /// whose key is a private field name, not a key of the document, and the one key
    /// that cannot be read with a span. The test of date-time values pins this.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        match map.next_key::<Spanned<String>>() {
            Ok(Some(first)) => S::table(first, map),
            Ok(None) => Ok(Err(Found::Table)),
            Err(_) => Ok(Err(Found::Datetime(map.next_value()?))),
        }
    }
}

/// Reads every element of an array as a value of shape `E`.
fn elements<'de, E: Shape<'de>, A: SeqAccess<'de>>(mut seq: A) -> Result<Vec<Value<E>>, A::Error> {
    let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
    while let Some(v) = seq.next_element()? {
        out.push(v);
    }
    Ok(out)
}

/// An integer, any size TOML writes (ranges are the key's business).
pub(crate) struct Int(pub i128);

impl Shape<'_> for Int {
    fn int(n: i128) -> Result<Self, Found> {
        Ok(Int(n))
    }
}

/// A string.
pub(crate) struct Text(pub String);

impl Shape<'_> for Text {
    fn str(s: &str) -> Result<Self, Found> {
        Ok(Text(s.to_owned()))
    }
}

/// A switch: `true`, `false`, or the source's `1` and `0`.
pub(crate) struct Flag(pub bool);

impl Shape<'_> for Flag {
    fn bool(b: bool) -> Result<Self, Found> {
        Ok(Flag(b))
    }

    fn int(n: i128) -> Result<Self, Found> {
        match n {
            0 => Ok(Flag(false)),
            1 => Ok(Flag(true)),
            _ => Err(Found::Int(n)),
        }
    }
}

/// An integer, or a string that should hold one (`"0x80"`, `"64M"`).
pub(crate) enum IntOrText {
    Int(i128),
    Text(String),
}

impl Shape<'_> for IntOrText {
    fn int(n: i128) -> Result<Self, Found> {
        Ok(IntOrText::Int(n))
    }

    fn str(s: &str) -> Result<Self, Found> {
        Ok(IntOrText::Text(s.to_owned()))
    }
}

/// An array of values of shape `E`, each with its span.
pub(crate) struct List<E>(pub Vec<Value<E>>);

impl<'de, E: Shape<'de>> Shape<'de> for List<E> {
    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, Found>, A::Error> {
        elements(seq).map(|v| Ok(List(v)))
    }
}

/// One string holding a list (`"a, b"`, `"ts:host"`: the source's form), or an
/// array of strings.
pub(crate) enum TextOrList {
    Text(String),
    List(Vec<Value<Text>>),
}

impl<'de> Shape<'de> for TextOrList {
    fn str(s: &str) -> Result<Self, Found> {
        Ok(TextOrList::Text(s.to_owned()))
    }

    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, Found>, A::Error> {
        elements(seq).map(|v| Ok(TextOrList::List(v)))
    }
}

/// A bridge: `[subscriber, internet]`, or `{ subscriber = 0, internet = 1 }` whose
/// entries are kept as written (unknown and missing keys are reported by `read.rs`).
pub(crate) enum BridgeShape {
    Pair(Vec<Value<Int>>),
    Table(Vec<(Spanned<String>, Value<Int>)>),
}

impl<'de> Shape<'de> for BridgeShape {
    fn seq<A: SeqAccess<'de>>(seq: A) -> Result<Result<Self, Found>, A::Error> {
        elements(seq).map(|v| Ok(BridgeShape::Pair(v)))
    }

    fn table<A: MapAccess<'de>>(
        first: Spanned<String>,
        map: A,
    ) -> Result<Result<Self, Found>, A::Error> {
        entries(first, map).map(|e| Ok(BridgeShape::Table(e)))
    }
}

/// A table whose values are integers or strings (`{ bridge = 0, vlans = "100-199",
/// channel = 7 }`), entries kept as written: `read.rs` names unknown and missing keys.
pub(crate) struct EntryTable(pub Vec<(Spanned<String>, Value<IntOrText>)>);

impl<'de> Shape<'de> for EntryTable {
    fn table<A: MapAccess<'de>>(
        first: Spanned<String>,
        map: A,
    ) -> Result<Result<Self, Found>, A::Error> {
        entries(first, map).map(|e| Ok(EntryTable(e)))
    }
}

/// Every entry of a table as written, its first key `first` already read.
fn entries<'de, V: Deserialize<'de>, A: MapAccess<'de>>(
    first: Spanned<String>,
    mut map: A,
) -> Result<Vec<(Spanned<String>, V)>, A::Error> {
    let mut entries = vec![(first, map.next_value()?)];
    while let Some(entry) = map.next_entry()? {
        entries.push(entry);
    }
    Ok(entries)
}

/// The names of `T`'s fields as its derived `Deserialize` declares them (serde hands
/// them to `deserialize_struct`), so the list of keys is the schema's own.
pub(crate) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    #[derive(Debug)]
    struct Capture(&'static [&'static str]);

    impl fmt::Display for Capture {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field names captured")
        }
    }

    impl std::error::Error for Capture {}

    impl de::Error for Capture {
        fn custom<M: fmt::Display>(_: M) -> Self {
            Capture(&[])
        }
    }

    struct Introspect;

    impl<'de> Deserializer<'de> for Introspect {
        type Error = Capture;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Capture> {
            Err(Capture(&[]))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Capture> {
            Err(Capture(fields))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }

    match T::deserialize(Introspect) {
        Err(Capture(fields)) => fields,
        Ok(_) => &[],
    }
}
