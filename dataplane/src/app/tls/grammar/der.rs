//! X.509: the subject's common name, by a DER walk (no validation).
//!
//! ```text
//! Certificate ::= SEQUENCE { tbsCertificate TBSCertificate, ... }
//! TBSCertificate ::= SEQUENCE {
//!     version [0] EXPLICIT Version DEFAULT v1, serialNumber INTEGER,
//!     signature AlgorithmIdentifier, issuer Name, validity Validity,
//!     subject Name, ... }
//! Name ::= SEQUENCE OF RelativeDistinguishedName
//! RelativeDistinguishedName ::= SET OF AttributeTypeAndValue
//! AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }
//! ```

use super::*;

/// DER tags and the OID this walk looks for.
mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OID: u8 = 0x06;
    pub const UNIVERSAL_STRING: u8 = 0x1c;
    pub const BMP_STRING: u8 = 0x1e;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    pub const VERSION: u8 = 0xa0;
    /// id-at-commonName, 2.5.4.3.
    pub const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
}

pub(super) fn subject_common_name(hs: &mut Handshake<'_>) -> Result<Certificate, Halt> {
    let cert = der_expect(hs, tag::SEQUENCE)?;
    let _cert = hs.sub(cert)?;
    let tbs = der_expect(hs, tag::SEQUENCE)?;
    let _tbs = hs.sub(tbs)?;
    let (mut tag, mut len) = der_header(hs)?;
    if tag == tag::VERSION {
        hs.skip(len)?;
        (tag, len) = der_header(hs)?;
    }
    if tag != tag::INTEGER {
        return Err(hs.fail(Reason::Der));
    }
    hs.skip(len)?;
    for _ in ["signature", "issuer", "validity"] {
        let len = der_expect(hs, tag::SEQUENCE)?;
        hs.skip(len)?;
    }
    let subject = der_expect(hs, tag::SEQUENCE)?;
    let _subject = hs.sub(subject)?;
    while hs.left() > 0 {
        let rdn = der_expect(hs, tag::SET)?;
        let rdn = hs.sub(rdn)?;
        while hs.left() > 0 {
            let atv = der_expect(hs, tag::SEQUENCE)?;
            let atv = hs.sub(atv)?;
            let oid_len = der_expect(hs, tag::OID)?;
            if oid_len == tag::COMMON_NAME.len() {
                let mut oid = [0u8; 3];
                hs.read_into(oid_len, &mut oid)?;
                if oid == tag::COMMON_NAME {
                    return Ok(Certificate::CommonName(directory_string(hs)?));
                }
            } else {
                hs.skip(oid_len)?;
            }
            hs.skip(hs.left())?;
            hs.end_sub(atv);
        }
        hs.end_sub(rdn);
    }
    Ok(Certificate::NoCommonName)
}

/// A DirectoryString (RFC 5280 §4.1.2.4) as UTF-8: BMPString (UCS-2) and
/// UniversalString (UCS-4) are converted, the 8-bit kinds (UTF8String,
/// PrintableString, IA5String, TeletexString) kept as they are.
fn directory_string(hs: &mut Handshake<'_>) -> Result<Name, Halt> {
    let (tag, len) = der_header(hs)?;
    let mut name = Name::EMPTY;
    let width = match tag {
        tag::BMP_STRING => 2,
        tag::UNIVERSAL_STRING => 4,
        _ => 1,
    };
    if width == 1 {
        let kept = hs.read_into(len, &mut name.bytes)?;
        name.len = u8::try_from(kept).unwrap_or(u8::MAX);
        name.truncated = kept < len;
        return Ok(name);
    }
    // At most NAME_CAP characters are looked at; the rest is skipped.
    let units = (len / width).min(NAME_CAP);
    for _ in 0..units {
        let mut cp = 0u32;
        for _ in 0..width {
            cp = (cp << 8) | u32::from(hs.u8()?);
        }
        name.push_char(char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    let rest = len - units * width;
    if rest >= width {
        name.truncated = true;
    }
    hs.skip(rest)?;
    Ok(name)
}

/// A DER tag and definite length (short form, or long form of 1–3 octets).
fn der_header(hs: &mut Handshake<'_>) -> Result<(u8, usize), Halt> {
    let tag = hs.u8()?;
    if tag & 0x1f == 0x1f {
        return Err(hs.fail(Reason::Der));
    }
    let first = hs.u8()?;
    if first < 0x80 {
        return Ok((tag, usize::from(first)));
    }
    let n = first & 0x7f;
    if n == 0 || n > 3 {
        return Err(hs.fail(Reason::Der));
    }
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(hs.u8()?);
    }
    Ok((tag, len))
}

fn der_expect(hs: &mut Handshake<'_>, tag: u8) -> Result<usize, Halt> {
    let (t, len) = der_header(hs)?;
    if t != tag {
        return Err(hs.fail(Reason::Der));
    }
    Ok(len)
}
