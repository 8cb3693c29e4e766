//! FTP control-connection lines: commands, replies, data endpoints, the
//! greeting's host name, and the 220-greeting signature.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::app::text::{Prefix, contains_ignore_case, decimal, literal, trim};
use crate::app::{Outcome, Signature};

/// Longest first line the signature waits for.
pub const GREETING_LINE_MAX: usize = 1024;

/// The commands the state machine acts on (RFC 959 §4.1, RFC 2428, RFC 4217,
/// RFC 7151). Every other command is [`Verb::Other`]: it still takes its
/// place in the order of replies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Verb {
    #[default]
    Other = 0,
    User = 1,
    Pass = 2,
    /// HOST: the server's name as the client names it (RFC 7151).
    Host = 3,
    Port = 4,
    /// EPRT: PORT for IPv4 and IPv6 (RFC 2428 §2).
    Eprt = 5,
    Pasv = 6,
    /// EPSV (RFC 2428 §3); `EPSV ALL` is [`Verb::Other`] (it sets nothing).
    Epsv = 7,
    /// AUTH: a TLS upgrade when answered 234 (RFC 4217 §4).
    Auth = 8,
    /// REIN: the session starts over when answered 220 (RFC 959 §4.1.1).
    Rein = 9,
}

impl Verb {
    /// Command names are case-insensitive (RFC 959 §5.3).
    fn of(name: &[u8], arg: &[u8]) -> Verb {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        match name.len() {
            4 if is(b"USER") => Verb::User,
            4 if is(b"PASS") => Verb::Pass,
            4 if is(b"HOST") => Verb::Host,
            4 if is(b"PORT") => Verb::Port,
            4 if is(b"EPRT") => Verb::Eprt,
            4 if is(b"PASV") => Verb::Pasv,
            4 if is(b"EPSV") && !trim(arg).eq_ignore_ascii_case(b"ALL") => Verb::Epsv,
            4 if is(b"AUTH") => Verb::Auth,
            4 if is(b"REIN") => Verb::Rein,
            _ => Verb::Other,
        }
    }
}

/// A client command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command<'a> {
    pub verb: Verb,
    /// The command name as sent.
    pub name: &'a [u8],
    /// Everything after the space that follows the name, as sent (a
    /// password or a file name may hold spaces).
    pub arg: &'a [u8],
}

/// A command line (without its line break): `name [SP arg]`. Telnet
/// commands in front of it (`IAC IP IAC DM` before ABOR, RFC 959 §4.1.3)
/// are skipped. `None` for an empty line, which takes no reply.
pub fn command(line: &[u8]) -> Option<Command<'_>> {
    let telnet = line.iter().take_while(|&&b| b >= 0xf0).count();
    let line = line.get(telnet..)?;
    if line.is_empty() {
        return None;
    }
    let (name, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (line.get(..i)?, line.get(i + 1..)?),
        None => (line, &[][..]),
    };
    Some(Command {
        verb: Verb::of(name, arg),
        name,
        arg,
    })
}

/// One line of a server reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    pub code: u16,
    /// `NNN-`: the first line of a multi-line reply (RFC 959 §4.2).
    pub more: bool,
    /// The text after `NNN ` / `NNN-`.
    pub text: &'a [u8],
}

/// A reply line: three digits, the first 1 to 6 (6: RFC 2228's protected
/// replies), then SP, `-` or the line's end.
pub fn reply_line(line: &[u8]) -> Option<ReplyLine<'_>> {
    let (digits, rest) = line.split_at_checked(3)?;
    if !matches!(digits.first(), Some(b'1'..=b'6')) {
        return None;
    }
    let code = u16::try_from(decimal(digits)?).ok()?;
    let (more, text) = match rest.split_first() {
        None => (false, rest),
        Some((b' ', text)) => (false, text),
        Some((b'-', text)) => (true, text),
        Some(_) => return None,
    };
    Some(ReplyLine { code, more, text })
}

/// Where a data connection is to go. `addr` is `None` when the reply leaves
/// it out (EPSV, RFC 2428 §3): the server's address on the control
/// connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub addr: Option<IpAddr>,
    pub port: u16,
}

/// PORT's argument: `h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2), spaces around the
/// numbers allowed.
pub fn port_argument(arg: &[u8]) -> Option<Endpoint> {
    let (ep, rest) = six_numbers(trim(arg))?;
    trim(rest).is_empty().then_some(ep)
}

/// The endpoint of a 227 reply's text: the first run of six comma-separated
/// numbers anywhere in it, as RFC 1123 §4.1.2.6 tells clients to look for
/// it (`Entering Passive Mode (h1,h2,h3,h4,p1,p2)`, with or without the
/// parentheses).
pub fn pasv_reply(text: &[u8]) -> Option<Endpoint> {
    let starts = text
        .iter()
        .enumerate()
        .filter(|&(i, b)| {
            b.is_ascii_digit() && (i == 0 || !text.get(i - 1).is_some_and(u8::is_ascii_digit))
        })
        .map(|(i, _)| i);
    starts
        .filter_map(|i| six_numbers(text.get(i..)?))
        .map(|(ep, _)| ep)
        .next()
}

