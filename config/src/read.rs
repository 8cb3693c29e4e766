//! Reading a TOML document into a [`Config`], with every value's span at hand.
//!
//! We walk `toml::de::DeTable` (the parser's own tree, which keeps a span for every key,
//! value and array element) instead of deriving `Deserialize`: that way each message can
//! name the key, the element (`bridges[1]`, `ipfix_udp_collectors[2]`) and its own line,
//! accept the source product's spellings (`0`/`1` booleans, comma-separated collector
//! strings, `"64M"` sizes) and report every problem of a file rather than the first.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{Problems, closest};
use crate::{Bridge, Config, ConfigError, DnsLogField, KEYS};

type Value<'i> = Spanned<DeValue<'i>>;

const COLLECTOR_EXAMPLE: &str = "expected e.g. 192.0.2.10:4739 or [2001:db8::1]:4739";

pub(crate) fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let root = DeTable::parse(text).map_err(|e| ConfigError::syntax(origin, text, &e))?;
    let mut r = Reader {
        p: Problems::new(text),
    };
    let mut cfg = Config::with_bridges(Vec::new());
    let mut have_bridges = false;

    for (key, value) in root.get_ref().iter() {
        let name: &str = key.get_ref();
        let c = &mut cfg;
        match name {
            "eal_args" => r.strings(name, value).map(|v| c.eal_args = v),
            "bridges" => {
                have_bridges = true;
                r.bridges(name, value).map(|v| c.bridges = v)
            }
            "log_dir" => r.path(name, value, false).map(|v| c.log_dir = v),
            "stats_interval" => r
                .uint(name, value, "seconds", 0..=i64::MAX as u64)
                .map(|v| c.stats_interval = v),
            "rx_descriptors" => r.descriptors(name, value).map(|v| c.rx_descriptors = v),
            "tx_descriptors" => r.descriptors(name, value).map(|v| c.tx_descriptors = v),
            "queues_per_port" => r.queues(name, value).map(|v| c.queues_per_port = v),
            "flow_table_size" => r
                .uint(name, value, "entries", 1024..=(1 << 30))
                .map(|v| c.flow_table_size = v),
            "flow_tcp_timeout" => r
                .uint(name, value, "seconds", 1..=86_400)
                .map(|v| c.flow_tcp_timeout = v),
            "flow_tcp_closed_timeout" => r
                .uint(name, value, "seconds", 1..=86_400)
                .map(|v| c.flow_tcp_closed_timeout = v),
            "flow_udp_timeout" => r
                .uint(name, value, "seconds", 1..=86_400)
                .map(|v| c.flow_udp_timeout = v),
            "flow_other_timeout" => r
                .uint(name, value, "seconds", 1..=86_400)
                .map(|v| c.flow_other_timeout = v),
            "ipfix_dev" => r.device(name, value).map(|v| c.ipfix_dev = v),
            "ipfix_udp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_udp_collectors = v),
            "ipfix_tcp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_tcp_collectors = v),
            "ipfix_meta_udp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_meta_udp_collectors = v),
            "ipfix_meta_tcp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_meta_tcp_collectors = v),
            "ipfix_dns_udp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_dns_udp_collectors = v),
            "ipfix_dns_tcp_collectors" => r
                .collectors(name, value)
                .map(|v| c.ipfix_dns_tcp_collectors = v),
            "ipfix_udp_template_timer" => r
                .uint(name, value, "seconds", 1..=u64::from(u32::MAX))
                .map(|v| c.ipfix_udp_template_timer = v),
            "ipfix_mtu" => r
                .uint(name, value, "octets", 576..=9216)
                .map(|v| c.ipfix_mtu = v),
            "ipfix_domain_id" => r
                .uint(name, value, "an id", 0..=u64::from(u32::MAX))
                .map(|v| c.ipfix_domain_id = v),
            "netflow_timeout" => r
                .uint(name, value, "seconds", 1..=u64::from(u32::MAX))
                .map(|v| c.netflow_timeout = v),
            "http_parse_reply" => r.flag(name, value).map(|v| c.http_parse_reply = v),
            "ssl_parse_reply" => r.flag(name, value).map(|v| c.ssl_parse_reply = v),
            "dbg_log_mask" => r.mask(name, value).map(|v| c.dbg_log_mask = v),
            "ajb_save_dns" => r.flag(name, value).map(|v| c.ajb_save_dns = v),
            "ajb_dns_path" => r.path(name, value, true).map(|v| c.ajb_dns_path = v),
            "ajb_save_dns_format" => r.dns_format(name, value).map(|v| c.ajb_save_dns_format = v),
            "ajb_dns_bufsize" => r.size(name, value).map(|v| c.ajb_dns_bufsize = v),
            "ajb_dns_fsize" => r.size(name, value).map(|v| c.ajb_dns_fsize = v),
            "ajb_dns_ftimeout" => r
                .uint(name, value, "minutes", 0..=i64::MAX as u64)
                .map(|v| c.ajb_dns_ftimeout = v),
            _ => {
                r.unknown_key(name, key.span(), value);
                None
            }
        };
    }
    if !have_bridges {
        r.p.whole(
            "missing required key `bridges` (the port pairs to forward, \
             subscriber port first, e.g. bridges = [[0, 1]])"
                .to_owned(),
        );
    }
    r.p.finish(origin)?;
    Ok(cfg)
}

