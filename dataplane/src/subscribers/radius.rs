//! RADIUS accounting (RFC 2866) as the subscriber map reads it: which addresses
//! an Accounting-Request binds to which User-Name, or unbinds.
//!
//! A pure function from a UDP payload to a [`Message`], through the shared
//! cursor. Only what binds a login is read: User-Name (1), Framed-IP-Address
//! (8), Acct-Status-Type (40), Framed-IPv6-Prefix (97, RFC 3162),
//! Delegated-IPv6-Prefix (123, RFC 4818), Framed-IPv6-Address (168, RFC 6911).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use md5::{Digest, Md5};
use metaprobe_ipfix::codec::Reader;

use super::Prefix;

/// The accounting ports: IANA's and the one older NASes still use.
pub const ACCOUNTING_PORTS: [u16; 2] = [1813, 1646];

/// Code of an Accounting-Request and of an Accounting-Response.
pub const ACCOUNTING_REQUEST: u8 = 4;
pub const ACCOUNTING_RESPONSE: u8 = 5;

/// Header: code, identifier, length, authenticator.
pub const HEADER_LEN: usize = 20;
/// The longest packet RFC 2865 §3 allows.
pub const MAX_LEN: usize = 4096;
/// Addresses one request binds at most (one attribute of each kind).
pub const MAX_PREFIXES: usize = 4;
/// Longest User-Name (an attribute's value is at most 253 octets).
pub const USER_NAME_MAX: usize = 253;

/// Acct-Status-Type values that change bindings.
const START: u32 = 1;
const STOP: u32 = 2;
const INTERIM_UPDATE: u32 = 3;

/// A RADIUS packet on an accounting port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message<'a> {
    Request(Request<'a>),
    Response,
}

/// What an Accounting-Request says about its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub status: Status,
    /// User-Name (empty when absent).
    pub user_name: &'a [u8],
    /// The addresses it names, in attribute order.
    pub prefixes: [Option<Prefix>; MAX_PREFIXES],
}

/// Acct-Status-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Start,
    InterimUpdate,
    Stop,
    /// Accounting-On/Off and the tunnel and failure types: no binding changes;
    /// also a request without the attribute.
    Other(Option<u32>),
}

/// Why a packet on an accounting port is not a readable accounting message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than its header, or than its Length field says; or Length out of 20..=4096.
    Length,
    /// Not an Accounting-Request or -Response (e.g. an Access-Request sent to 1813).
    Code(u8),
    /// An attribute whose length runs past the packet or is below 2.
    Attribute,
}

impl Request<'_> {
    /// The addresses it names.
    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.prefixes.iter().flatten().copied()
    }
}

/// Reads a RADIUS accounting message from a UDP payload (octets past its
/// Length field are padding and ignored).
pub fn parse(payload: &[u8]) -> Result<Message<'_>, Malformed> {
    let mut r = Reader::new(payload);
    let code = r.u8().ok_or(Malformed::Length)?;
    let _identifier = r.u8().ok_or(Malformed::Length)?;
    let len = usize::from(r.u16().ok_or(Malformed::Length)?);
    if !(HEADER_LEN..=MAX_LEN).contains(&len) || len > payload.len() {
        return Err(Malformed::Length);
    }
    let _authenticator: &[u8; 16] = r.take_array().ok_or(Malformed::Length)?;
    let mut attrs = r.sub(len - HEADER_LEN).ok_or(Malformed::Length)?;
    match code {
        ACCOUNTING_RESPONSE => return Ok(Message::Response),
        ACCOUNTING_REQUEST => {}
        other => return Err(Malformed::Code(other)),
    }
    let mut req = Request {
        status: Status::Other(None),
        user_name: &[],
        prefixes: [None; MAX_PREFIXES],
    };
    let mut n = 0;
    while attrs.any_left() {
        let kind = attrs.u8().ok_or(Malformed::Attribute)?;
        let alen = usize::from(attrs.u8().ok_or(Malformed::Attribute)?);
        let value = alen
            .checked_sub(2)
            .and_then(|v| attrs.take(v))
            .ok_or(Malformed::Attribute)?;
        let prefix = match kind {
            1 => {
                req.user_name = value;
                None
            }
            40 => {
                if let Ok(v) = <[u8; 4]>::try_from(value) {
                    req.status = match u32::from_be_bytes(v) {
                        START => Status::Start,
                        INTERIM_UPDATE => Status::InterimUpdate,
                        STOP => Status::Stop,
                        other => Status::Other(Some(other)),
                    };
                }
                None
            }
            8 => framed_ipv4(value),
            97 | 123 => ipv6_prefix(value),
            168 => <[u8; 16]>::try_from(value).ok().map(|a| Prefix {
                addr: IpAddr::V6(Ipv6Addr::from(a)),
                len: 128,
            }),
            _ => None,
        };
        if let Some(p) = prefix
            && let Some(slot) = req.prefixes.get_mut(n)
        {
            *slot = Some(p);
            n += 1;
        }
    }
    Ok(Message::Request(req))
}

