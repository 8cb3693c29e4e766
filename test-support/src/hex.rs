//! Hex text of octets, both ways.

use std::fmt::Write as _;

/// `data` as lower-case hex, two digits an octet.
pub fn hex(data: &[u8]) -> String {
    hex_head(data, data.len())
}

/// Up to `max` octets as hex, with an ellipsis when cut.
pub fn hex_head(data: &[u8], max: usize) -> String {
    let mut s = String::with_capacity(2 * max.min(data.len()) + 3);
    for b in data.iter().take(max) {
        let _ = write!(s, "{b:02x}");
    }
    if data.len() > max {
        s.push('…');
    }
    s
}

/// The octets of hex text; white space between the digits is ignored.
pub fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in {text:?}"
    );
    digits
        .chunks_exact(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or_else(|_| panic!("not hex: {text:?}"));
            u8::from_str_radix(pair, 16).unwrap_or_else(|_| panic!("not hex: {text:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_head() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00 ab\n10"), [0x00, 0xab, 0x10]);
        assert_eq!(hex_head(&[1, 2, 3], 2), "0102…");
        assert_eq!(hex_head(&[1, 2], 2), "0102");
    }
}
