//! The XMPP grammar: XML read as a stream of tokens (no DOM), the stream
//! header signature, attributes, and the SASL messages that name the user.

use crate::app::base64;
use crate::app::text::{Prefix, Step, literal};
use crate::app::{Outcome, Signature};

/// Most octets of the XML declaration and the stream header the signature
/// waits for (`<?xml …?>` and `<stream:stream` with its attributes).
pub const HEADER_MAX: usize = 512;

/// One piece of the XML stream ([`token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token<'a> {
    /// A start tag `<name attrs>`, or an empty-element tag `<name attrs/>`.
    Open {
        name: &'a [u8],
        attrs: &'a [u8],
        empty: bool,
    },
    /// An end tag `</name>`.
    Close { name: &'a [u8] },
    /// Character data up to the next `<` or the end of the input (the rest
    /// of a text cut by a segment comes as the next token).
    Text(&'a [u8]),
    /// An XML declaration, processing instruction, comment, CDATA section
    /// or DOCTYPE: nothing XMPP's metadata needs (RFC 6120 §11.1 forbids
    /// most of them anyway).
    Other,
}

/// Why the XML of a direction was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A tag (or other markup) longer than the caller's cap.
    TagTooLong,
    /// `<` not followed by markup.
    NotXml,
}

/// The next token at the front of `b` (see [`Token`]); `Incomplete` while a
/// tag has not ended and is shorter than `cap`. The step consumes the token.
pub fn token(b: &[u8], cap: usize) -> Step<Token<'_>, Reason> {
    let Some(rest) = b.strip_prefix(b"<") else {
        let n = b.iter().position(|&c| c == b'<').unwrap_or(b.len());
        return match b.get(..n) {
            Some(text) if n > 0 => Step::new(n, Outcome::Done(Token::Text(text))),
            _ => Step::new(0, Outcome::Incomplete),
        };
    };
    let markup = match rest.first() {
        None => return Step::new(0, Outcome::Incomplete),
        Some(b'?') => Markup::Until(b"?>"),
        Some(b'!') => match (literal(rest, b"!--"), literal(rest, b"![CDATA[")) {
            (Prefix::Matched(_), _) => Markup::Until(b"-->"),
            (_, Prefix::Matched(_)) => Markup::Until(b"]]>"),
            (Prefix::Partial, _) | (_, Prefix::Partial) => Markup::Cut,
            _ => Markup::Until(b">"),
        },
        Some(b'/') => Markup::Tag,
        Some(&c) if is_name_start(c) => Markup::Tag,
        Some(_) => return Step::new(b.len(), Outcome::Malformed(Reason::NotXml)),
    };
    let end = match markup {
        Markup::Until(close) => find(rest, close).map(|i| i + close.len()),
        Markup::Tag => tag_end(rest),
        Markup::Cut => None,
    };
    let Some(end) = end else {
        return if b.len() >= cap {
            Step::new(b.len(), Outcome::Malformed(Reason::TagTooLong))
        } else {
            Step::new(0, Outcome::Incomplete)
        };
    };
    // `end` is just past the closing `>`, counted from after the `<`.
    let tok = match (markup, rest.get(..end.saturating_sub(1))) {
        (Markup::Tag, Some(inner)) => tag(inner),
        _ => Token::Other,
    };
    Step::new(end + 1, Outcome::Done(tok))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Markup {
    /// Ends at this literal.
    Until(&'static [u8]),
    /// A tag: ends at the first `>` outside a quoted attribute value.
    Tag,
    /// `<!` cut before it says what it is.
    Cut,
}

/// Offset just past the `>` that ends a tag (quotes hide a `>`, XML 1.0
/// §3.1 allows one in an attribute value).
fn tag_end(b: &[u8]) -> Option<usize> {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate() {
        match (quote, c) {
            (None, b'>') => return Some(i + 1),
            (None, b'\'' | b'"') => quote = Some(c),
            (Some(q), _) if q == c => quote = None,
            _ => {}
        }
    }
    None
}

/// A tag's inside (between `<` and `>`) as a token.
fn tag(inner: &[u8]) -> Token<'_> {
    if let Some(name) = inner.strip_prefix(b"/") {
        return Token::Close {
            name: name_of(name).0,
        };
    }
    let (inner, empty) = match inner.strip_suffix(b"/") {
        Some(i) => (i, true),
        None => (inner, false),
    };
    let (name, attrs) = name_of(inner);
    Token::Open { name, attrs, empty }
}

/// The name at the front of `b` and what follows it.
fn name_of(b: &[u8]) -> (&[u8], &[u8]) {
    let n = b.iter().position(|&c| !is_name_char(c)).unwrap_or(b.len());
    b.split_at_checked(n).unwrap_or((b, &[]))
}