/// `h1,h2,h3,h4,p1,p2` at the front of `b` (each 0 to 255): the endpoint and
/// what follows the sixth number.
fn six_numbers(b: &[u8]) -> Option<(Endpoint, &[u8])> {
    let mut n = [0u8; 6];
    let mut rest = b;
    for (i, slot) in n.iter_mut().enumerate() {
        if i > 0 {
            rest = trim_start(rest).strip_prefix(b",")?;
        }
        rest = trim_start(rest);
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let (num, after) = rest.split_at_checked(digits)?;
        *slot = u8::try_from(decimal(num)?).ok()?;
        rest = after;
    }
    let [a, b, c, d, p1, p2] = n;
    let addr = IpAddr::V4(Ipv4Addr::new(a, b, c, d));
    let port = u16::from_be_bytes([p1, p2]);
    Some((
        Endpoint {
            addr: Some(addr),
            port,
        },
        rest,
    ))
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ').count();
    b.get(n..).unwrap_or(&[])
}

/// EPRT's argument (RFC 2428 §2): `<d>1<d>IPv4<d>port<d>` or
/// `<d>2<d>IPv6<d>port<d>`, `<d>` any printable ASCII octet (usually `|`).
pub fn eprt_argument(arg: &[u8]) -> Option<Endpoint> {
    let arg = trim(arg);
    let (&d, rest) = arg.split_first()?;
    if !(33..=126).contains(&d) {
        return None;
    }
    let mut parts = rest.split(|&b| b == d);
    let (proto, addr, port) = (parts.next()?, parts.next()?, parts.next()?);
    // The closing delimiter ends the argument.
    if parts.next() != Some(&[][..]) || parts.next().is_some() {
        return None;
    }
    let text = core::str::from_utf8(addr).ok()?;
    let addr = match proto {
        b"1" => IpAddr::V4(text.parse::<Ipv4Addr>().ok()?),
        b"2" => IpAddr::V6(text.parse::<Ipv6Addr>().ok()?),
        _ => return None,
    };
    Some(Endpoint {
        addr: Some(addr),
        port: tcp_port(port)?,
    })
}

/// The endpoint of a 229 reply's text (RFC 2428 §3):
/// `Entering Extended Passive Mode (<d><d><d>port<d>)`; the address is the
/// control connection's.
pub fn epsv_reply(text: &[u8]) -> Option<Endpoint> {
    let open = text.iter().position(|&b| b == b'(')?;
    let inner = text.get(open + 1..)?;
    let close = inner.iter().position(|&b| b == b')')?;
    let inner = inner.get(..close)?;
    let (&d, rest) = inner.split_first()?;
    let rest = rest.strip_prefix(&[d, d][..])?;
    let port = rest.strip_suffix(&[d][..])?;
    Some(Endpoint {
        addr: None,
        port: tcp_port(port)?,
    })
}

fn tcp_port(b: &[u8]) -> Option<u16> {
    u16::try_from(decimal(b)?).ok().filter(|&p| p != 0)
}

/// SERVER_NAME from a greeting line's text: the first word that looks like
/// a domain name — two or more dot-separated labels of letters, digits and
/// hyphens (RFC 1123 §2.1: no label starts or ends with a hyphen, at most 63
/// octets a label, 253 in all), the last label alphabetic and at least two
/// letters long (so versions like `3.0.3` and IPv4 addresses are not names).
/// Words are separated by white space; brackets, quotes and punctuation
/// around a word (`(ftp.example.com)`, `ftp.example.com.`) are not part of
/// it.
///
/// `220 ftp.example.com FTP server (Version wu-2.6.2) ready.` →
/// `ftp.example.com`; `220 (vsFTPd 3.0.3)` → none.
pub fn greeting_host(text: &[u8]) -> Option<&[u8]> {
    text.split(|&b| b == b' ' || b == b'\t')
        .map(|w| {
            let start = w
                .iter()
                .position(|b| b.is_ascii_alphanumeric())
                .unwrap_or(w.len());
            let end = w
                .iter()
                .rposition(|b| b.is_ascii_alphanumeric())
                .map_or(start, |i| i + 1);
            w.get(start..end).unwrap_or(&[])
        })
        .find(|w| is_domain_name(w))
}

fn is_domain_name(w: &[u8]) -> bool {
    if w.len() > 253 {
        return false;
    }
    let mut labels = 0;
    let mut last: &[u8] = b"";
    for label in w.split(|&b| b == b'.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
            && label.first() != Some(&b'-')
            && label.last() != Some(&b'-');
        if !ok {
            return false;
        }
        labels += 1;
        last = label;
    }
    labels >= 2 && last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic)
}

