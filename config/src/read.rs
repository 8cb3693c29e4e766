//! Reading a TOML document into a [`Config`].
//!
//! serde reads the file into the schema's types ([`File`], `schema.rs`): which keys
//! exist, and each value's span and shape. This module checks what the shapes leave
//! open (ranges, addresses, duplicates, the source product's spellings) and builds the
//! [`Config`]. Every problem of a file is reported, each with its key, its element
//! (`bridges[1]`, `ipfix_udp_collectors[2]`) and its own line.
//!
//! Unknown keys are refused by the derive (`deny_unknown_fields`). Serde stops at the
//! first one; [`read_file`] reports it, takes it out of the parsed document and reads
//! again, so a file with several unknown keys still gets one message for each and the
//! problems of its other values too.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeTable;

use crate::error::{Problems, closest};
use crate::schema::{
    BridgeShape, EntryTable, File, Flag, Found, Int, IntOrText, List, Text, TextOrList, Value,
    field_names,
};
use crate::{Bridge, Config, ConfigError, DnsLogField, MetaRawProtocol, VChannel};

/// Longest `block_redirect_url`: the 302 that carries it fits one injected frame
/// (the dataplane's `block::REDIRECT_URL_MAX`).
const REDIRECT_URL_MAX: usize = 1024;

const COLLECTOR_EXAMPLE: &str = "expected e.g. 192.0.2.10:4739 or [2001:db8::1]:4739";
const LISTEN_EXAMPLE: &str = "expected e.g. 127.0.0.1:9156 or [::]:9156";

pub(crate) fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let root = DeTable::parse(text).map_err(|e| ConfigError::syntax(origin, text, &e))?;
    let mut c = Check {
        p: Problems::new(text),
    };
    let cfg = read_file(root, &mut c.p).map(|file| c.config(&file));
    c.p.finish(origin)?;
    // `finish` refuses a file with any problem, and every `None` left a problem.
    cfg.ok_or_else(|| ConfigError::whole_file(origin, "cannot be read".to_owned()))
}

/// Deserializes the document into the schema. An unknown key is reported (with the
/// closest known one) and removed, and the rest read again: each pass removes one key,
/// so there are at most as many passes as keys. None after an error serde could not
/// place on a key (reported).
fn read_file(mut root: Spanned<DeTable<'_>>, p: &mut Problems<'_>) -> Option<File> {
    loop {
        let err = match File::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(file) => return Some(file),
            Err(e) => e,
        };
        // Values never fail (their shapes keep what was found), so an error with the
        // span of a top-level key is the derive refusing that key.
        let unknown = err.span().and_then(|span| {
            root.get_ref()
                .iter()
                .find(|(k, _)| k.span() == span)
                .map(|(k, v)| (k.clone(), v.get_ref().is_table()))
        });
        let Some((key, is_table)) = unknown else {
            match err.span() {
                Some(span) => p.raw_at(&span, err.message().to_owned()),
                None => p.whole(err.message().to_owned()),
            }
            return None;
        };
        p.raw_at(&key.span(), unknown_key(key.get_ref(), is_table));
        root.get_mut().remove(key.get_ref().as_ref());
    }
}

fn unknown_key(name: &str, is_table: bool) -> String {
    let mut text = format!("unknown key `{name}`");
    if let Some(near) = closest(name, field_names::<File>()) {
        text.push_str(&format!(" (did you mean `{near}`?)"));
    } else if is_table {
        text.push_str(" (there are no sections: every key is at the top level)");
    } else {
        text.push_str(" (docs/configuration.md lists every key)");
    }
    text
}

/// The checks of every key's rules, collecting problems.
struct Check<'a> {
    p: Problems<'a>,
}

