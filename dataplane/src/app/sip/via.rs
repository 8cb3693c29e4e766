//! The Via walk: the sent-by host of every via-parm, top first (GATEWAYS).

use super::message::Known;
use crate::app::text::{Fields, FixedText, is_wsp};

/// The sent-by host of every via-parm of every Via header, in header order
/// (the topmost first: the last hop's, RFC 3261 §8.1.1.7). IPv6 references
/// lose their brackets (`[2001:db8::1]:5060` → `2001:db8::1`), ports and
/// parameters are left out. A via-parm without a readable sent-by is
/// skipped.
#[derive(Clone, Debug)]
pub struct ViaHosts<'a> {
    fields: Fields<'a>,
    /// The rest of the Via value being walked.
    value: &'a [u8],
}

impl<'a> ViaHosts<'a> {
    /// The hosts of `first` (a Via value), then of every Via field of the
    /// header lines `after` it.
    pub(super) fn new(first: &'a [u8], after: &'a [u8]) -> Self {
        ViaHosts {
            fields: Fields::new(after),
            value: first,
        }
    }
}

impl<'a> Iterator for ViaHosts<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            if self.value.is_empty() {
                let via = self
                    .fields
                    .find(|f| Known::of(f.name) == Some(Known::Via))?;
                self.value = via.value.raw;
                continue;
            }
            let (host, rest) = via_parm(self.value);
            self.value = rest;
            if let Some(host) = host {
                return Some(host);
            }
        }
    }
}

/// LWS inside a header value: SP, HTAB and the line breaks of folding.
fn is_lws(b: u8) -> bool {
    is_wsp(b) || b == b'\r' || b == b'\n'
}

fn skip_lws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| is_lws(c)).count();
    b.get(n..).unwrap_or(&[])
}

/// One via-parm from the front of `v`: its host (if readable) and what
/// follows the comma that ends it.
///
/// ```text
/// via-parm      = sent-protocol LWS sent-by *( SEMI via-params )
/// sent-protocol = protocol-name SLASH protocol-version SLASH transport
/// ```
fn via_parm(v: &[u8]) -> (Option<&[u8]>, &[u8]) {
    let (parm, rest) = split_parm(v);
    (sent_by_host(parm), rest)
}

/// The via-parm at the front of `v` and what follows its comma; a comma
/// inside a quoted string (a via-extension's value) does not end it.
fn split_parm(v: &[u8]) -> (&[u8], &[u8]) {
    let mut quoted = false;
    let mut escaped = false;
    for (i, &b) in v.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b',' if !quoted => {
                return (v.get(..i).unwrap_or(&[]), v.get(i + 1..).unwrap_or(&[]));
            }
            _ => {}
        }
    }
    (v, b"")
}

fn sent_by_host(parm: &[u8]) -> Option<&[u8]> {
    // sent-protocol: three tokens joined by slashes, LWS allowed around them.
    let mut rest = skip_lws(parm);
    for part in 0..3 {
        let n = rest
            .iter()
            .take_while(|&&b| !is_lws(b) && b != b'/')
            .count();
        if n == 0 {
            return None;
        }
        rest = skip_lws(rest.get(n..)?);
        if part < 2 {
            rest = skip_lws(rest.strip_prefix(b"/")?);
        }
    }
    // sent-by = host [ COLON port ]
    if let Some(v6) = rest.strip_prefix(b"[") {
        // IPv6reference = "[" IPv6address "]": hex digits, colons and the
        // dots of an embedded IPv4 address.
        let close = v6.iter().position(|&b| b == b']')?;
        return v6.get(..close).filter(|h| {
            !h.is_empty()
                && h.iter()
                    .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        });
    }
    let n = rest
        .iter()
        .take_while(|&&b| !is_lws(b) && !b":;,>".contains(&b))
        .count();
    rest.get(..n).filter(|h| !h.is_empty())
}

/// Writes `hosts` into `out`, `,` between them (GATEWAYS). Only whole hosts
/// are written; false — and `out` marked truncated — when one did not fit
/// (it and every later host are left out).
pub fn join_hosts<'h, const N: usize>(
    hosts: impl IntoIterator<Item = &'h [u8]>,
    out: &mut FixedText<N>,
) -> bool {
    for host in hosts {
        let sep: &[u8] = if out.is_empty() { b"" } else { b"," };
        if out.room() < sep.len() + host.len() {
            out.mark_truncated();
            return false;
        }
        out.push_whole(sep);
        out.push_whole(host);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(headers: &[u8]) -> Vec<String> {
        ViaHosts::new(b"", headers)
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect()
    }

    #[test]
    fn every_via_and_every_value_top_first() {
        let headers = b"Via: SIP/2.0/UDP 10.35.60.72:5060;branch=z9hG4bK.iIiIiI.0a232819.e9d4bd\r\n\
To: <sip:a@b>\r\n\
v: SIP/2.0/TCP proxy.example.com;branch=z9hG4bK2, SIP / 2.0 / UDP [2001:db8::1]:5061;received=192.0.2.1\r\n\
VIA: SIP/2.0/UDP 192.168.1.2;branch=z9hG4bKnp151248737-46ea715e192.168.1.2;rport\r\n\r\n";
        assert_eq!(
            hosts(headers),
            [
                "10.35.60.72",
                "proxy.example.com",
                "2001:db8::1",
                "192.168.1.2"
            ]
        );
    }

    #[test]
    fn folded_and_quoted_vias() {
        let headers = b"Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1,\r\n  SIP/2.0/TCP\r\n\t[2001:db8::2];x=\"q,uo\\\"ted\"\r\nv: SIP/2.0/SCTP b.example\r\n";
        assert_eq!(hosts(headers), ["a.example", "2001:db8::2", "b.example"]);
    }

    #[test]
    fn unreadable_via_parms_are_skipped() {
        let headers =
            b"Via: garbage, SIP/2.0/UDP, SIP/2.0/UDP [::1, SIP/2.0/UDP ok.example ,,\r\nVia:\r\n";
        assert_eq!(hosts(headers), ["ok.example"]);
        assert!(hosts(b"").is_empty());
    }

    #[test]
    fn joined_hosts_are_whole_and_flagged_when_cut() {
        let list: [&[u8]; 3] = [b"10.0.0.1", b"proxy.example", b"2001:db8::1"];
        let mut out = FixedText::<64>::new();
        assert!(join_hosts(list, &mut out));
        assert_eq!(out.as_bytes(), b"10.0.0.1,proxy.example,2001:db8::1");
        assert!(!out.is_truncated());
        let mut small = FixedText::<20>::new();
        assert!(!join_hosts(list, &mut small));
        assert_eq!(small.as_bytes(), b"10.0.0.1");
        assert!(small.is_truncated());
    }
}