/// XML 1.0 §2.3 NameStartChar, ASCII part (any non-ASCII octet is taken as
/// part of a name: UTF-8 names are allowed).
const fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80
}

const fn is_name_char(c: u8) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == b'-' || c == b'.'
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A name without its namespace prefix (`stream:features` → `features`).
pub fn local(name: &[u8]) -> &[u8] {
    name.rsplit(|&c| c == b':').next().unwrap_or(name)
}

/// The value of attribute `name` (compared as written, prefix included) in
/// a tag's attributes, without its quotes and as on the wire (entity
/// references are not expanded: JIDs seldom hold one).
pub fn attr<'a>(attrs: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut rest = attrs;
    loop {
        let start = rest.iter().position(|c| !c.is_ascii_whitespace())?;
        rest = rest.get(start..)?;
        let (key, after) = name_of(rest);
        if key.is_empty() {
            return None;
        }
        let eq = after.iter().position(|c| !c.is_ascii_whitespace())?;
        let after = after.get(eq..)?.strip_prefix(b"=")?;
        let q = after.iter().position(|c| !c.is_ascii_whitespace())?;
        let after = after.get(q..)?;
        let quote = *after.first()?;
        if quote != b'\'' && quote != b'"' {
            return None;
        }
        let body = after.get(1..)?;
        let len = body.iter().position(|&c| c == quote)?;
        if key == name {
            return body.get(..len);
        }
        rest = body.get(len + 1..)?;
    }
}

/// The signature (any port): the first octets of a direction are an XMPP
/// stream header — an optional XML declaration, then `<stream:stream`
/// followed by white space or `>` (RFC 6120 §4.2), white space allowed
/// before each. `Incomplete` for every prefix of one up to [`HEADER_MAX`].
pub fn looks_like_stream(first: &[u8]) -> Signature<()> {
    let mut b = skip_ws(first);
    if let Some(decl) = b.strip_prefix(b"<?") {
        match find(decl, b"?>") {
            Some(i) => b = skip_ws(decl.get(i + 2..).unwrap_or(&[])),
            None if first.len() < HEADER_MAX && !decl.contains(&b'<') => {
                return Outcome::Incomplete;
            }
            None => return Outcome::NotThis,
        }
    }
    match literal(b, b"<stream:stream") {
        Prefix::Matched(rest) => match rest.first() {
            None => Outcome::Incomplete,
            Some(c) if c.is_ascii_whitespace() || *c == b'>' => Outcome::Done(()),
            Some(_) => Outcome::NotThis,
        },
        Prefix::Partial => Outcome::Incomplete,
        Prefix::Differs => Outcome::NotThis,
    }
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    b.get(n..).unwrap_or(&[])
}

/// A SASL mechanism (RFC 4422) as the `<auth mechanism='…'>` names it:
/// those whose messages carry the user's name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: `[authzid] NUL authcid NUL passwd` in the initial response.
    Plain,
    /// Google's X-OAUTH2: PLAIN's layout with a token for the password.
    XOauth2,
    /// RFC 2831: `username="…"` in the client's first response.
    DigestMd5,
    /// RFC 5802 (any hash, `-PLUS` too): `n=user` in the client-first message.
    Scram,
    /// Another mechanism (EXTERNAL, ANONYMOUS, …): no name to read.
    #[default]
    Other,
}

impl Mechanism {
    pub fn of(name: &[u8]) -> Mechanism {
        if name.eq_ignore_ascii_case(b"PLAIN") {
            Mechanism::Plain
        } else if name.eq_ignore_ascii_case(b"X-OAUTH2") {
            Mechanism::XOauth2
        } else if name.eq_ignore_ascii_case(b"DIGEST-MD5") {
            Mechanism::DigestMd5
        } else if matches!(literal(name, b"SCRAM-"), Prefix::Matched(hash) if !hash.is_empty()) {
            Mechanism::Scram
        } else {
            Mechanism::Other
        }
    }
}

/// Octets a decoded SASL message may have; longer ones are read cut.
pub const SASL_MAX: usize = 384;