/// Parses a non-negative integer written in a string: decimal, `0x` hex, `0o` octal or
/// `0b` binary, underscores allowed.
fn integer_in_string(s: &str) -> Option<u64> {
    let t = s.trim().replace('_', "");
    let (digits, radix) = match t.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (t.get(2..)?, 16),
        Some("0o") => (t.get(2..)?, 8),
        Some("0b") => (t.get(2..)?, 2),
        _ => (t.as_str(), 10),
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Reads one key: `slot` takes the value of `v` when the key was in the file and
/// `read` accepts it (a refused value is reported by `read`).
fn key<'c, S, T>(
    c: &mut Check<'c>,
    slot: &mut T,
    v: &Option<Value<S>>,
    read: impl FnOnce(&mut Check<'c>, &Value<S>) -> Option<T>,
) {
    if let Some(value) = v.as_ref().and_then(|v| read(c, v)) {
        *slot = value;
    }
}

impl Check<'_> {
    /// The configuration of `f`: defaults, and every valid value of the file.
    fn config(&mut self, f: &File) -> Config {
        let mut c = Config::with_bridges(Vec::new());
        if f.bridges.is_none() {
            self.p.whole(
                "missing required key `bridges` (the port pairs to forward, \
                 subscriber port first, e.g. bridges = [[0, 1]])"
                    .to_owned(),
            );
        }
        const EVERY: RangeInclusive<u64> = 0..=i64::MAX as u64;
        const DAY: RangeInclusive<u64> = 1..=86_400;
        const POSITIVE: RangeInclusive<u64> = 1..=u32::MAX as u64;
        let s = self;
        key(s, &mut c.bridges, &f.bridges, |s, v| {
            s.bridges("bridges", v)
        });
        key(s, &mut c.eal_args, &f.eal_args, |s, v| {
            s.strings("eal_args", v)
        });
        key(s, &mut c.log_dir, &f.log_dir, |s, v| {
            s.path("log_dir", v, false)
        });
        key(s, &mut c.stats_interval, &f.stats_interval, |s, v| {
            s.uint("stats_interval", v, "seconds", EVERY)
        });
        key(s, &mut c.metrics_listen, &f.metrics_listen, |s, v| {
            s.listen("metrics_listen", v)
        });
        key(s, &mut c.rx_descriptors, &f.rx_descriptors, |s, v| {
            s.descriptors("rx_descriptors", v)
        });
        key(s, &mut c.tx_descriptors, &f.tx_descriptors, |s, v| {
            s.descriptors("tx_descriptors", v)
        });
        key(s, &mut c.queues_per_port, &f.queues_per_port, |s, v| {
            s.queues("queues_per_port", v)
        });
        key(s, &mut c.flow_table_size, &f.flow_table_size, |s, v| {
            s.uint("flow_table_size", v, "entries", 1024..=(1 << 30))
        });
        key(s, &mut c.reassembly_slots, &f.reassembly_slots, |s, v| {
            s.uint("reassembly_slots", v, "slots", 0..=(1 << 22))
        });
        key(
            s,
            &mut c.reassembly_slot_bytes,
            &f.reassembly_slot_bytes,
            |s, v| s.uint("reassembly_slot_bytes", v, "octets", 512..=65_536),
        );
        key(s, &mut c.quic_slots, &f.quic_slots, |s, v| {
            s.uint("quic_slots", v, "slots", 0..=(1 << 20))
        });
        key(s, &mut c.ip_fragment_slots, &f.ip_fragment_slots, |s, v| {
            s.uint("ip_fragment_slots", v, "slots", 0..=(1 << 20))
        });
        key(
            s,
            &mut c.ip_fragment_slot_bytes,
            &f.ip_fragment_slot_bytes,
            |s, v| s.uint("ip_fragment_slot_bytes", v, "octets", 1500..=65_535),
        );
        for (name, slot, v) in [
            (
                "flow_tcp_timeout",
                &mut c.flow_tcp_timeout,
                &f.flow_tcp_timeout,
            ),
            (
                "flow_tcp_closed_timeout",
                &mut c.flow_tcp_closed_timeout,
                &f.flow_tcp_closed_timeout,
            ),
            (
                "flow_udp_timeout",
                &mut c.flow_udp_timeout,
                &f.flow_udp_timeout,
            ),
            (
                "flow_other_timeout",
                &mut c.flow_other_timeout,
                &f.flow_other_timeout,
            ),
        ] {
            key(s, slot, v, |s, v| s.uint(name, v, "seconds", DAY));
        }
        key(s, &mut c.ipfix_dev, &f.ipfix_dev, |s, v| {
            s.device("ipfix_dev", v)
        });
        for (name, slot, v) in [
            (
                "ipfix_udp_collectors",
                &mut c.ipfix_udp_collectors,
                &f.ipfix_udp_collectors,
            ),
            (
                "ipfix_tcp_collectors",
                &mut c.ipfix_tcp_collectors,
                &f.ipfix_tcp_collectors,
            ),
            (
                "ipfix_meta_udp_collectors",
                &mut c.ipfix_meta_udp_collectors,
                &f.ipfix_meta_udp_collectors,
            ),
            (
                "ipfix_meta_tcp_collectors",
                &mut c.ipfix_meta_tcp_collectors,
                &f.ipfix_meta_tcp_collectors,
            ),
            (
                "ipfix_dns_udp_collectors",
                &mut c.ipfix_dns_udp_collectors,
                &f.ipfix_dns_udp_collectors,
            ),
            (
                "ipfix_dns_tcp_collectors",
                &mut c.ipfix_dns_tcp_collectors,
                &f.ipfix_dns_tcp_collectors,
            ),
        ] {
            key(s, slot, v, |s, v| s.collectors(name, v));
        }
        key(s, &mut c.ipfix_meta_raw, &f.ipfix_meta_raw, |s, v| {
            s.meta_raw("ipfix_meta_raw", v)
        });
        key(
            s,
            &mut c.ipfix_meta_raw_max_bytes,
            &f.ipfix_meta_raw_max_bytes,
            |s, v| s.uint("ipfix_meta_raw_max_bytes", v, "octets", 1..=65_535),
        );
        key(
            s,
            &mut c.ipfix_udp_template_timer,
            &f.ipfix_udp_template_timer,
            |s, v| s.uint("ipfix_udp_template_timer", v, "seconds", POSITIVE),
        );
        key(s, &mut c.ipfix_mtu, &f.ipfix_mtu, |s, v| {
            s.uint("ipfix_mtu", v, "octets", 576..=9216)
        });
        key(s, &mut c.ipfix_tcp_backlog, &f.ipfix_tcp_backlog, |s, v| {
            s.size_at_most("ipfix_tcp_backlog", v, 1 << 30)
        });
        key(s, &mut c.ipfix_domain_id, &f.ipfix_domain_id, |s, v| {
            s.uint("ipfix_domain_id", v, "an id", 0..=u64::from(u32::MAX))
        });
        // A stream's own domain id, else ipfix_domain_id's.
        let base = c.ipfix_domain_id;
        for (name, slot, v) in [
            (
                "ipfix_clickstream_domain_id",
                &mut c.ipfix_clickstream_domain_id,
                &f.ipfix_clickstream_domain_id,
            ),
            (
                "ipfix_meta_domain_id",
                &mut c.ipfix_meta_domain_id,
                &f.ipfix_meta_domain_id,
            ),
            (
                "ipfix_dns_domain_id",
                &mut c.ipfix_dns_domain_id,
                &f.ipfix_dns_domain_id,
            ),
        ] {
            *slot = base;
            key(s, slot, v, |s, v| {
                s.uint(name, v, "an id", 0..=u64::from(u32::MAX))
            });
        }
        key(s, &mut c.netflow_timeout, &f.netflow_timeout, |s, v| {
            s.uint("netflow_timeout", v, "seconds", POSITIVE)
        });
        for (name, slot, v) in [
            (
                "http_parse_reply",
                &mut c.http_parse_reply,
                &f.http_parse_reply,
            ),
            (
                "ssl_parse_reply",
                &mut c.ssl_parse_reply,
                &f.ssl_parse_reply,
            ),
            ("ajb_save_dns", &mut c.ajb_save_dns, &f.ajb_save_dns),
        ] {
            key(s, slot, v, |s, v| s.flag(name, v));
        }
        key(s, &mut c.dbg_log_mask, &f.dbg_log_mask, |s, v| {
            s.mask("dbg_log_mask", v)
        });
        key(s, &mut c.ajb_dns_path, &f.ajb_dns_path, |s, v| {
            s.path("ajb_dns_path", v, true)
        });
        key(
            s,
            &mut c.ajb_save_dns_format,
            &f.ajb_save_dns_format,
            |s, v| s.dns_format("ajb_save_dns_format", v),
        );
        key(s, &mut c.ajb_dns_bufsize, &f.ajb_dns_bufsize, |s, v| {
            s.size("ajb_dns_bufsize", v)
        });
        key(s, &mut c.ajb_dns_fsize, &f.ajb_dns_fsize, |s, v| {
            s.size("ajb_dns_fsize", v)
        });
        key(s, &mut c.ajb_dns_ftimeout, &f.ajb_dns_ftimeout, |s, v| {
            s.uint("ajb_dns_ftimeout", v, "minutes", EVERY)
        });
        key(s, &mut c.subscribers_file, &f.subscribers_file, |s, v| {
            s.optional_path("subscribers_file", v)
        });
        key(s, &mut c.subscribers_max, &f.subscribers_max, |s, v| {
            s.uint("subscribers_max", v, "bindings", 1..=(1 << 24))
        });
        key(s, &mut c.radius_snoop, &f.radius_snoop, |s, v| {
            s.flag("radius_snoop", v)
        });
        key(
            s,
            &mut c.radius_accounting_listen,
            &f.radius_accounting_listen,
            |s, v| s.listen("radius_accounting_listen", v),
        );
        key(s, &mut c.radius_secret, &f.radius_secret, |s, v| {
            s.shaped("radius_secret", v, "the shared secret (a string)")
                .map(|Text(t)| t.clone())
        });
        if c.radius_accounting_listen.is_some()
            && c.radius_secret.is_empty()
            && let Some(v) = &f.radius_accounting_listen
        {
            s.p.at(
                &v.span(),
                "radius_accounting_listen",
                "a listener needs `radius_secret` (the secret its BRAS signs accounting with)",
            );
        }
        let bridges = c.bridges.len();
        key(s, &mut c.vchannels, &f.vchannels, |s, v| {
            s.vchannels("vchannels", v, bridges)
        });
        key(s, &mut c.block_list, &f.block_list, |s, v| {
            s.optional_path("block_list", v)
        });
        key(
            s,
            &mut c.block_redirect_url,
            &f.block_redirect_url,
            |s, v| s.redirect_url("block_redirect_url", v),
        );
        c
    }

    fn wrong_type(&mut self, key: &str, span: &Range<usize>, found: &Found, expected: &str) {
        let mut why = format!("expected {expected}, found {found}");
        if let Found::Str(s) = found
            && integer_in_string(s).is_some()
            && expected.contains("integer")
        {
            why.push_str(" (write numbers without quotes)");
        }
        self.p.at(span, key, why);
    }

    /// The value of `v`, or None with the wrong type reported.
    fn shaped<'v, S>(&mut self, key: &str, v: &'v Value<S>, expected: &str) -> Option<&'v S> {
        match &v.get_ref().0 {
            Ok(s) => Some(s),
            Err(found) => {
                self.wrong_type(key, &v.span(), found, expected);
                None
            }
        }
    }

    /// An integer in `range`, converted to `T` (the range must fit `T`).
    fn uint<T: TryFrom<u64>>(
        &mut self,
        key: &str,
        v: &Value<Int>,
        unit: &str,
        range: RangeInclusive<u64>,
    ) -> Option<T> {
        let Int(n) = *self.shaped(key, v, &format!("an integer ({unit})"))?;
        let ok = u64::try_from(n).ok().filter(|n| range.contains(n));
        if let Some(t) = ok.and_then(|n| T::try_from(n).ok()) {
            return Some(t);
        }
        let why = if *range.start() == 1 && n <= 0 {
            format!("{n} is not allowed: must be greater than 0")
        } else if *range.end() >= i64::MAX as u64 {
            format!("{n} is out of range: must be 0 or more")
        } else {
            format!("{n} is out of range {}..={}", range.start(), range.end())
        };
        self.p.at(&v.span(), key, why);
        None
    }

    fn descriptors(&mut self, key: &str, v: &Value<Int>) -> Option<u16> {
        let Int(n) = *self.shaped(key, v, "an integer (descriptors per queue)")?;
        match u16::try_from(n) {
            Ok(d) if (64..=16384).contains(&d) && d.is_power_of_two() => Some(d),
            _ => {
                self.p.at(
                    &v.span(),
                    key,
                    format!("{n} is not a power of two in 64..=16384"),
                );
                None
            }
        }
    }

    fn queues(&mut self, key: &str, v: &Value<Int>) -> Option<u16> {
        let Int(n) = *self.shaped(key, v, "an integer (queues per port, 0 = automatic)")?;
        match u16::try_from(n) {
            Ok(q) if q <= 64 => Some(q),
            _ => {
                self.p.at(
                    &v.span(),
                    key,
                    format!("{n} is out of range: 0 (automatic) or 1..=64"),
                );
                None
            }
        }
    }

    /// `0`, `1`, `true` or `false` (the shape): the source writes 0/1.
    fn flag(&mut self, key: &str, v: &Value<Flag>) -> Option<bool> {
        match &v.get_ref().0 {
            Ok(Flag(b)) => Some(*b),
            Err(found) => {
                let mut why = format!("expected 0, 1, true or false, found {found}");
                if let Found::Str(s) = found
                    && matches!(s.trim(), "0" | "1" | "true" | "false")
                {
                    why.push_str(" (write it without quotes)");
                }
                self.p.at(&v.span(), key, why);
                None
            }
        }
    }

    /// An integer, or a string holding one (`"0x80"`).
    fn mask(&mut self, key: &str, v: &Value<IntOrText>) -> Option<u32> {
        let n = match self.shaped(key, v, "an integer bit mask (e.g. 0x80)")? {
            IntOrText::Int(n) => *n,
            IntOrText::Text(s) => match integer_in_string(s) {
                Some(n) => i128::from(n),
                None => {
                    self.p.at(
                        &v.span(),
                        key,
                        format!("{s:?} is not a number (expected e.g. 0x80 or 128)"),
                    );
                    return None;
                }
            },
        };
        match u32::try_from(n) {
            Ok(m) => Some(m),
            Err(_) => {
                self.p.at(
                    &v.span(),
                    key,
                    format!("{n} does not fit in 32 bits (0..=0xffffffff)"),
                );
                None
            }
        }
    }

    /// Bytes: an integer, or a string with an optional binary suffix (`"64M"`).
    fn size(&mut self, key: &str, v: &Value<IntOrText>) -> Option<u64> {
        let n = match self.shaped(key, v, "a size (bytes, or a string such as \"64M\")")? {
            IntOrText::Text(s) => match parse_size(s) {
                Some(n) => n,
                None => {
                    self.p.at(
                        &v.span(),
                        key,
                        format!(
                            "{s:?} is not a size (expected bytes, or a number with K, M or G, e.g. \"64M\")"
                        ),
                    );
                    return None;
                }
            },
            IntOrText::Int(n) => match u64::try_from(*n) {
                Ok(n) => n,
                Err(_) => {
                    self.p.at(&v.span(), key, "a size cannot be negative");
                    return None;
                }
            },
        };
        if n == 0 {
            self.p
                .at(&v.span(), key, "0 is not allowed: must be greater than 0");
            return None;
        }
        Some(n)
    }

    /// A [`size`](Self::size) of at most `max` bytes.
    fn size_at_most(&mut self, key: &str, v: &Value<IntOrText>, max: u64) -> Option<u64> {
        let n = self.size(key, v)?;
        if n > max {
            self.p.at(
                &v.span(),
                key,
                format!(
                    "{n} bytes is too large: at most {max} ({})",
                    crate::write::size(max)
                ),
            );
            return None;
        }
        Some(n)
    }

    fn path(&mut self, key: &str, v: &Value<Text>, file: bool) -> Option<PathBuf> {
        let Text(s) = self.shaped(key, v, "a path (a string)")?;
        if s.trim().is_empty() {
            self.p.at(&v.span(), key, "the path is empty");
            return None;
        }
        if file && s.ends_with('/') {
            self.p.at(
                &v.span(),
                key,
                format!("{s:?} names a directory; give the path of a file"),
            );
            return None;
        }
        Some(PathBuf::from(s))
    }

    /// A network interface name as Linux accepts it (`SO_BINDTODEVICE`), or "".
    fn device(&mut self, key: &str, v: &Value<Text>) -> Option<String> {
        let Text(s) = self.shaped(key, v, "a network interface name (a string)")?;
        let bad = s.len() > 15 || s.contains(['/', '\0']) || s.chars().any(char::is_whitespace);
        if bad {
            self.p.at(
                &v.span(),
                key,
                format!(
                    "{s:?} is not a network interface name \
                     (at most 15 characters, no '/' or spaces; \"\" = not bound)"
                ),
            );
            return None;
        }
        Some(s.clone())
    }

    /// An address to listen on, `ip:port` (port 0: any free port); "" = off.
    /// A file path, or "" for none.
    fn optional_path(&mut self, key: &str, v: &Value<Text>) -> Option<Option<PathBuf>> {
        let Text(s) = self.shaped(key, v, "a path (a string)")?;
        if s.trim().is_empty() {
            return Some(None);
        }
        self.path(key, v, true).map(Some)
    }

    /// An http(s) URL for a `Location` header: no spaces or control
    /// characters, short enough for the 302 to fit one frame.
    fn redirect_url(&mut self, key: &str, v: &Value<Text>) -> Option<Option<String>> {
        let Text(s) = self.shaped(key, v, "a URL (a string)")?;
        let url = s.trim();
        if url.is_empty() {
            return Some(None);
        }
        let why = if !(url.starts_with("http://") || url.starts_with("https://")) {
            Some(format!("{url:?} is not an http:// or https:// URL"))
        } else if url
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            Some(format!("{url:?} holds a space or a control character"))
        } else if url.len() > REDIRECT_URL_MAX {
            Some(format!("longer than {REDIRECT_URL_MAX} octets"))
        } else {
            None
        };
        match why {
            Some(why) => {
                self.p.at(&v.span(), key, why);
                None
            }
            None => Some(Some(url.to_owned())),
        }
    }

    fn listen(&mut self, key: &str, v: &Value<Text>) -> Option<Option<SocketAddr>> {
        let Text(s) = self.shaped(key, v, "an address \"ip:port\" to listen on (a string)")?;
        let text = s.trim();
        if text.is_empty() {
            return Some(None);
        }
        match parse_addr(text, LISTEN_EXAMPLE) {
            Ok(addr) => Some(Some(addr)),
            Err(why) => {
                self.p.at(&v.span(), key, why);
                None
            }
        }
    }

    /// The strings of an array of strings; None (reported) if any element is not one.
    fn elements(
        &mut self,
        key: &str,
        items: &[Value<Text>],
        expected: &str,
    ) -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match &item.get_ref().0 {
                Ok(Text(s)) => out.push(s.clone()),
                Err(found) => {
                    self.wrong_type(&format!("{key}[{i}]"), &item.span(), found, expected);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn strings(&mut self, key: &str, v: &Value<List<Text>>) -> Option<Vec<String>> {
        let List(items) = self.shaped(
            key,
            v,
            "an array of strings (e.g. [\"-l\", \"0-1\", \"--no-huge\"])",
        )?;
        self.elements(key, items, "a string")
    }

    /// `[[sub, inet], …]` (or `[{ subscriber = 0, internet = 1 }, …]`): non-empty, no
    /// port twice.
    fn bridges(&mut self, key: &str, v: &Value<List<BridgeShape>>) -> Option<Vec<Bridge>> {
        const EXAMPLE: &str =
            "an array of port pairs, subscriber port first, e.g. [[0, 1], [2, 3]]";
        let List(items) = self.shaped(key, v, EXAMPLE)?;
        if items.is_empty() {
            self.p.at(
                &v.span(),
                key,
                "at least one bridge is required (e.g. bridges = [[0, 1]])",
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        let mut used: HashMap<u16, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let name = format!("{key}[{i}]");
            let Some(bridge) = self.bridge(&name, item) else {
                ok = false;
                continue;
            };
            if bridge.subscriber == bridge.internet {
                self.p.at(
                    &item.span(),
                    &name,
                    format!(
                        "port {} is bridged with itself (a bridge joins two different ports)",
                        bridge.subscriber
                    ),
                );
                ok = false;
                continue;
            }
            for port in bridge.ports() {
                if let Some(first) = used.get(&port) {
                    self.p.at(
                        &item.span(),
                        &name,
                        format!("port {port} is already used by {key}[{first}]"),
                    );
                    ok = false;
                } else {
                    used.insert(port, i);
                }
            }
            out.push(bridge);
        }
        ok.then_some(out)
    }

    fn bridge(&mut self, name: &str, v: &Value<BridgeShape>) -> Option<Bridge> {
        match self.shaped(name, v, "a pair [subscriber port, internet port]")? {
            BridgeShape::Pair(ports) => {
                let [sub, inet] = ports.as_slice() else {
                    self.p.at(
                        &v.span(),
                        name,
                        format!(
                            "expected a pair [subscriber port, internet port], found {} element(s)",
                            ports.len()
                        ),
                    );
                    return None;
                };
                let sub = self.port(&format!("{name}[0]"), sub);
                let inet = self.port(&format!("{name}[1]"), inet);
                Some(Bridge {
                    subscriber: sub?,
                    internet: inet?,
                })
            }
            BridgeShape::Table(entries) => {
                let (mut sub, mut inet) = (None, None);
                let mut ok = true;
                for (k, val) in entries {
                    match k.get_ref().as_str() {
                        "subscriber" => {
                            sub = self.port(&format!("{name}.subscriber"), val);
                        }
                        "internet" => {
                            inet = self.port(&format!("{name}.internet"), val);
                        }
                        other => {
                            self.p.at(
                                &k.span(),
                                name,
                                format!(
                                    "unknown key `{other}` (a bridge has `subscriber` and `internet`)"
                                ),
                            );
                            ok = false;
                        }
                    }
                }
                ok &= self.require(&v.span(), name, entries, &["subscriber", "internet"]);
                if !ok {
                    return None;
                }
                Some(Bridge {
                    subscriber: sub?,
                    internet: inet?,
                })
            }
        }
    }

    /// `[{ bridge = 0, vlans = "100-199,300", channel = 7 }, …]`: bridges that exist,
    /// VLAN ids 1..=4094, no VLAN id of a bridge in two entries.
    fn vchannels(
        &mut self,
        key: &str,
        v: &Value<List<EntryTable>>,
        bridges: usize,
    ) -> Option<Vec<VChannel>> {
        const EXAMPLE: &str =
            "an array of tables, e.g. [{ bridge = 0, vlans = \"100-199,300\", channel = 7 }]";
        let List(items) = self.shaped(key, v, EXAMPLE)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        // (bridge, vlan) -> the entry that took it.
        let mut taken: HashMap<(u16, u16), usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let name = format!("{key}[{i}]");
            let Some(vc) = self.vchannel(&name, item, bridges) else {
                ok = false;
                continue;
            };
            for &(lo, hi) in &vc.vlans {
                for vlan in lo..=hi {
                    if let Some(first) = taken.insert((vc.bridge, vlan), i)
                        && first != i
                    {
                        self.p.at(
                            &item.span(),
                            &name,
                            format!(
                                "VLAN {vlan} of bridge {} is already in {key}[{first}]",
                                vc.bridge
                            ),
                        );
                        ok = false;
                        break;
                    }
                }
            }
            out.push(vc);
        }
        ok.then_some(out)
    }

    fn vchannel(&mut self, name: &str, v: &Value<EntryTable>, bridges: usize) -> Option<VChannel> {
        let EntryTable(entries) = self.shaped(
            name,
            v,
            "a table { bridge = 0, vlans = \"100-199,300\", channel = 7 }",
        )?;
        let (mut bridge, mut vlans, mut channel) = (None, None, None);
        let mut ok = true;
        for (k, val) in entries {
            let field = format!("{name}.{}", k.get_ref());
            let int = |s: &mut Self, max: u64| -> Option<u16> {
                match &val.get_ref().0 {
                    Ok(IntOrText::Int(n)) => match u16::try_from(*n) {
                        Ok(n) if u64::from(n) <= max => Some(n),
                        _ => {
                            s.p.at(
                                &val.span(),
                                &field,
                                format!("{n} is out of range 0..={max}"),
                            );
                            None
                        }
                    },
                    Ok(IntOrText::Text(t)) => {
                        s.wrong_type(&field, &val.span(), &Found::Str(t.clone()), "an integer");
                        None
                    }
                    Err(found) => {
                        s.wrong_type(&field, &val.span(), found, "an integer");
                        None
                    }
                }
            };
            match k.get_ref().as_str() {
                "bridge" => {
                    bridge = int(self, u64::from(u16::MAX));
                    if let Some(b) = bridge
                        && usize::from(b) >= bridges
                    {
                        self.p.at(
                            &val.span(),
                            &field,
                            format!("there is no bridge {b} (`bridges` has {bridges})"),
                        );
                        bridge = None;
                    }
                    ok &= bridge.is_some();
                }
                "channel" => {
                    channel = int(self, u64::from(u16::MAX));
                    ok &= channel.is_some();
                }
                "vlans" => {
                    vlans = match &val.get_ref().0 {
                        Ok(IntOrText::Text(t)) => match vlan_ranges(t) {
                            Ok(r) => Some(r),
                            Err(why) => {
                                self.p.at(&val.span(), &field, why);
                                None
                            }
                        },
                        Ok(IntOrText::Int(n)) => match vlan_ranges(&n.to_string()) {
                            Ok(r) => Some(r),
                            Err(why) => {
                                self.p.at(&val.span(), &field, why);
                                None
                            }
                        },
                        Err(found) => {
                            self.wrong_type(
                                &field,
                                &val.span(),
                                found,
                                "VLAN ids and ranges (a string, e.g. \"100-199,300\")",
                            );
                            None
                        }
                    };
                    ok &= vlans.is_some();
                }
                other => {
                    self.p.at(
                        &k.span(),
                        name,
                        format!(
                            "unknown key `{other}` (a vchannel has `bridge`, `vlans` and `channel`)"
                        ),
                    );
                    ok = false;
                }
            }
        }
        if !self.require(&v.span(), name, entries, &["bridge", "vlans", "channel"]) {
            return None;
        }
        if !ok {
            return None;
        }
        Some(VChannel {
            bridge: bridge?,
            vlans: vlans?,
            channel: channel?,
        })
    }

    /// Reports the keys of `required` the table `name` lacks; true when it has them all.
    fn require<V>(
        &mut self,
        span: &Range<usize>,
        name: &str,
        entries: &[(Spanned<String>, V)],
        required: &[&str],
    ) -> bool {
        let missing: Vec<String> = required
            .iter()
            .filter(|k| !entries.iter().any(|(e, _)| e.get_ref() == *k))
            .map(|k| format!("`{k}`"))
            .collect();
        if !missing.is_empty() {
            self.p
                .at(span, name, format!("missing {}", missing.join(" and ")));
        }
        missing.is_empty()
    }

    fn port(&mut self, name: &str, v: &Value<Int>) -> Option<u16> {
        let Int(n) = *self.shaped(name, v, "a port id (an integer)")?;
        match u16::try_from(n) {
            Ok(p) => Some(p),
            Err(_) => {
                self.p
                    .at(&v.span(), name, format!("{n} is not a port id (0..=65535)"));
                None
            }
        }
    }

    /// An array of `"ip:port"` strings, or one comma-separated string (the source's
    /// form); "" = none. No collector twice: a hash set, so that a list of any length
    /// is checked in time linear in its length.
    fn collectors(&mut self, key: &str, v: &Value<TextOrList>) -> Option<Vec<SocketAddr>> {
        // (element name, text, span)
        let mut items: Vec<(String, &str, Range<usize>)> = Vec::new();
        let mut ok = true;
        match self.shaped(
            key,
            v,
            "an array of \"ip:port\" strings or one comma-separated string",
        )? {
            TextOrList::Text(s) => {
                if !s.trim().is_empty() {
                    for (i, part) in s.split(',').enumerate() {
                        let part = part.trim();
                        if part.is_empty() {
                            self.p.at(
                                &v.span(),
                                key,
                                format!("empty entry #{} in the comma-separated list {s:?}", i + 1),
                            );
                            ok = false;
                        } else {
                            items.push((key.to_owned(), part, v.span()));
                        }
                    }
                }
            }
            TextOrList::List(list) => {
                for (i, item) in list.iter().enumerate() {
                    let name = format!("{key}[{i}]");
                    match &item.get_ref().0 {
                        Ok(Text(s)) => items.push((name, s.trim(), item.span())),
                        Err(found) => {
                            self.wrong_type(&name, &item.span(), found, "a string \"ip:port\"");
                            ok = false;
                        }
                    }
                }
            }
        }
        let mut out: Vec<SocketAddr> = Vec::with_capacity(items.len());
        let mut seen: HashSet<SocketAddr> = HashSet::with_capacity(items.len());
        for (name, text, span) in items {
            match parse_collector(text) {
                Ok(addr) if !seen.insert(addr) => {
                    self.p.at(&span, &name, format!("{addr} is listed twice"));
                    ok = false;
                }
                Ok(addr) => out.push(addr),
                Err(why) => {
                    self.p.at(&span, &name, why);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// The source's colon-separated field list (also accepted: an array of names).
    fn dns_format(&mut self, key: &str, v: &Value<TextOrList>) -> Option<Vec<DnsLogField>> {
        let names: Vec<String> = match self.shaped(
            key,
            v,
            "a colon-separated list of fields (e.g. \"ts:host:rdata\")",
        )? {
            TextOrList::Text(s) => s.split(':').map(|n| n.trim().to_owned()).collect(),
            TextOrList::List(items) => self.elements(key, items, "a string")?,
        };
        if names.iter().all(String::is_empty) {
            self.p.at(&v.span(), key, "the list of fields is empty");
            return None;
        }
        let list = NamedList {
            all: &DnsLogField::ALL,
            name: DnsLogField::name,
            noun: "field",
            separator: "colons",
        };
        self.named(key, &v.span(), &names, &list)
    }

    /// Protocols by name, comma-separated (the source's form) or an array; empty = none.
    fn meta_raw(&mut self, key: &str, v: &Value<TextOrList>) -> Option<Vec<MetaRawProtocol>> {
        let names: Vec<String> = match self.shaped(
            key,
            v,
            "an array of protocol names (e.g. [\"sip\", \"ftp\"]) or one comma-separated string",
        )? {
            TextOrList::Text(s) if s.trim().is_empty() => Vec::new(),
            TextOrList::Text(s) => s.split(',').map(|n| n.trim().to_owned()).collect(),
            TextOrList::List(items) => self.elements(key, items, "a string")?,
        };
        let list = NamedList {
            all: &MetaRawProtocol::ALL,
            name: MetaRawProtocol::name,
            noun: "protocol",
            separator: "commas",
        };
        self.named(key, &v.span(), &names, &list)
    }

    /// The items of `list` that `names` name, each at most once; every unknown, empty or
    /// repeated name is reported (with the closest valid one and the valid ones).
    fn named<T: Copy + PartialEq>(
        &mut self,
        key: &str,
        span: &Range<usize>,
        names: &[String],
        list: &NamedList<'_, T>,
    ) -> Option<Vec<T>> {
        let (all, name_of, noun) = (list.all, list.name, list.noun);
        let valid: Vec<&str> = all.iter().map(name_of).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for name in names {
            match all.iter().copied().find(|t| name_of(t) == name) {
                Some(t) if out.contains(&t) => {
                    self.p
                        .at(span, key, format!("{noun} `{name}` is listed twice"));
                    ok = false;
                }
                Some(t) => out.push(t),
                None => {
                    let mut why = if name.is_empty() {
                        format!("empty {noun} name (two {} in a row?)", list.separator)
                    } else {
                        format!("unknown {noun} `{name}`")
                    };
                    if let Some(near) = closest(name, &valid).filter(|_| !name.is_empty()) {
                        why.push_str(&format!(" (did you mean `{near}`?)"));
                    }
                    why.push_str(&format!("; valid {noun}s: {}", valid.join(", ")));
                    self.p.at(span, key, why);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

/// What [`Check::named`] reads a list of: the valid items and their names.
struct NamedList<'a, T> {
    all: &'a [T],
    name: fn(&T) -> &'static str,
    /// An item, in messages (`field`, `protocol`).
    noun: &'a str,
    /// What separates the names in the one-string form, in messages (`colons`).
    separator: &'a str,
}

/// A collector: `ip:port` / `[ipv6]:port`, port not 0.
fn parse_collector(text: &str) -> Result<SocketAddr, String> {
    let addr = parse_addr(text, COLLECTOR_EXAMPLE)?;
    if addr.port() == 0 {
        return Err(format!("`{text}`: port 0 is not a collector port"));
    }
    Ok(addr)
}

/// `ip:port` / `[ipv6]:port`, with a hint for the usual mistakes; `example` says what
/// was expected.
/// `"100-199,300"`: VLAN ids (1..=4094) and inclusive ranges, comma-separated.
fn vlan_ranges(text: &str) -> Result<Vec<(u16, u16)>, String> {
    let id = |s: &str| -> Result<u16, String> {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|v| (1..=4094).contains(v))
            .ok_or_else(|| format!("{:?} is not a VLAN id (1..=4094)", s.trim()))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        if part.trim().is_empty() {
            return Err(format!(
                "{text:?}: an empty item (expected e.g. \"100-199,300\")"
            ));
        }
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (id(a)?, id(b)?),
            None => (id(part)?, id(part)?),
        };
        if lo > hi {
            return Err(format!(
                "the range {lo}-{hi} is empty (write the lower id first)"
            ));
        }
        out.push((lo, hi));
    }
    Ok(out)
}

fn parse_addr(text: &str, example: &str) -> Result<SocketAddr, String> {
    let base = format!("`{text}` is not ip:port ({example})");
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let hint = if text.matches(':').count() > 1 && !text.starts_with('[') {
        "; write an IPv6 collector in brackets: [addr]:port"
    } else if text.parse::<IpAddr>().is_ok() {
        "; the port is missing"
    } else if let Some((host, port)) = text.rsplit_once(':') {
        if port.parse::<u16>().is_err() {
            "; the port must be a number in 1..=65535"
        } else if host.chars().any(|c| c.is_ascii_alphabetic()) && !host.starts_with('[') {
            "; host names are not resolved: give an IP address"
        } else {
            ""
        }
    } else {
        ""
    };
    Err(format!("{base}{hint}"))
}

/// `"1048576"`, `"64K"`, `"64M"`, `"1G"`, `"64 MiB"` (binary units, case-insensitive).
pub(crate) fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at_checked(split)?;
    if digits.is_empty() {
        return None;
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return None,
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift).filter(|&v| v <= i64::MAX as u64)
}
