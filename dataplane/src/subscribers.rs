//! The subscriber map: which login an address on the subscriber side belongs
//! to (spec §3 LOGIN), by longest prefix.
//!
//! Built on the main lcore from the text of the map file ([`SubscriberMap::parse`]),
//! published to the workers through [`SubscriberHandle`] (an atomic swap: a
//! worker sees the old map or the new one, never a mix). A worker looks a
//! flow's login up once, when the flow is new or the map's generation changed,
//! and keeps a [`FlowLogin`] (an index into the map's interned logins) in the
//! flow entry; records borrow the login's bytes from the map.
//!
//! File format, one mapping per line:
//!
//! ```text
//! # comment
//! 10.0.0.0/24      office
//! 10.0.0.3         alice          # a host: /32 (or /128)
//! 2001:db8:1::/48  bob
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

use crate::table::{Handle, Table};
pub use crate::table::{LineError, handle, publish};

/// Where workers find the current map; the main lcore stores a new one.
pub type SubscriberHandle = Handle<SubscriberMap>;

/// Longest login kept (octets); longer logins are an error in the file.
pub const LOGIN_MAX: usize = 255;

/// A flow's login: the map generation it was looked up in and the index of
/// the login in that map's table (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowLogin {
    generation: u32,
    id: u32,
}

/// Prefixes of one length, sorted by their (masked) address, with the login index.
#[derive(Debug, Default)]
struct Level<A> {
    len: u8,
    entries: Vec<(A, u32)>,
}

/// An immutable subscriber map (rebuilt whole on reload).
#[derive(Debug)]
pub struct SubscriberMap {
    /// Distinct from every other map's (flows looked up in another map look again).
    generation: u32,
    /// Interned logins; index 0 is the empty login.
    logins: Vec<Box<[u8]>>,
    /// Longest prefix first.
    v4: Vec<Level<u32>>,
    v6: Vec<Level<u128>>,
}

impl SubscriberMap {
    /// A map with no entries (every lookup finds no login).
    pub fn empty(generation: u32) -> SubscriberMap {
        SubscriberMap {
            generation: generation.max(1),
            logins: vec![Box::default()],
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }

    /// The map of a file's text. `generation` must differ from the previous
    /// map's (0 is reserved for "not looked up").
    pub fn parse(text: &str, generation: u32) -> Result<SubscriberMap, LineError> {
        let mut map = SubscriberMap::empty(generation);
        let mut interned: HashMap<&str, u32> = HashMap::new();
        let mut v4: HashMap<(u8, u32), u32> = HashMap::new();
        let mut v6: HashMap<(u8, u128), u32> = HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let err = |reason| LineError {
                line: n + 1,
                reason,
            };
            let line = raw.split_once('#').map_or(raw, |(l, _)| l);
            let mut words = line.split_whitespace();
            let Some(prefix) = words.next() else {
                continue;
            };
            let login = words.next().ok_or(err("a prefix without a login"))?;
            if words.next().is_some() {
                return Err(err("more than two fields (PREFIX LOGIN)"));
            }
            if login.len() > LOGIN_MAX {
                return Err(err("login longer than 255 octets"));
            }
            let (addr, len) = parse_prefix(prefix).map_err(err)?;
            let next = u32::try_from(map.logins.len()).map_err(|_| err("too many logins"))?;
            let id = *interned.entry(login).or_insert_with(|| {
                map.logins.push(login.as_bytes().into());
                next
            });
            let dup = match addr {
                IpAddr::V4(a) => v4.insert((len, mask4(a.to_bits(), len)), id),
                IpAddr::V6(a) => v6.insert((len, mask6(a.to_bits(), len)), id),
            };
            if dup.is_some() {
                return Err(err("the same prefix twice"));
            }
        }
        map.v4 = levels(v4);
        map.v6 = levels(v6);
        Ok(map)
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Prefixes in the map.
    pub fn len(&self) -> usize {
        let v4: usize = self.v4.iter().map(|l| l.entries.len()).sum();
        let v6: usize = self.v6.iter().map(|l| l.entries.len()).sum();
        v4 + v6
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The login of the longest prefix holding `addr` (empty: none).
    pub fn lookup(&self, addr: IpAddr) -> &[u8] {
        self.login(self.find(addr))
    }

    /// The flow's login in this map: looked up again only when `slot` was
    /// filled from another map. Returns the login's octets (empty: none).
    #[inline]
    pub fn refresh(&self, slot: &mut FlowLogin, addr: IpAddr) -> &[u8] {
        *slot = self.current(*slot, addr);
        self.login(slot.id)
    }

    /// The login of a flow's `slot`, looked up (without keeping it) when the
    /// slot is from another map.
    pub fn login_of(&self, slot: FlowLogin, addr: IpAddr) -> &[u8] {
        self.login(self.current(slot, addr).id)
    }

    #[inline]
    fn current(&self, slot: FlowLogin, addr: IpAddr) -> FlowLogin {
        if slot.generation == self.generation {
            return slot;
        }
        FlowLogin {
            generation: self.generation,
            id: self.find(addr),
        }
    }

    fn login(&self, id: u32) -> &[u8] {
        self.logins.get(id as usize).map_or(&[][..], |l| l.as_ref())
    }

    fn find(&self, addr: IpAddr) -> u32 {
        match addr {
            IpAddr::V4(a) => find(&self.v4, a.to_bits(), mask4),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a4) => find(&self.v4, a4.to_bits(), mask4),
                None => find(&self.v6, a.to_bits(), mask6),
            },
        }
    }
}