struct Reader<'a> {
    p: Problems<'a>,
}

/// A short description of a TOML value for "found …" messages.
struct Found<'v, 'i>(&'v DeValue<'i>);

impl fmt::Display for Found<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            DeValue::String(s) => write!(f, "the string {:?}", s.as_ref()),
            DeValue::Integer(i) => write!(f, "the integer {i}"),
            DeValue::Float(x) => write!(f, "the float {x}"),
            DeValue::Boolean(b) => write!(f, "`{b}`"),
            DeValue::Datetime(d) => write!(f, "the date-time {d}"),
            DeValue::Array(_) => f.write_str("an array"),
            DeValue::Table(_) => f.write_str("a table"),
        }
    }
}

/// The integer value of a TOML integer (underscores and radix already handled by the
/// parser), as i128 so that no range check can overflow.
fn integer(v: &DeValue<'_>) -> Option<i128> {
    let i = v.as_integer()?;
    i128::from_str_radix(i.as_str(), i.radix()).ok()
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

impl Reader<'_> {
    fn unknown_key(&mut self, name: &str, span: Range<usize>, value: &Value<'_>) {
        let mut text = format!("unknown key `{name}`");
        if let Some(near) = closest(name, KEYS) {
            text.push_str(&format!(" (did you mean `{near}`?)"));
        } else if value.get_ref().is_table() {
            text.push_str(" (there are no sections: every key is at the top level)");
        } else {
            text.push_str(" (docs/configuration.md lists every key)");
        }
        self.p.raw_at(&span, text);
    }

    fn wrong_type(&mut self, key: &str, v: &Value<'_>, expected: &str) {
        let mut why = format!("expected {expected}, found {}", Found(v.get_ref()));
        if let DeValue::String(s) = v.get_ref()
            && integer_in_string(s).is_some()
            && expected.contains("integer")
        {
            why.push_str(" (write numbers without quotes)");
        }
        self.p.at(&v.span(), key, why);
    }

    /// An integer in `range`, converted to `T` (the range must fit `T`).
    fn uint<T: TryFrom<u64>>(
        &mut self,
        key: &str,
        v: &Value<'_>,
        unit: &str,
        range: RangeInclusive<u64>,
    ) -> Option<T> {
        let Some(n) = integer(v.get_ref()) else {
            self.wrong_type(key, v, &format!("an integer ({unit})"));
            return None;
        };
        let ok = u64::try_from(n).ok().filter(|n| range.contains(n));
        match ok.and_then(|n| T::try_from(n).ok()) {
            Some(t) => Some(t),
            None => {
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
        }
    }

    fn descriptors(&mut self, key: &str, v: &Value<'_>) -> Option<u16> {
        let Some(n) = integer(v.get_ref()) else {
            self.wrong_type(key, v, "an integer (descriptors per queue)");
            return None;
        };
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

    fn queues(&mut self, key: &str, v: &Value<'_>) -> Option<u16> {
        let Some(n) = integer(v.get_ref()) else {
            self.wrong_type(key, v, "an integer (queues per port, 0 = automatic)");
            return None;
        };
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

    /// `0`, `1`, `true` or `false`: the source writes 0/1.
    fn flag(&mut self, key: &str, v: &Value<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => match integer(other) {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => {
                    let mut why = format!("expected 0, 1, true or false, found {}", Found(other));
                    if let DeValue::String(s) = other
                        && matches!(s.trim(), "0" | "1" | "true" | "false")
                    {
                        why.push_str(" (write it without quotes)");
                    }
                    self.p.at(&v.span(), key, why);
                    None
                }
            },
        }
    }

    /// An integer, or a string holding one (`"0x80"`).
    fn mask(&mut self, key: &str, v: &Value<'_>) -> Option<u32> {
        let n = match v.get_ref() {
            DeValue::String(s) => match integer_in_string(s) {
                Some(n) => i128::from(n),
                None => {
                    self.p.at(
                        &v.span(),
                        key,
                        format!(
                            "{:?} is not a number (expected e.g. 0x80 or 128)",
                            s.as_ref()
                        ),
                    );
                    return None;
                }
            },
            other => match integer(other) {
                Some(n) => n,
                None => {
                    self.wrong_type(key, v, "an integer bit mask (e.g. 0x80)");
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
    fn size(&mut self, key: &str, v: &Value<'_>) -> Option<u64> {
        let n = match v.get_ref() {
            DeValue::String(s) => match parse_size(s) {
                Some(n) => n,
                None => {
                    self.p.at(
                        &v.span(),
                        key,
                        format!(
                            "{:?} is not a size (expected bytes, or a number with K, M or G, e.g. \"64M\")",
                            s.as_ref()
                        ),
                    );
                    return None;
                }
            },
            other => match integer(other).map(u64::try_from) {
                Some(Ok(n)) => n,
                Some(Err(_)) => {
                    self.p
                        .at(&v.span(), key, "a size cannot be negative".to_owned());
                    return None;
                }
                None => {
                    self.wrong_type(key, v, "a size (bytes, or a string such as \"64M\")");
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

    fn path(&mut self, key: &str, v: &Value<'_>, file: bool) -> Option<PathBuf> {
        let Some(s) = v.get_ref().as_str() else {
            self.wrong_type(key, v, "a path (a string)");
            return None;
        };
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
    fn device(&mut self, key: &str, v: &Value<'_>) -> Option<String> {
        let Some(s) = v.get_ref().as_str() else {
            self.wrong_type(key, v, "a network interface name (a string)");
            return None;
        };
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
        Some(s.to_owned())
    }

    fn strings(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<String>> {
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(
                key,
                v,
                "an array of strings (e.g. [\"-l\", \"0-1\", \"--no-huge\"])",
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item.get_ref().as_str() {
                Some(s) => out.push(s.to_owned()),
                None => {
                    self.wrong_type(&format!("{key}[{i}]"), item, "a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `[[sub, inet], …]` (or `[{ subscriber = 0, internet = 1 }, …]`): non-empty, no
    /// port twice.
    fn bridges(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<Bridge>> {
        const EXAMPLE: &str =
            "an array of port pairs, subscriber port first, e.g. [[0, 1], [2, 3]]";
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(key, v, EXAMPLE);
            return None;
        };
        if items.is_empty() {
            self.p.at(
                &v.span(),
                key,
                "at least one bridge is required (e.g. bridges = [[0, 1]])",
            );
            return None;
        }
        let mut out = Vec::new();
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

    fn bridge(&mut self, name: &str, v: &Value<'_>) -> Option<Bridge> {
        match v.get_ref() {
            DeValue::Array(pair) => {
                let ports: Vec<_> = pair.iter().collect();
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
            DeValue::Table(t) => {
                let mut sub = None;
                let mut inet = None;
                let mut ok = true;
                for (k, val) in t.iter() {
                    match k.get_ref().as_ref() {
                        "subscriber" => sub = self.port(&format!("{name}.subscriber"), val),
                        "internet" => inet = self.port(&format!("{name}.internet"), val),
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
                let missing: Vec<String> = ["subscriber", "internet"]
                    .into_iter()
                    .filter(|k| !t.contains_key(*k))
                    .map(|k| format!("`{k}`"))
                    .collect();
                if !missing.is_empty() {
                    self.p.at(
                        &v.span(),
                        name,
                        format!("missing {}", missing.join(" and ")),
                    );
                    ok = false;
                }
                if !ok {
                    return None;
                }
                Some(Bridge {
                    subscriber: sub?,
                    internet: inet?,
                })
            }
            _ => {
                self.wrong_type(name, v, "a pair [subscriber port, internet port]");
                None
            }
        }
    }

    fn port(&mut self, name: &str, v: &Value<'_>) -> Option<u16> {
        let Some(n) = integer(v.get_ref()) else {
            self.wrong_type(name, v, "a port id (an integer)");
            return None;
        };
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
    /// form); "" = none. No collector twice.
    fn collectors(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<SocketAddr>> {
        // (element name, text, span)
        let mut items: Vec<(String, String, Range<usize>)> = Vec::new();
        let mut ok = true;
        match v.get_ref() {
            DeValue::String(s) => {
                if !s.trim().is_empty() {
                    for (i, part) in s.split(',').enumerate() {
                        let part = part.trim();
                        if part.is_empty() {
                            self.p.at(
                                &v.span(),
                                key,
                                format!(
                                    "empty entry #{} in the comma-separated list {:?}",
                                    i + 1,
                                    s.as_ref()
                                ),
                            );
                            ok = false;
                        } else {
                            items.push((key.to_owned(), part.to_owned(), v.span()));
                        }
                    }
                }
            }
            DeValue::Array(a) => {
                for (i, item) in a.iter().enumerate() {
                    let name = format!("{key}[{i}]");
                    match item.get_ref().as_str() {
                        Some(s) => items.push((name, s.trim().to_owned(), item.span())),
                        None => {
                            self.wrong_type(&name, item, "a string \"ip:port\"");
                            ok = false;
                        }
                    }
                }
            }
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "an array of \"ip:port\" strings or one comma-separated string",
                );
                return None;
            }
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for (name, text, span) in items {
            match parse_collector(&text) {
                Ok(addr) if out.contains(&addr) => {
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
    fn dns_format(&mut self, key: &str, v: &Value<'_>) -> Option<Vec<DnsLogField>> {
        let names: Vec<String> = match v.get_ref() {
            DeValue::String(s) => s.split(':').map(|n| n.trim().to_owned()).collect(),
            DeValue::Array(_) => self.strings(key, v)?,
            _ => {
                self.wrong_type(
                    key,
                    v,
                    "a colon-separated list of fields (e.g. \"ts:host:rdata\")",
                );
                return None;
            }
        };
        if names.iter().all(String::is_empty) {
            self.p.at(&v.span(), key, "the list of fields is empty");
            return None;
        }
        let valid: Vec<&str> = DnsLogField::ALL.iter().map(DnsLogField::name).collect();
        let mut out = Vec::new();
        let mut ok = true;
        for name in &names {
            match DnsLogField::from_name(name) {
                Some(f) if out.contains(&f) => {
                    self.p
                        .at(&v.span(), key, format!("field `{name}` is listed twice"));
                    ok = false;
                }
                Some(f) => out.push(f),
                None => {
                    let mut why = if name.is_empty() {
                        "empty field name (two colons in a row?)".to_owned()
                    } else {
                        format!("unknown field `{name}`")
                    };
                    if let Some(near) = closest(name, &valid).filter(|_| !name.is_empty()) {
                        why.push_str(&format!(" (did you mean `{near}`?)"));
                    }
                    why.push_str(&format!("; valid fields: {}", valid.join(", ")));
                    self.p.at(&v.span(), key, why);
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }
}

/// `ip:port` / `[ipv6]:port`, port not 0, with a hint for the usual mistakes.
fn parse_collector(text: &str) -> Result<SocketAddr, String> {
    let base = format!("`{text}` is not ip:port ({COLLECTOR_EXAMPLE})");
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!("`{text}`: port 0 is not a collector port"));
        }
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