/// The login (and, for PLAIN, the password) a SASL message of `mech` names,
/// whether it came in `<auth>` (the initial response) or in a `<response>`
/// (after an empty initial one, RFC 6120 §6.4.2): PLAIN's and SCRAM's first
/// message, DIGEST-MD5's first response; the other messages name nobody.
/// `data` is the base64 text; the decoded octets go through `scratch`.
pub fn credentials<'s>(
    mech: Mechanism,
    data: &[u8],
    scratch: &'s mut [u8; SASL_MAX],
) -> Option<(&'s [u8], &'s [u8])> {
    let msg = base64::decode(data, scratch);
    match mech {
        Mechanism::Plain => plain(msg),
        Mechanism::XOauth2 => plain(msg).map(|(user, _)| (user, &[][..])),
        Mechanism::Scram => scram_user(msg).map(|u| (u, &[][..])),
        Mechanism::DigestMd5 => digest_username(msg).map(|u| (u, &[][..])),
        Mechanism::Other => None,
    }
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
pub fn plain(msg: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = msg.splitn(3, |&c| c == 0);
    let _authzid = parts.next()?;
    let authcid = parts.next()?;
    let passwd = parts.next()?;
    (!authcid.is_empty()).then_some((authcid, passwd))
}

/// RFC 5802 §7: `client-first-message = gs2-header "n=" saslname "," …`,
/// `gs2-header = cbind-flag "," [ authzid ] ","`.
pub fn scram_user(msg: &[u8]) -> Option<&[u8]> {
    let mut parts = msg.splitn(3, |&c| c == b',');
    let _cbind = parts.next()?;
    let _authzid = parts.next()?;
    let bare = parts.next()?.strip_prefix(b"n=")?;
    let user = bare.split(|&c| c == b',').next()?;
    (!user.is_empty()).then_some(user)
}

/// RFC 2831 §2.1.2: `username = "username" "=" <"> username-value <">`
/// among the comma-separated directives of the digest-response.
pub fn digest_username(msg: &[u8]) -> Option<&[u8]> {
    let mut rest = msg;
    loop {
        let start = rest
            .iter()
            .position(|&c| !(c.is_ascii_whitespace() || c == b','))?;
        rest = rest.get(start..)?;
        let eq = rest.iter().position(|&c| c == b'=')?;
        let key = rest.get(..eq)?.trim_ascii();
        let value = rest.get(eq + 1..)?.trim_ascii_start();
        let (v, after) = match value.strip_prefix(b"\"") {
            Some(q) => {
                let end = q.iter().position(|&c| c == b'"')?;
                (q.get(..end)?, q.get(end + 1..)?)
            }
            None => {
                let end = value.iter().position(|&c| c == b',').unwrap_or(value.len());
                (value.get(..end)?.trim_ascii_end(), value.get(end..)?)
            }
        };
        if key.eq_ignore_ascii_case(b"username") {
            return (!v.is_empty()).then_some(v);
        }
        rest = after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 4096;

    fn tokens(mut b: &[u8]) -> Vec<Token<'_>> {
        let mut out = Vec::new();
        loop {
            let step = token(b, CAP);
            match step.outcome {
                Outcome::Done(t) => out.push(t),
                Outcome::Incomplete => return out,
                other => panic!("{other:?} at {b:?}"),
            }
            b = &b[step.consumed..];
        }
    }

    #[test]
    fn a_stream_reads_as_tags_and_text() {
        let xml = b"<?xml version='1.0'?><stream:stream to='a.b' xmlns='jabber:client'>\
            <message to='x@a.b' type='chat'><body>hi &amp; \"bye\"</body></message>\
            <!-- c --><presence/></stream:stream>";
        assert_eq!(
            tokens(xml),
            [
                Token::Other,
                Token::Open {
                    name: b"stream:stream",
                    attrs: b" to='a.b' xmlns='jabber:client'",
                    empty: false
                },
                Token::Open {
                    name: b"message",
                    attrs: b" to='x@a.b' type='chat'",
                    empty: false
                },
                Token::Open {
                    name: b"body",
                    attrs: b"",
                    empty: false
                },
                Token::Text(b"hi &amp; \"bye\""),
                Token::Close { name: b"body" },
                Token::Close { name: b"message" },
                Token::Other,
                Token::Open {
                    name: b"presence",
                    attrs: b"",
                    empty: true
                },
                Token::Close {
                    name: b"stream:stream"
                },
            ]
        );
    }

    #[test]
    fn a_cut_tag_waits_and_text_comes_in_pieces() {
        assert_eq!(
            token(b"<message to='a>b", CAP),
            Step::new(0, Outcome::Incomplete)
        );
        assert_eq!(
            token(b"<message to='a>b'>", CAP),
            Step::new(
                18,
                Outcome::Done(Token::Open {
                    name: b"message",
                    attrs: b" to='a>b'",
                    empty: false
                })
            )
        );
        assert_eq!(token(b"<!-", CAP), Step::new(0, Outcome::Incomplete));
        assert_eq!(token(b"<", CAP), Step::new(0, Outcome::Incomplete));
        assert_eq!(token(b"", CAP), Step::new(0, Outcome::Incomplete));
        assert_eq!(
            token(b"some te", CAP),
            Step::new(7, Outcome::Done(Token::Text(b"some te")))
        );
        assert_eq!(
            token(b"<iq ", 4),
            Step::new(4, Outcome::Malformed(Reason::TagTooLong))
        );
        assert_eq!(
            token(b"< x>", CAP),
            Step::new(4, Outcome::Malformed(Reason::NotXml))
        );
    }

    #[test]
    fn attributes_in_either_quote() {
        let a = b" xml:lang='en' to = \"tom@cs-xmpp.lan/dark'star\" type='result' id='x'";
        assert_eq!(attr(a, b"to"), Some(&b"tom@cs-xmpp.lan/dark'star"[..]));
        assert_eq!(attr(a, b"xml:lang"), Some(&b"en"[..]));
        assert_eq!(attr(a, b"id"), Some(&b"x"[..]));
        assert_eq!(attr(a, b"lang"), None);
        assert_eq!(attr(b" to=x", b"to"), None);
        assert_eq!(attr(b" to='x", b"to"), None);
        assert_eq!(local(b"stream:features"), b"features");
        assert_eq!(local(b"iq"), b"iq");
    }

    #[test]
    fn stream_headers_and_their_prefixes() {
        let header: &[u8] =
            b"<?xml version='1.0' ?>\n<stream:stream to='cs-xmpp.lan' version='1.0'>";
        assert_eq!(looks_like_stream(header), Outcome::Done(()));
        assert_eq!(
            looks_like_stream(b"<stream:stream xmlns='jabber:client'>"),
            Outcome::Done(())
        );
        let at = find(header, b"<stream:stream").unwrap() + 14;
        for k in 0..=at {
            assert_eq!(looks_like_stream(&header[..k]), Outcome::Incomplete, "{k}");
        }
        for not in [
            &b"<stream:streams>"[..],
            b"<?xml version='1.0'?><html>",
            b"GET / HTTP/1.1\r\n",
            b"<iq type='get'/>",
        ] {
            assert_eq!(looks_like_stream(not), Outcome::NotThis, "{not:?}");
        }
    }

    #[test]
    fn sasl_messages_name_the_user() {
        let mut s = [0u8; SASL_MAX];
        // RFC 4616 §4's example, "\0tim\0tanstaaftanstaaf".
        let tim = b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm";
        assert_eq!(
            credentials(Mechanism::Plain, tim, &mut s),
            Some((&b"tim"[..], &b"tanstaaftanstaaf"[..]))
        );
        assert_eq!(
            credentials(Mechanism::XOauth2, tim, &mut s),
            Some((&b"tim"[..], &b""[..]))
        );
        // RFC 5802 §5: "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL".
        let scram = b"biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM";
        assert_eq!(
            credentials(Mechanism::Scram, scram, &mut s),
            Some((&b"user"[..], &b""[..]))
        );
        // The corpus' DIGEST-MD5 response (username="tom",realm="cs-xmpp.lan",…).
        let digest =
            b"dXNlcm5hbWU9InRvbSIscmVhbG09ImNzLXhtcHAubGFuIixub25jZT0iMTUzMDc1MTg4ODE1MjAyNTYzNDEi";
        assert_eq!(
            credentials(Mechanism::DigestMd5, digest, &mut s),
            Some((&b"tom"[..], &b""[..]))
        );
        assert_eq!(credentials(Mechanism::Other, digest, &mut s), None);
        // DIGEST-MD5's second response, SCRAM's client-final message: nobody.
        assert_eq!(credentials(Mechanism::DigestMd5, b"", &mut s), None);
        // c=biws,r=fyko+d2lbbFgONRv9qkxdawLHc,w=1
        let client_final = b"Yz1iaXdzLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdMSGMsdz0x";
        assert_eq!(credentials(Mechanism::Scram, client_final, &mut s), None);
        assert_eq!(
            digest_username(b"realm=x, username = bob ,nc=1"),
            Some(&b"bob"[..])
        );
        assert_eq!(digest_username(b"realm=\"a,b\",qop=auth"), None);
        assert_eq!(plain(b"\0\0pw"), None);
        assert_eq!(scram_user(b"y,a=admin,n=joe,r=x"), Some(&b"joe"[..]));
        assert_eq!(Mechanism::of(b"SCRAM-SHA-256-PLUS"), Mechanism::Scram);
        assert_eq!(Mechanism::of(b"SCRAM-"), Mechanism::Other);
        assert_eq!(Mechanism::of(b"EXTERNAL"), Mechanism::Other);
    }
}
