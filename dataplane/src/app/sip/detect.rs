//! The SIP signature: a request line whose URI is `sip:`, `sips:` or `tel:`,
//! or a status line, at the start of a direction.

use crate::app::text::{Prefix, literal};
use crate::app::{Outcome, Signature};

/// Longest start line the signature waits for; past it a line that has not
/// ended is `NotThis`.
pub const START_LINE_MAX: usize = 2048;
/// Longest method token the signature accepts (the longest standard one,
/// SUBSCRIBE, has 9 octets).
const METHOD_MAX: usize = 32;
/// The version every SIP start line carries (RFC 3261 §7.1).
const VERSION: &[u8] = b"SIP/2.0";
/// The URI schemes of a request line the signature accepts (RFC 3261 §19.1,
/// RFC 3966).
const SCHEMES: [&[u8]; 3] = [b"sip:", b"sips:", b"tel:"];

/// Whether `first` — the first octets of one direction — starts with a SIP
/// start line (after any empty lines, RFC 3261 §7.5):
///
/// * `Method SP (sip: / sips: / tel:)uri SP SIP/2.0` and the line's end, or
/// * `SIP/2.0 SP 3DIGIT` followed by SP or the line's end.
///
/// `Incomplete` for every prefix of such a line (the caller accumulates more
/// octets and asks again); `NotThis` once an octet rules SIP out, or when no
/// start line ended within [`START_LINE_MAX`] octets. Literals are matched
/// ASCII case-insensitively, the method is any RFC 3261 token.
pub fn looks_like_sip(first: &[u8]) -> Signature<()> {
    let skip = first
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let line = first.get(skip..).unwrap_or(&[]);
    let line = line.get(..START_LINE_MAX).unwrap_or(line);
    match (status_line(line), request_line(line)) {
        (Outcome::Done(()), _) | (_, Outcome::Done(())) => Outcome::Done(()),
        (Outcome::Incomplete, _) | (_, Outcome::Incomplete) if line.len() < START_LINE_MAX => {
            Outcome::Incomplete
        }
        _ => Outcome::NotThis,
    }
}

/// RFC 3261 §25.1 `token` characters.
pub(super) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// `SIP/2.0 SP 3DIGIT (SP / CR / LF)`.
fn status_line(b: &[u8]) -> Signature<()> {
    let rest = match literal(b, VERSION) {
        Prefix::Matched(rest) => rest,
        Prefix::Partial => return Outcome::Incomplete,
        Prefix::Differs => return Outcome::NotThis,
    };
    let mut octets = rest.iter();
    for want_digit in [false, true, true, true] {
        match octets.next() {
            None => return Outcome::Incomplete,
            Some(&c) if want_digit && c.is_ascii_digit() => {}
            Some(b' ') if !want_digit => {}
            Some(_) => return Outcome::NotThis,
        }
    }
    match octets.next() {
        None => Outcome::Incomplete,
        Some(b' ' | b'\r' | b'\n') => Outcome::Done(()),
        Some(_) => Outcome::NotThis,
    }
}