/// The FTP signature: whether `first` — the first octets the server sent —
/// is a 220 greeting line (RFC 959 §5.4: "Connection Establishment: 120,
/// 220"): `220` followed by SP, `-` or the line's end, and a whole line that
/// does not name SMTP (an SMTP server greets with 220 too, RFC 5321 §4.2,
/// and nearly always says ESMTP/SMTP).
///
/// `Incomplete` for every prefix of such a line, until its end is there (or
/// [`GREETING_LINE_MAX`] octets without one: `NotThis`).
pub fn looks_like_greeting(first: &[u8]) -> Signature<()> {
    let rest = match literal(first, b"220") {
        Prefix::Matched(rest) => rest,
        Prefix::Partial => return Outcome::Incomplete,
        Prefix::Differs => return Outcome::NotThis,
    };
    if !matches!(rest.first(), None | Some(b' ' | b'-' | b'\r' | b'\n')) {
        return Outcome::NotThis;
    }
    let window = first.get(..GREETING_LINE_MAX).unwrap_or(first);
    match window.iter().position(|&b| b == b'\n') {
        Some(end) if contains_ignore_case(window.get(..end).unwrap_or(&[]), b"SMTP") => {
            Outcome::NotThis
        }
        Some(_) => Outcome::Done(()),
        None if first.len() < GREETING_LINE_MAX => Outcome::Incomplete,
        None => Outcome::NotThis,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> Option<Endpoint> {
        Some(Endpoint {
            addr: Some(IpAddr::V4(Ipv4Addr::from(a))),
            port,
        })
    }

    #[test]
    fn commands_of_the_corpus() {
        let c = command(b"USER anonymous").unwrap();
        assert_eq!(
            (c.verb, c.name, c.arg),
            (Verb::User, &b"USER"[..], &b"anonymous"[..])
        );
        let c = command(b"pass NcFTP@").unwrap();
        assert_eq!((c.verb, c.arg), (Verb::Pass, &b"NcFTP@"[..]));
        let c = command(b"CLNT NcFTP 3.2.6 macosx10.13").unwrap();
        assert_eq!(
            (c.verb, c.arg),
            (Verb::Other, &b"NcFTP 3.2.6 macosx10.13"[..])
        );
        assert_eq!(command(b"PASV").unwrap().verb, Verb::Pasv);
        assert_eq!(command(b"EPSV").unwrap().verb, Verb::Epsv);
        assert_eq!(command(b"EPSV 2").unwrap().verb, Verb::Epsv);
        assert_eq!(command(b"EPSV ALL").unwrap().verb, Verb::Other);
        assert_eq!(
            command(b"EPRT |2|fd00:10:16:1::3|40467|").unwrap().verb,
            Verb::Eprt
        );
        assert_eq!(command(b"PASS ").unwrap().arg, b"");
        assert_eq!(command(b"PASS two words ").unwrap().arg, b"two words ");
        let abor = command(b"\xff\xf4\xff\xf2ABOR").unwrap();
        assert_eq!((abor.verb, abor.name), (Verb::Other, &b"ABOR"[..]));
        assert_eq!(command(b""), None);
        assert_eq!(command(b"\xff\xf4"), None);
    }

    #[test]
    fn reply_lines() {
        assert_eq!(
            reply_line(b"227 Entering Passive Mode (90,130,70,73,100,85)."),
            Some(ReplyLine {
                code: 227,
                more: false,
                text: b"Entering Passive Mode (90,130,70,73,100,85)."
            })
        );
        let first = reply_line(b"211-Features:").unwrap();
        assert_eq!(
            (first.code, first.more, first.text),
            (211, true, &b"Features:"[..])
        );
        assert_eq!(
            reply_line(b"226").map(|r| (r.code, r.more)),
            Some((226, false))
        );
        assert_eq!(reply_line(b" EPRT"), None);
        assert_eq!(reply_line(b"700 x"), None);
        assert_eq!(reply_line(b"22"), None);
        assert_eq!(reply_line(b"2200 x"), None);
        assert_eq!(reply_line(b"22a x"), None);
    }

    #[test]
    fn port_and_pasv_endpoints() {
        assert_eq!(
            port_argument(b"172,23,0,3,174,127"),
            v4([172, 23, 0, 3], 44671)
        );
        assert_eq!(port_argument(b" 10, 0,0,1 ,0,21 "), v4([10, 0, 0, 1], 21));
        assert_eq!(port_argument(b"172,23,0,3,174"), None);
        assert_eq!(port_argument(b"172,23,0,3,174,127,1"), None);
        assert_eq!(port_argument(b"256,23,0,3,174,127"), None);
        assert_eq!(
            pasv_reply(b"Entering Passive Mode (90,130,70,73,100,85)."),
            v4([90, 130, 70, 73], 25685)
        );
        assert_eq!(
            pasv_reply(b"Entering Passive Mode 90,130,70,73,95,203"),
            v4([90, 130, 70, 73], 24523)
        );
        // A number that is not the start of the six is passed over.
        assert_eq!(
            pasv_reply(b"Mode v2 = (192,0,2,1,4,1)"),
            v4([192, 0, 2, 1], 1025)
        );
        assert_eq!(pasv_reply(b"Entering Passive Mode"), None);
        assert_eq!(pasv_reply(b"(1,2,3,4,5)"), None);
    }

    #[test]
    fn eprt_and_epsv_endpoints() {
        let v6: Ipv6Addr = "fd00:10:16:1::3".parse().unwrap();
        assert_eq!(
            eprt_argument(b"|2|fd00:10:16:1::3|40467|"),
            Some(Endpoint {
                addr: Some(IpAddr::V6(v6)),
                port: 40467
            })
        );
        assert_eq!(
            eprt_argument(b"|1|132.235.1.2|6275|"),
            v4([132, 235, 1, 2], 6275)
        );
        assert_eq!(
            eprt_argument(b"!1!132.235.1.2!6275!"),
            v4([132, 235, 1, 2], 6275)
        );
        assert_eq!(eprt_argument(b"|1|132.235.1.2|6275"), None);
        assert_eq!(eprt_argument(b"|1|132.235.1.2|6275|x"), None);
        assert_eq!(eprt_argument(b"|2|132.235.1.2|6275|"), None);
        assert_eq!(eprt_argument(b"|3|x|1|"), None);
        assert_eq!(eprt_argument(b"|1|1.2.3.4|0|"), None);
        assert_eq!(eprt_argument(b"|1|1.2.3.4|65536|"), None);
        assert_eq!(
            epsv_reply(b"Entering extended passive mode (|||21008|)."),
            Some(Endpoint {
                addr: None,
                port: 21008
            })
        );
        assert_eq!(
            epsv_reply(b"Entering Extended Passive Mode (!!!6446!)").map(|e| e.port),
            Some(6446)
        );
        assert_eq!(epsv_reply(b"(||21008|)"), None);
        assert_eq!(epsv_reply(b"(|||21008)"), None);
        assert_eq!(epsv_reply(b"no parens"), None);
    }

    #[test]
    fn a_greeting_names_a_host_only_when_a_word_is_a_domain_name() {
        for (text, host) in [
            (
                &b"ftp.example.com FTP server (Version wu-2.6.2(1)) ready."[..],
                Some(&b"ftp.example.com"[..]),
            ),
            (b"Welcome to ftp.gnu.org.", Some(b"ftp.gnu.org")),
            (b"(vsFTPd 3.0.3)", None),
            (b"FTP Sandbox Ready.", None),
            (b"ProFTPD 1.3.5 Server (Debian) [192.168.1.2]", None),
            (b"Microsoft FTP Service", None),
            (b"[mirror-1.example.net]", Some(b"mirror-1.example.net")),
            (b"-bad-.example.com x.y", None),
            (b"host.c0m", None),
        ] {
            assert_eq!(
                greeting_host(text),
                host,
                "{}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn the_greeting_signature() {
        let greeting = b"220 (vsFTPd 3.0.3)\r\n";
        for k in 0..greeting.len() - 1 {
            assert_eq!(
                looks_like_greeting(&greeting[..k]),
                Outcome::Incomplete,
                "{k}"
            );
        }
        assert_eq!(looks_like_greeting(greeting), Outcome::Done(()));
        assert_eq!(
            looks_like_greeting(b"220-Welcome\r\n220 ready\r\n"),
            Outcome::Done(())
        );
        assert_eq!(looks_like_greeting(b"220\r\n"), Outcome::Done(()));
        assert_eq!(
            looks_like_greeting(b"220 mail.example.com ESMTP Postfix\r\n"),
            Outcome::NotThis
        );
        assert_eq!(looks_like_greeting(b"2200 x\r\n"), Outcome::NotThis);
        assert_eq!(looks_like_greeting(b"221 bye\r\n"), Outcome::NotThis);
        assert_eq!(looks_like_greeting(b"+OK POP3 ready\r\n"), Outcome::NotThis);
        assert_eq!(
            looks_like_greeting(b"SSH-2.0-OpenSSH_9.6\r\n"),
            Outcome::NotThis
        );
        let mut long = b"220 ".to_vec();
        long.resize(GREETING_LINE_MAX, b'x');
        assert_eq!(looks_like_greeting(&long), Outcome::NotThis);
        assert_eq!(
            looks_like_greeting(&long[..GREETING_LINE_MAX - 1]),
            Outcome::Incomplete
        );
    }
}
