//! DNS RDATA and names as text, for the DNS text log (spec §8: "rdata is written
//! readable: addresses as text, names dotted, other types hex").
//!
//! Moved here from `metaprobe_dataplane::app::dns` (its `write_rdata_text`,
//! `RdataText`, `write_name_text`, `write_hex`, `rdata_layout`) so that the export
//! side, which writes the log, renders RDATA without depending on the dataplane; the
//! output is the same, octet for octet. Types are plain `u16` RRTYPE values here.
//!
//! RDATA is the exported one: names inside it written uncompressed (spec §8), so it is
//! readable without the rest of the message.

use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Longest label (RFC 1035 §2.3.4).
pub const LABEL_MAX: usize = 63;

/// RRTYPE A.
pub const TYPE_A: u16 = 1;
/// RRTYPE SOA.
pub const TYPE_SOA: u16 = 6;
/// RRTYPE AAAA.
pub const TYPE_AAAA: u16 = 28;

/// One piece of an RDATA layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Piece {
    /// This many octets, copied.
    Fixed(usize),
    /// A domain name, possibly compressed; written uncompressed.
    Name,
    /// A `<character-string>` (a length octet and that many octets), copied.
    CharString,
}

/// The RDATA layout of the types whose RDATA holds domain names that may be compressed
/// (RFC 1035 §3.3, RFC 3597 §4, and the SRV/NAPTR/DNAME/KX/PX types decoders meet
/// compressed in practice); `None` for every other type (RDATA copied as is).
pub const fn rdata_layout(rrtype: u16) -> Option<&'static [Piece]> {
    use Piece::{CharString, Fixed, Name};
    Some(match rrtype {
        // NS MD MF CNAME MB MG MR PTR DNAME
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => &[Name],
        // SOA: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
        6 => &[Name, Name, Fixed(20)],
        // MINFO RMAILBX EMAILBX; RP mbox txt
        14 | 17 => &[Name, Name],
        // MX, AFSDB, RT, KX: preference + name
        15 | 18 | 21 | 36 => &[Fixed(2), Name],
        // PX: preference MAP822 MAPX400
        26 => &[Fixed(2), Name, Name],
        // SRV: priority weight port target
        33 => &[Fixed(6), Name],
        // NAPTR: order preference flags services regexp replacement
        35 => &[Fixed(4), CharString, CharString, CharString, Name],
        _ => return None,
    })
}

/// RDATA as text: A/AAAA as addresses, names dotted (with the other fields of SOA, MX,
/// SRV, … in decimal, space-separated), every other type — or RDATA that does not have
/// its type's layout — lowercase hex. `rdata` has its names uncompressed. Label octets
/// outside `!`..`~`, and `.` and `\` inside a label, are escaped as in master files
/// (`\DDD`, `\.`), so the text has no separator or control character.
pub fn write_rdata_text<W: fmt::Write>(out: &mut W, rrtype: u16, rdata: &[u8]) -> fmt::Result {
    match (rrtype, rdata) {
        (TYPE_A, &[a, b, c, d]) => return write!(out, "{}", Ipv4Addr::new(a, b, c, d)),
        (TYPE_AAAA, r) => {
            if let Ok(o) = <[u8; 16]>::try_from(r) {
                return write!(out, "{}", Ipv6Addr::from(o));
            }
        }
        _ => {}
    }
    if let Some(layout) = rdata_layout(rrtype)
        && walk_text(&mut NoText, rrtype, layout, rdata).is_ok()
    {
        return walk_text(out, rrtype, layout, rdata);
    }
    write_hex(out, rdata)
}

/// [`write_rdata_text`] as a `Display` value (no allocation).
#[derive(Clone, Copy, Debug)]
pub struct RdataText<'a> {
    pub rrtype: u16,
    pub rdata: &'a [u8],
}

impl fmt::Display for RdataText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_rdata_text(f, self.rrtype, self.rdata)
    }
}

/// Writes a dotted name with the escapes of [`write_rdata_text`]; `.` for the root.
pub fn write_name_text<W: fmt::Write>(out: &mut W, dotted: &[u8]) -> fmt::Result {
    if dotted.is_empty() {
        return out.write_char('.');
    }
    for &b in dotted {
        if b == b'.' {
            out.write_char('.')?;
        } else {
            write_label_octet(out, b)?;
        }
    }
    Ok(())
}

/// Lowercase hex.
pub fn write_hex<W: fmt::Write>(out: &mut W, bytes: &[u8]) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(out, "{b:02x}"))
}

/// A writer that discards: the dry run that checks a layout before any text is written.
struct NoText;

impl fmt::Write for NoText {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

/// Renders `rdata` piece by piece; `Err` when it does not follow `layout` exactly.
fn walk_text<W: fmt::Write>(
    out: &mut W,
    rrtype: u16,
    layout: &[Piece],
    rdata: &[u8],
) -> fmt::Result {
    let mut rest = rdata;
    for (i, piece) in layout.iter().enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        match *piece {
            Piece::Fixed(n) => {
                let (b, r) = rest.split_at_checked(n).ok_or(fmt::Error)?;
                rest = r;
                write_fixed_text(out, rrtype, b)?;
            }
            Piece::CharString => {
                let (&n, r) = rest.split_first().ok_or(fmt::Error)?;
                let (s, r) = r.split_at_checked(usize::from(n)).ok_or(fmt::Error)?;
                rest = r;
                out.write_char('"')?;
                for &b in s {
                    match b {
                        b'"' | b'\\' => {
                            out.write_char('\\')?;
                            out.write_char(char::from(b))?;
                        }
                        b' '..=b'~' => out.write_char(char::from(b))?,
                        _ => write!(out, "\\{b:03}")?,
                    }
                }
                out.write_char('"')?;
            }
            Piece::Name => rest = write_wire_name(out, rest)?,
        }
    }
    if rest.is_empty() {
        Ok(())
    } else {
        Err(fmt::Error)
    }
}