/// `token SP scheme *uric SP SIP/2.0 (CR / LF)`.
fn request_line(b: &[u8]) -> Signature<()> {
    let Some(method_len) = b.iter().position(|&c| !is_token(c)) else {
        return if b.len() <= METHOD_MAX {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    };
    if method_len == 0 || method_len > METHOD_MAX || b.get(method_len) != Some(&b' ') {
        return Outcome::NotThis;
    }
    let uri = b.get(method_len + 1..).unwrap_or(&[]);
    let mut cut = false;
    let mut scheme_ok = false;
    for scheme in SCHEMES {
        match literal(uri, scheme) {
            Prefix::Matched(_) => scheme_ok = true,
            Prefix::Partial => cut = true,
            Prefix::Differs => {}
        }
    }
    if !scheme_ok {
        return if cut {
            Outcome::Incomplete
        } else {
            Outcome::NotThis
        };
    }
    let Some(uri_len) = uri.iter().position(|&c| !c.is_ascii_graphic()) else {
        return Outcome::Incomplete;
    };
    if uri.get(uri_len) != Some(&b' ') {
        return Outcome::NotThis;
    }
    match literal(uri.get(uri_len + 1..).unwrap_or(&[]), VERSION) {
        Prefix::Matched(end) => match end.first() {
            None => Outcome::Incomplete,
            Some(b'\r' | b'\n') => Outcome::Done(()),
            Some(_) => Outcome::NotThis,
        },
        Prefix::Partial => Outcome::Incomplete,
        Prefix::Differs => Outcome::NotThis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start lines of the corpus captures and of RFC 3261's examples.
    const STARTS: &[&[u8]] = &[
        b"INVITE sip:061963177-ikhuuep5bi123@10.35.60.100:5060;transport=udp SIP/2.0\r\n",
        b"REGISTER sip:sip.cybercity.dk SIP/2.0\r\n",
        b"SIP/2.0 401 Unauthorized\r\n",
        b"SIP/2.0 100 Trying\r\n",
        b"OPTIONS sips:carol@chicago.example.com SIP/2.0\r\n",
        b"MESSAGE tel:+1-201-555-0123 SIP/2.0\n",
        b"SUBSCRIBE sip:bob@example.com SIP/2.0\r\n",
        b"SIP/2.0 200\r\n",
        b"\r\n\r\nBYE sip:a@b SIP/2.0\r\n",
    ];

    #[test]
    fn every_prefix_of_a_start_line_is_incomplete_then_done() {
        for line in STARTS {
            let mut done_at = None;
            for k in 0..=line.len() {
                match looks_like_sip(&line[..k]) {
                    Outcome::Incomplete => assert!(done_at.is_none(), "{line:?} at {k}"),
                    Outcome::Done(()) => {
                        done_at.get_or_insert(k);
                    }
                    other => panic!("{:?} cut at {k}: {other:?}", String::from_utf8_lossy(line)),
                }
            }
            assert!(done_at.is_some(), "{line:?}");
            let mut with_more = line.to_vec();
            with_more.extend_from_slice(b"Via: SIP/2.0/UDP h\r\n\r\n");
            assert_eq!(looks_like_sip(&with_more), Outcome::Done(()));
        }
    }

    #[test]
    fn other_protocols_are_not_sip() {
        for junk in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"GET sip:x HTTP/1.1\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"RTSP/1.0 200 OK\r\n",
            b"OPTIONS rtsp://a/ RTSP/1.0\r\n",
            b"INVITE sip:a@b SIP/2.1\r\n",
            b"INVITE sip:a@b SIP/2.0 x\r\n",
            b"INVITE  sip:a@b SIP/2.0\r\n",
            b"SIP/2.0 20x OK\r\n",
            b"SIP/2.0 2000 OK\r\n",
            b"SIP/2.0  200 OK\r\n",
            b"MEGACO/1 [10.35.40.200]:2944\r\n",
            b"220 ftp.example.com FTP ready\r\n",
            b"     ",
            b"\x16\x03\x01\x02\x00",
            b"\x80\x00\x12\x34",
            b"INVITE sip:a@b\tSIP/2.0\r\n",
            b"INVITE sip:a@b\r\n",
        ] {
            assert_eq!(looks_like_sip(junk), Outcome::NotThis, "{junk:?}");
        }
    }

    #[test]
    fn a_start_line_that_never_ends_is_given_up() {
        let mut line = b"INVITE sip:".to_vec();
        line.resize(START_LINE_MAX - 1, b'a');
        assert_eq!(looks_like_sip(&line), Outcome::Incomplete);
        line.push(b'a');
        assert_eq!(looks_like_sip(&line), Outcome::NotThis);
        let long_method = vec![b'A'; METHOD_MAX + 1];
        assert_eq!(looks_like_sip(&long_method), Outcome::NotThis);
        assert_eq!(
            looks_like_sip(&long_method[..METHOD_MAX]),
            Outcome::Incomplete
        );
    }

    #[test]
    fn literals_are_case_insensitive() {
        assert_eq!(
            looks_like_sip(b"sip/2.0 180 Ringing\r\n"),
            Outcome::Done(())
        );
        assert_eq!(
            looks_like_sip(b"ACK SIP:a@b sip/2.0\r\n"),
            Outcome::Done(())
        );
    }
}
