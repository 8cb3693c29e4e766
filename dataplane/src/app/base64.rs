//! Base64 (RFC 4648 §4, the standard alphabet) decoded into a caller's
//! buffer: what SASL exchanges carry (RFC 6120 §6.4.2 for XMPP). No
//! allocation, no panic, whatever the input.

/// The value of one base64 digit, `None` for any other octet.
const fn digit(c: u8) -> Option<u32> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// Decodes `text` into `out` and returns the decoded octets. White space
/// (folded SASL data) is passed over; decoding stops at `=` padding, at the
/// first octet that is no base64 digit, or when `out` is full, with what was
/// whole so far — a value cut by a bounded copy still yields its start.
pub fn decode<'o>(text: &[u8], out: &'o mut [u8]) -> &'o [u8] {
    let (mut acc, mut bits, mut len) = (0u32, 0u32, 0usize);
    for &c in text {
        if c.is_ascii_whitespace() {
            continue;
        }
        let Some(d) = digit(c) else {
            break;
        };
        acc = (acc << 6 | d) & 0xff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            let Some(slot) = out.get_mut(len) else {
                break;
            };
            // The octet is the 8 bits above the `bits` still pending.
            *slot = (acc >> bits) as u8;
            len += 1;
        }
    }
    out.get(..len).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_test_vectors() {
        let mut out = [0u8; 16];
        for (enc, dec) in [
            (&b""[..], &b""[..]),
            (b"Zg==", b"f"),
            (b"Zm8=", b"fo"),
            (b"Zm9v", b"foo"),
            (b"Zm9vYg==", b"foob"),
            (b"Zm9vYmE=", b"fooba"),
            (b"Zm9vYmFy", b"foobar"),
            (b"Zm9v\r\n YmFy", b"foobar"),
        ] {
            assert_eq!(decode(enc, &mut out), dec, "{enc:?}");
        }
    }

    #[test]
    fn a_bad_digit_or_a_full_buffer_stops_with_what_was_whole() {
        let mut out = [0u8; 16];
        assert_eq!(decode(b"Zm9v!YmFy", &mut out), b"foo");
        // "AHRvbQBwdw==" is "\0tom\0pw"; the last group cut after one digit.
        assert_eq!(decode(b"AHRvbQBwd", &mut out), b"\0tom\0p");
        let mut small = [0u8; 4];
        assert_eq!(decode(b"Zm9vYmFy", &mut small), b"foob");
    }
}
