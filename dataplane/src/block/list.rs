//! The block list: which hosts (and paths) are not let through (spec §4 LOCKED).
//!
//! File format, one pattern per line:
//!
//! ```text
//! # comment
//! example.com          # this host
//! *.example.org        # this host and every name under it
//! example.net/news/    # this host, requests whose path starts with /news/
//! ```
//!
//! Matching hashes label suffixes: `a.b.example.org` is looked up as itself,
//! then `b.example.org`, `example.org`, `org` — one hash probe per label, no
//! scan of the list and no allocation (the name is lowercased into a stack
//! buffer). A pattern with a path can only match where the path is known
//! (HTTP); server names (TLS, QUIC) match patterns without one.

use std::collections::HashMap;

use crate::table::{LineError, Table};

/// Longest host name (RFC 1035 §2.3.4); longer names never match.
pub const HOST_MAX: usize = 253;

/// What is blocked under one host name.
#[derive(Debug, Default)]
struct Rules {
    /// The name itself, whatever the path.
    host: bool,
    /// The name and every name under it.
    subdomains: bool,
    /// Path prefixes of the name itself.
    paths: Vec<Box<[u8]>>,
}

/// An immutable block list (rebuilt whole on reload).
#[derive(Debug, Default)]
pub struct BlockList {
    /// Lowercase host name → its rules.
    hosts: HashMap<Box<[u8]>, Rules>,
    patterns: usize,
}

impl BlockList {
    /// True when a request to `host` (a Host header or a server name: any
    /// case, maybe with a `:port` or a final dot) for `path` (`None`: not
    /// known) is blocked.
    pub fn matches(&self, host: &[u8], path: Option<&[u8]>) -> bool {
        if self.is_empty() {
            return false;
        }
        let mut buf = [0u8; HOST_MAX];
        let Some(name) = normalize(host, &mut buf) else {
            return false;
        };
        let mut suffix = name;
        let mut whole = true;
        loop {
            if let Some(r) = self.hosts.get(suffix) {
                if r.subdomains || (whole && r.host) {
                    return true;
                }
                if whole
                    && let Some(path) = path
                    && r.paths.iter().any(|p| path.starts_with(p))
                {
                    return true;
                }
            }
            let Some(dot) = suffix.iter().position(|&b| b == b'.') else {
                return false;
            };
            suffix = suffix.get(dot + 1..).unwrap_or(&[]);
            whole = false;
        }
    }

    /// No pattern: nothing can be blocked.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }
}

/// `host` lowercased into `buf`, without a `:port` (not in a bracketed IPv6
/// literal) or a final dot; `None` when empty or too long.
fn normalize<'b>(host: &[u8], buf: &'b mut [u8; HOST_MAX]) -> Option<&'b [u8]> {
    let host = match host.first() {
        Some(b'[') => host,
        _ => host
            .iter()
            .rposition(|&b| b == b':')
            .and_then(|i| host.get(..i))
            .unwrap_or(host),
    };
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() || host.len() > HOST_MAX {
        return None;
    }
    let out = buf.get_mut(..host.len())?;
    for (o, &b) in out.iter_mut().zip(host) {
        *o = b.to_ascii_lowercase();
    }
    Some(out)
}

impl Table for BlockList {
    const NAME: &'static str = "block list";
    const ALERT: &'static str = "BLOCK";
    const KIND: &'static str = "list";
    const KEY: &'static str = "block_list";
    const ENTRIES: &'static str = "patterns";

    fn empty(_generation: u32) -> Self {
        BlockList::default()
    }

    /// Generations do not matter here: flows keep no lookup of the list.
    fn parse(text: &str, _generation: u32) -> Result<Self, LineError> {
        let mut list = BlockList::default();
        for (n, raw) in text.lines().enumerate() {
            let err = |reason| LineError {
                line: n + 1,
                reason,
            };
            let line = raw.split_once('#').map_or(raw, |(l, _)| l).trim();
            if line.is_empty() {
                continue;
            }
            if line.split_whitespace().nth(1).is_some() {
                return Err(err("more than one pattern on the line"));
            }
            if line.contains("://") {
                return Err(err("a URL: write the host (and path) without the scheme"));
            }
            let (host, path) = match line.find('/') {
                Some(i) => line.split_at(i),
                None => (line, ""),
            };
            let (subdomains, host) = match host.strip_prefix("*.") {
                Some(h) => (true, h),
                None => (false, host),
            };
            let host = host.strip_suffix('.').unwrap_or(host);
            if host.is_empty() {
                return Err(err("no host"));
            }
            if host.len() > HOST_MAX {
                return Err(err("host longer than 253 octets"));
            }
            if !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            {
                return Err(err(
                    "a host may hold letters, digits, '-', '_' and '.' (a '*.' only in front)",
                ));
            }
            if subdomains && !path.is_empty() {
                return Err(err(
                    "a path after '*.': list each host with a path on its own",
                ));
            }
            let rules = list
                .hosts
                .entry(host.to_ascii_lowercase().into_bytes().into())
                .or_default();
            match (subdomains, path) {
                (true, _) => rules.subdomains = true,
                (false, "" | "/") => rules.host = true,
                (false, path) => rules.paths.push(path.as_bytes().into()),
            }
            list.patterns += 1;
        }
        Ok(list)
    }