impl Table for SubscriberMap {
    const NAME: &'static str = "subscribers";
    const ALERT: &'static str = "SUBSCRIBERS";
    const KIND: &'static str = "map";
    const KEY: &'static str = "subscribers_file";
    const ENTRIES: &'static str = "prefixes";

    fn empty(generation: u32) -> Self {
        SubscriberMap::empty(generation)
    }

    fn parse(text: &str, generation: u32) -> Result<Self, LineError> {
        SubscriberMap::parse(text, generation)
    }

    fn entries(&self) -> usize {
        self.len()
    }
}

fn find<A: Ord + Copy>(levels: &[Level<A>], addr: A, mask: fn(A, u8) -> A) -> u32 {
    for level in levels {
        let key = mask(addr, level.len);
        if let Ok(i) = level.entries.binary_search_by(|e| e.0.cmp(&key))
            && let Some(e) = level.entries.get(i)
        {
            return e.1;
        }
    }
    0
}

fn levels<A: Ord + Copy>(entries: HashMap<(u8, A), u32>) -> Vec<Level<A>> {
    let mut levels: Vec<Level<A>> = Vec::new();
    let mut all: Vec<_> = entries.into_iter().collect();
    // Longest prefix first, then by address.
    all.sort_by(|a, b| b.0.0.cmp(&a.0.0).then(a.0.1.cmp(&b.0.1)));
    for ((len, addr), id) in all {
        match levels.last_mut() {
            Some(l) if l.len == len => l.entries.push((addr, id)),
            _ => levels.push(Level {
                len,
                entries: vec![(addr, id)],
            }),
        }
    }
    levels
}

fn mask4(a: u32, len: u8) -> u32 {
    a & u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask6(a: u128, len: u8) -> u128 {
    a & u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// `ADDR` or `ADDR/LEN`.
fn parse_prefix(s: &str) -> Result<(IpAddr, u8), &'static str> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| "not an IPv4 or IPv6 address or prefix")?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or("prefix length out of range")?,
    };
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const MAP: &str = "\
# the office, and one of its hosts
10.0.0.0/8      office
10.1.0.0/16     branch   # a comment after a mapping
10.1.2.3        alice

2001:db8::/32   isp6
2001:db8:1::/48 bob
2001:db8:1:2::/64 carol
";

    #[test]
    fn the_longest_prefix_wins_v4_and_v6() {
        let m = SubscriberMap::parse(MAP, 1).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m.lookup(ip("10.1.2.3")), b"alice");
        assert_eq!(m.lookup(ip("10.1.2.4")), b"branch");
        assert_eq!(m.lookup(ip("10.9.9.9")), b"office");
        assert_eq!(m.lookup(ip("11.0.0.1")), b"");
        assert_eq!(m.lookup(ip("2001:db8:1:2::99")), b"carol");
        assert_eq!(m.lookup(ip("2001:db8:1:3::1")), b"bob");
        assert_eq!(m.lookup(ip("2001:db8:ffff::1")), b"isp6");
        assert_eq!(m.lookup(ip("2001:db9::1")), b"");
        assert_eq!(m.lookup(ip("::ffff:10.1.2.3")), b"alice");
    }

    #[test]
    fn logins_are_interned() {
        let m = SubscriberMap::parse("10.0.0.1 a\n10.0.0.2 a\n10.0.0.3 b\n", 1).unwrap();
        assert_eq!(m.logins.len(), 3, "empty, a, b");
    }

    #[test]
    fn a_flow_looks_up_again_only_in_another_generation() {
        let old = SubscriberMap::parse("10.0.0.0/8 old", 1).unwrap();
        let new = SubscriberMap::parse("10.0.0.0/8 new", 2).unwrap();
        let mut slot = FlowLogin::default();
        assert_eq!(old.refresh(&mut slot, ip("10.0.0.1")), b"old");
        // The same generation does not look up: the address is not read again.
        assert_eq!(old.refresh(&mut slot, ip("192.0.2.1")), b"old");
        assert_eq!(new.refresh(&mut slot, ip("10.0.0.1")), b"new");
    }

    #[test]
    fn bad_lines_name_their_number_and_reason() {
        let cases = [
            ("10.0.0.1\n", 1, "a prefix without a login"),
            (
                "# ok\n10.0.0.1 a b\n",
                2,
                "more than two fields (PREFIX LOGIN)",
            ),
            (
                "\n\nnot-an-ip a\n",
                3,
                "not an IPv4 or IPv6 address or prefix",
            ),
            ("10.0.0.0/33 a\n", 1, "prefix length out of range"),
            ("::/129 a\n", 1, "prefix length out of range"),
            ("10.0.0.0/8 a\n10.0.0.0/8 b\n", 2, "the same prefix twice"),
        ];
        for (text, line, reason) in cases {
            assert_eq!(
                SubscriberMap::parse(text, 1).unwrap_err(),
                LineError { line, reason },
                "{text:?}"
            );
        }
        let long = format!("10.0.0.1 {}", "x".repeat(LOGIN_MAX + 1));
        assert_eq!(
            SubscriberMap::parse(&long, 1).unwrap_err().reason,
            "login longer than 255 octets"
        );
    }

    #[test]
    fn host_bits_of_a_prefix_are_ignored() {
        let m = SubscriberMap::parse("10.0.0.77/24 net\n::1/0 any6\n0.0.0.0/0 any", 1).unwrap();
        assert_eq!(m.lookup(ip("10.0.0.1")), b"net");
        assert_eq!(m.lookup(ip("192.0.2.1")), b"any");
        assert_eq!(m.lookup(ip("fe80::1")), b"any6");
    }
}