/// The packet up to its Length field, when that is a whole header.
fn whole(packet: &[u8]) -> Option<&[u8]> {
    let len = usize::from(u16::from_be_bytes([*packet.get(2)?, *packet.get(3)?]));
    packet.get(..len).filter(|p| p.len() >= HEADER_LEN)
}

/// RFC 2866 §3: an Accounting-Request's authenticator is the MD5 of the packet
/// with sixteen zero octets in its place, followed by the shared secret.
pub fn request_authenticator_ok(packet: &[u8], secret: &[u8]) -> bool {
    let Some(p) = whole(packet) else {
        return false;
    };
    let (Some(head), Some(given), Some(attrs)) = (p.get(..4), p.get(4..20), p.get(20..)) else {
        return false;
    };
    let digest = Md5::new()
        .chain_update(head)
        .chain_update([0u8; 16])
        .chain_update(attrs)
        .chain_update(secret)
        .finalize();
    digest.as_slice() == given
}

/// The Accounting-Response to `request` (no attributes): its authenticator
/// is the MD5 of the response with the request's authenticator in its
/// place, followed by the shared secret. None for a packet with no header.
pub fn accounting_response(request: &[u8], secret: &[u8]) -> Option<[u8; HEADER_LEN]> {
    let p = whole(request)?;
    let mut out = [0u8; HEADER_LEN];
    out[0] = ACCOUNTING_RESPONSE;
    out[1] = *p.get(1)?;
    out[2..4].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
    let digest = Md5::new()
        .chain_update(&out[..4])
        .chain_update(p.get(4..20)?)
        .chain_update(secret)
        .finalize();
    out[4..].copy_from_slice(digest.as_slice());
    Some(out)
}

/// Framed-IP-Address; 255.255.255.255 ("the user picks") and
/// 255.255.255.254 ("the NAS picks") name no address.
fn framed_ipv4(value: &[u8]) -> Option<Prefix> {
    let a = Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?);
    if a.octets()[..3] == [255, 255, 255] && a.octets()[3] >= 254 {
        return None;
    }
    Some(Prefix {
        addr: IpAddr::V4(a),
        len: 32,
    })
}