/// Fixed fields as decimal numbers: 16-bit fields, except SOA's five 32-bit ones.
fn write_fixed_text<W: fmt::Write>(out: &mut W, rrtype: u16, b: &[u8]) -> fmt::Result {
    let width = if rrtype == TYPE_SOA { 4 } else { 2 };
    for (i, c) in b.chunks(width).enumerate() {
        if i > 0 {
            out.write_char(' ')?;
        }
        let v = c.iter().fold(0u32, |v, &x| v << 8 | u32::from(x));
        write!(out, "{v}")?;
    }
    Ok(())
}

/// Writes the uncompressed name at the start of `b` dotted; returns what follows it.
fn write_wire_name<'r, W: fmt::Write>(
    out: &mut W,
    mut b: &'r [u8],
) -> Result<&'r [u8], fmt::Error> {
    let mut first = true;
    loop {
        let (&n, r) = b.split_first().ok_or(fmt::Error)?;
        if n == 0 {
            if first {
                out.write_char('.')?;
            }
            return Ok(r);
        }
        if usize::from(n) > LABEL_MAX {
            return Err(fmt::Error);
        }
        let (label, r) = r.split_at_checked(usize::from(n)).ok_or(fmt::Error)?;
        if !first {
            out.write_char('.')?;
        }
        first = false;
        for &c in label {
            write_label_octet(out, c)?;
        }
        b = r;
    }
}

fn write_label_octet<W: fmt::Write>(out: &mut W, b: u8) -> fmt::Result {
    match b {
        b'.' | b'\\' => {
            out.write_char('\\')?;
            out.write_char(char::from(b))
        }
        b'!'..=b'~' => out.write_char(char::from(b)),
        _ => write!(out, "\\{b:03}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn text(t: u16, rdata: &[u8]) -> String {
        RdataText { rrtype: t, rdata }.to_string()
    }

    // The vectors of the dataplane's tests (uncompressed RDATA of real responses).

    #[test]
    fn addresses() {
        assert_eq!(text(1, &hex("cc98be0c")), "204.152.190.12");
        assert_eq!(
            text(28, &hex("200104f80004000702e081fffe529a6b")),
            "2001:4f8:4:7:2e0:81ff:fe52:9a6b"
        );
        // Wrong lengths: hex.
        assert_eq!(text(1, &[1, 2, 3]), "010203");
        assert_eq!(text(28, &[1, 2, 3, 4]), "01020304");
    }

    #[test]
    fn names_and_their_fields() {
        assert_eq!(
            text(5, &hex("03777777016c06676f6f676c6503636f6d00")),
            "www.l.google.com"
        );
        assert_eq!(
            text(
                12,
                &hex("0c36362d3139322d392d3130340367656e09747774656c65636f6d036e657400")
            ),
            "66-192-9-104.gen.twtelecom.net"
        );
        assert_eq!(
            text(15, &hex("000a 05736d747035 06676f6f676c65 03636f6d 00")),
            "10 smtp5.google.com"
        );
        assert_eq!(
            text(
                6,
                &hex("076e73312d323035 09617a7572652d646e73 03636f6d 00
                 13617a757265646e732d686f73746d6173746572 096d6963726f736f6674 03636f6d 00
                 00000001 00000e10 0000012c 0024ea00 0000012c")
            ),
            "ns1-205.azure-dns.com azuredns-hostmaster.microsoft.com 1 3600 300 2419200 300"
        );
        assert_eq!(
            text(
                33,
                &hex("0000 0005 13c4 03736970 076578616d706c65 03636f6d 00")
            ),
            "0 5 5060 sip.example.com"
        );
        // TXT is not a name type: hex.
        assert_eq!(
            text(16, &hex("0f763d7370663120707472203f616c6c")),
            "0f763d7370663120707472203f616c6c"
        );
    }

    #[test]
    fn rendering() {
        // Escapes in names, hex for unknown types and for bad layouts.
        let mut s = String::new();
        write_name_text(&mut s, b"a b.c\\d:e\x01").unwrap();
        assert_eq!(s, "a\\032b.c\\\\d:e\\001");
        let mut s = String::new();
        write_name_text(&mut s, b"").unwrap();
        assert_eq!(s, ".");
        assert_eq!(text(5, &hex("03 612e62 00")), "a\\.b");
        assert_eq!(text(5, &hex("00")), ".");
        assert_eq!(text(5, &hex("03 6162")), "036162");
        assert_eq!(text(5, &hex("01 61 00 ff")), "016100ff");
        assert_eq!(text(5, &hex("40 00")), "4000", "label > 63: hex");
        assert_eq!(text(48, &hex("0101 03 08")), "01010308");
        assert_eq!(text(1234, &[]), "");
        assert_eq!(
            text(35, &hex("0064 000a 0155 07452e3249552b73 00 01 61 00")),
            "100 10 \"U\" \"E.2IU+s\" \"\" a"
        );
    }
}