    fn entries(&self) -> usize {
        self.patterns
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any file text parses or names a line; any name and path match or
        /// not, without a panic; a listed name always matches itself.
        #[test]
        fn any_text_and_any_name_are_safe(text in ".{0,200}", host in proptest::collection::vec(any::<u8>(), 0..300), path in proptest::collection::vec(any::<u8>(), 0..50)) {
            if let Ok(l) = BlockList::parse(&text, 1) {
                l.matches(&host, Some(&path));
                l.matches(&host, None);
            }
            let l = list();
            l.matches(&host, Some(&path));
        }

        #[test]
        fn a_listed_name_matches_itself(name in "[a-z0-9-]{1,20}(\\.[a-z0-9-]{1,20}){0,4}") {
            let l = BlockList::parse(&format!("{name}\n"), 1).unwrap();
            prop_assert!(l.matches(name.to_uppercase().as_bytes(), None));
            let wild = BlockList::parse(&format!("*.{name}\n"), 1).unwrap();
            let under = format!("x.{name}");
            prop_assert!(wild.matches(under.as_bytes(), None));
        }
    }

    const LIST: &str = "\
# the registry
Example.com
*.tracker.example.org   # and every name under it
news.example.net/politics/

";

    fn list() -> BlockList {
        BlockList::parse(LIST, 1).unwrap()
    }

    #[test]
    fn a_host_matches_itself_in_any_case_with_a_port_or_a_final_dot() {
        let l = list();
        assert_eq!(l.entries(), 3);
        for host in [
            "example.com",
            "EXAMPLE.com",
            "example.com:8080",
            "example.com.",
        ] {
            assert!(l.matches(host.as_bytes(), Some(b"/")), "{host}");
        }
        assert!(l.matches(b"example.com", None), "a server name");
        assert!(
            !l.matches(b"www.example.com", Some(b"/")),
            "not its subdomains"
        );
        assert!(!l.matches(b"example.co", Some(b"/")));
        assert!(!l.matches(b"notexample.com", Some(b"/")));
    }

    #[test]
    fn a_star_matches_the_host_and_every_name_under_it() {
        let l = list();
        for host in ["tracker.example.org", "a.b.tracker.example.org"] {
            assert!(l.matches(host.as_bytes(), None), "{host}");
        }
        assert!(!l.matches(b"example.org", None));
        assert!(!l.matches(b"xtracker.example.org", None));
    }

    #[test]
    fn a_path_pattern_needs_the_path() {
        let l = list();
        assert!(l.matches(b"news.example.net", Some(b"/politics/today")));
        assert!(!l.matches(b"news.example.net", Some(b"/sports/")));
        assert!(
            !l.matches(b"news.example.net", None),
            "a server name has no path"
        );
        assert!(!l.matches(b"x.news.example.net", Some(b"/politics/")));
    }

    #[test]
    fn odd_names_never_match_nor_panic() {
        let l = list();
        for host in [
            &b""[..],
            b".",
            b":",
            b"[::1]:80",
            &[b'a'; 400],
            b"..example.com",
            &[0xff; 3],
        ] {
            assert!(!l.matches(host, Some(b"/")));
        }
        assert!(!BlockList::default().matches(b"example.com", None));
    }

    #[test]
    fn bad_lines_are_refused_with_their_number() {
        for (text, line) in [
            ("ok.example\nhttp://example.com/\n", 2),
            ("a.example b.example\n", 1),
            ("\n\n*.\n", 3),
            ("exa mple\n", 1),
            ("ex*ample.com\n", 1),
            ("*.example.com/path\n", 1),
            ("/path-only\n", 1),
        ] {
            assert_eq!(
                BlockList::parse(text, 1).unwrap_err().line,
                line,
                "{text:?}"
            );
        }
    }
}