/// Reserved (1), Prefix-Length (1), the prefix's significant octets (0..=16).
fn ipv6_prefix(value: &[u8]) -> Option<Prefix> {
    let mut r = Reader::new(value);
    let _reserved = r.u8()?;
    let len = r.u8().filter(|&l| l <= 128)?;
    let bits = r.rest();
    if bits.len() > 16 || bits.len() * 8 < usize::from(len) {
        return None;
    }
    let mut octets = [0u8; 16];
    octets.get_mut(..bits.len())?.copy_from_slice(bits);
    Some(Prefix {
        addr: IpAddr::V6(Ipv6Addr::from(octets)),
        len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message with `code` and `attrs` (type, value), authenticator zero.
    pub(crate) fn message(code: u8, attrs: &[(u8, &[u8])]) -> Vec<u8> {
        let mut m = vec![code, 7, 0, 0];
        m.extend_from_slice(&[0; 16]);
        for (t, v) in attrs {
            m.push(*t);
            m.push(u8::try_from(v.len() + 2).unwrap());
            m.extend_from_slice(v);
        }
        let len = u16::try_from(m.len()).unwrap().to_be_bytes();
        m[2..4].copy_from_slice(&len);
        m
    }

    fn p(s: &str, len: u8) -> Prefix {
        Prefix {
            addr: s.parse().unwrap(),
            len,
        }
    }

    #[test]
    fn a_start_binds_every_address_kind_to_the_user_name() {
        let m = message(
            ACCOUNTING_REQUEST,
            &[
                (40, &1u32.to_be_bytes()),
                (1, b"alice"),
                (8, &[10, 0, 0, 3]),
                (97, &[0, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]),
                (
                    123,
                    &[0, 56, 0x20, 0x01, 0x0d, 0xb8, 0, 9, 0xab, 0xcd, 0xef],
                ),
                (168, &Ipv6Addr::LOCALHOST.octets()),
                (44, b"session-1"),
            ],
        );
        let Ok(Message::Request(r)) = parse(&m) else {
            panic!("{:?}", parse(&m))
        };
        assert_eq!(r.status, Status::Start);
        assert_eq!(r.user_name, b"alice");
        assert_eq!(
            r.prefixes().collect::<Vec<_>>(),
            vec![
                p("10.0.0.3", 32),
                p("2001:db8:1:2::", 64),
                p("2001:db8:9:abcd:ef00::", 56),
                p("::1", 128),
            ]
        );
    }

    #[test]
    fn an_interim_update_binds_as_a_start() {
        // The corpus's real one (radius_accounting_interim.pcap) is read end to end
        // by tests/records_e2e.rs.
        let m = message(
            ACCOUNTING_REQUEST,
            &[(40, &3u32.to_be_bytes()), (8, &[10, 0, 0, 3]), (1, b"jdoe")],
        );
        let Ok(Message::Request(r)) = parse(&m) else {
            panic!()
        };
        assert_eq!(r.status, Status::InterimUpdate);
        assert_eq!(r.prefixes().next(), Some(p("10.0.0.3", 32)));
    }

    #[test]
    fn stop_other_statuses_and_responses() {
        let stop = message(
            ACCOUNTING_REQUEST,
            &[(40, &2u32.to_be_bytes()), (8, &[10, 0, 0, 3])],
        );
        assert!(matches!(parse(&stop), Ok(Message::Request(r)) if r.status == Status::Stop));
        let on = message(ACCOUNTING_REQUEST, &[(40, &7u32.to_be_bytes())]);
        assert!(
            matches!(parse(&on), Ok(Message::Request(r)) if r.status == Status::Other(Some(7)))
        );
        let none = message(ACCOUNTING_REQUEST, &[(1, b"x")]);
        assert!(matches!(parse(&none), Ok(Message::Request(r)) if r.status == Status::Other(None)));
        assert_eq!(
            parse(&message(ACCOUNTING_RESPONSE, &[])),
            Ok(Message::Response)
        );
    }

    #[test]
    fn addresses_that_name_none_are_skipped() {
        let m = message(
            ACCOUNTING_REQUEST,
            &[
                (40, &1u32.to_be_bytes()),
                (8, &[255, 255, 255, 254]),
                (8, &[255, 255, 255, 255]),
                (8, &[10, 0, 0]),
                (97, &[0, 129]),
                (97, &[0, 64, 0x20, 0x01]),
            ],
        );
        let Ok(Message::Request(r)) = parse(&m) else {
            panic!()
        };
        assert_eq!(r.prefixes().count(), 0);
    }

    #[test]
    fn broken_packets_say_why() {
        assert_eq!(parse(&[4, 1, 0]), Err(Malformed::Length));
        let mut m = message(ACCOUNTING_REQUEST, &[(1, b"alice")]);
        assert_eq!(parse(&m[..m.len() - 1]), Err(Malformed::Length));
        m[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(parse(&m), Err(Malformed::Length));
        assert_eq!(parse(&message(1, &[])), Err(Malformed::Code(1)));
        // An attribute of length 1, and one running past Length.
        let mut bad = message(ACCOUNTING_REQUEST, &[]);
        bad.extend_from_slice(&[1, 1]);
        bad[2..4].copy_from_slice(&22u16.to_be_bytes());
        assert_eq!(parse(&bad), Err(Malformed::Attribute));
        bad[21] = 9;
        assert_eq!(parse(&bad), Err(Malformed::Attribute));
    }

    /// The request of `attrs` signed with `secret` as a NAS does.
    fn signed(attrs: &[(u8, &[u8])], secret: &[u8]) -> Vec<u8> {
        let mut m = message(ACCOUNTING_REQUEST, attrs);
        let d = Md5::new().chain_update(&m).chain_update(secret).finalize();
        m[4..20].copy_from_slice(&d);
        m
    }

    #[test]
    fn the_request_authenticator_is_checked_and_the_response_signed() {
        let req = signed(&[(40, &1u32.to_be_bytes()), (1, b"alice")], b"s3cret");
        assert!(request_authenticator_ok(&req, b"s3cret"));
        assert!(!request_authenticator_ok(&req, b"other"));
        let mut tampered = req.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(!request_authenticator_ok(&tampered, b"s3cret"));
        assert!(!request_authenticator_ok(&req[..10], b"s3cret"));

        let resp = accounting_response(&req, b"s3cret").unwrap();
        assert_eq!(&resp[..4], &[ACCOUNTING_RESPONSE, req[1], 0, 20]);
        let mut check = resp.to_vec();
        check[4..20].copy_from_slice(&req[4..20]);
        let want = Md5::new()
            .chain_update(&check)
            .chain_update(b"s3cret")
            .finalize();
        assert_eq!(&resp[4..], want.as_slice());
        assert_eq!(parse(&resp), Ok(Message::Response));
    }

    #[test]
    fn padding_past_length_is_ignored_and_cut_packets_do_not_panic() {
        let mut m = message(ACCOUNTING_REQUEST, &[(40, &2u32.to_be_bytes())]);
        m.extend_from_slice(&[0xff; 9]);
        assert!(parse(&m).is_ok());
        // Every prefix of a real request (the fuzz target analyzer_fuzz feeds
        // random ones through the worker).
        let m = message(ACCOUNTING_REQUEST, &[(40, &1u32.to_be_bytes()), (1, b"u")]);
        for n in 0..m.len() {
            let _ = parse(&m[..n]);
        }
    }
}
