//! A data record encoded for one limit, cut again to fit a smaller one: the
//! workers encode fields whole (up to 65 535 octets) when a stream has TCP
//! collectors, and each UDP collector's records are refitted to its MTU.
//!
//! The record is read field by field through its template, each field seen
//! again as a [`Field`] (strings as [`Text`], cut on a character boundary;
//! octet arrays as [`Octets`]; fixed fields copied), and planned and written
//! by the encoder: the same cuts as if the worker had encoded for the smaller
//! limit.

use crate::codec::Reader;
use crate::encoder::{self, EncodeError, Plan};
use crate::field::{Field, Octets, Text, WireKind, read_varlen};
use crate::ie::DataType;
use crate::template::Template;

/// Fields of a template at most (the largest has 31).
const MAX_FIELDS: usize = 64;

/// Why a record could not be refitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefitError {
    /// The octets are not a record of the template (a worker's bug).
    NotTheTemplate,
    /// Even with every variable field empty it does not fit.
    TooLong { min: usize, limit: usize },
}

/// One field of an encoded record.
enum Part<'a> {
    Fixed(&'a [u8]),
    Text(Text<'a>),
    Octets(Octets<'a>),
}

impl Field for Part<'_> {
    fn wire_kind(&self) -> WireKind {
        match self {
            Part::Fixed(_) => WireKind::Octets,
            Part::Text(t) => t.wire_kind(),
            Part::Octets(o) => o.wire_kind(),
        }
    }
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Part::Fixed(b) => Some(b.len()),
            _ => None,
        }
    }
    fn content_len_within(&self, cap: usize) -> usize {
        match self {
            Part::Fixed(_) => 0,
            Part::Text(t) => t.content_len_within(cap),
            Part::Octets(o) => o.content_len_within(cap),
        }
    }
    fn write_fixed(&self, out: &mut Vec<u8>) {
        if let Part::Fixed(b) = self {
            out.extend_from_slice(b);
        }
    }
    fn write_content(&self, cap: usize, out: &mut Vec<u8>) -> usize {
        match self {
            Part::Fixed(_) => 0,
            Part::Text(t) => t.write_content(cap, out),
            Part::Octets(o) => o.write_content(cap, out),
        }
    }
}

/// Appends `record` (a data record of `template`) to `out`, its variable
/// fields cut to one common cap so that it takes at most `limit` octets;
/// `out` must have `limit` octets of spare capacity (it never grows).
pub fn refit(
    template: Template,
    record: &[u8],
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<Plan, RefitError> {
    let mut parts: [Part<'_>; MAX_FIELDS] = core::array::from_fn(|_| Part::Fixed(&[]));
    let mut n = 0;
    let mut r = Reader::new(record);
    for ie in template.elements() {
        let part = match ie.data_type.fixed_len() {
            Some(len) => Part::Fixed(r.take(usize::from(len)).ok_or(RefitError::NotTheTemplate)?),
            None => {
                let content = read_varlen(&mut r).ok_or(RefitError::NotTheTemplate)?;
                match ie.data_type {
                    DataType::String => Part::Text(Text::new(content)),
                    _ => Part::Octets(Octets(content)),
                }
            }
        };
        *parts.get_mut(n).ok_or(RefitError::NotTheTemplate)? = part;
        n += 1;
    }
    if r.any_left() {
        return Err(RefitError::NotTheTemplate);
    }
    let refs: [&dyn Field; MAX_FIELDS] = core::array::from_fn(|i| {
        let p: &dyn Field = parts.get(i).unwrap_or(&Part::Fixed(&[]));
        p
    });
    encoder::encode_fields(refs.get(..n).unwrap_or_default(), limit, out).map_err(|e| match e {
        EncodeError::TooLong { min, limit } => RefitError::TooLong { min, limit },
        EncodeError::NoRoom { needed } => RefitError::TooLong { min: needed, limit },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::{encode, record_len};
    use crate::samples;
    use crate::template::{Clickstream, Record};

    fn request<'a>(path: &'a str, cookie: &'a str) -> Clickstream<'a> {
        Clickstream {
            path: Text::from_str(path),
            cookie: Text::from_str(cookie),
            ..samples::clickstream(1, false)
        }
    }

    /// The fields of a record of `t`: Ok(content) of a variable one, Err(octets) of a fixed one.
    fn fields(t: Template, rec: &[u8]) -> Vec<Result<&[u8], &[u8]>> {
        let mut r = Reader::new(rec);
        let out = t
            .elements()
            .map(|ie| match ie.data_type.fixed_len() {
                Some(n) => Err(r.take(usize::from(n)).unwrap()),
                None => Ok(read_varlen(&mut r).unwrap()),
            })
            .collect();
        assert!(!r.any_left());
        out
    }

    #[test]
    fn a_refitted_record_is_what_the_worker_would_have_encoded_for_the_limit() {
        let path = "/".to_string() + &"é".repeat(3000) + "x";
        let cookie = "c".repeat(5000);
        let r = request(&path, &cookie);
        let whole_len = record_len(&r);
        assert!(whole_len > 9000);
        let mut whole = Vec::with_capacity(whole_len);
        assert!(!encode(&r, 65_535, &mut whole).unwrap().truncated);
        for limit in [whole_len, 1400, 700, 301] {
            let mut direct = Vec::with_capacity(limit);
            let want = encode(&r, limit, &mut direct).unwrap();
            let mut again = Vec::with_capacity(limit);
            let got = refit(r.template(), &whole, limit, &mut again).unwrap();
            assert_eq!((got, &again), (want, &direct), "limit {limit}");
            assert!(again.len() <= limit);
        }
    }

    #[test]
    fn strings_stay_utf8_and_fixed_fields_whole() {
        let path = "/".to_string() + &"日本".repeat(500);
        let r = request(&path, "");
        let t = r.template();
        let mut whole = Vec::with_capacity(65_535);
        encode(&r, 65_535, &mut whole).unwrap();
        let mut cut = Vec::with_capacity(500);
        assert!(refit(t, &whole, 500, &mut cut).unwrap().truncated);
        for ((ie, c), w) in t.elements().zip(fields(t, &cut)).zip(fields(t, &whole)) {
            match (c, w) {
                (Ok(c), Ok(w)) => {
                    assert!(w.starts_with(c), "{}", ie.name);
                    if ie.data_type == DataType::String {
                        assert!(core::str::from_utf8(c).is_ok(), "{}", ie.name);
                    }
                }
                (c, w) => assert_eq!(c, w, "{}: a fixed field is copied", ie.name),
            }
        }
    }

    #[test]
    fn octets_that_are_no_record_of_the_template_are_refused() {
        let r = request("/", "");
        let mut whole = Vec::with_capacity(65_535);
        encode(&r, 65_535, &mut whole).unwrap();
        let mut out = Vec::with_capacity(1400);
        let longer = [whole.as_slice(), &[0]].concat();
        for bad in [&whole[..whole.len() - 1], longer.as_slice()] {
            assert_eq!(
                refit(r.template(), bad, 1400, &mut out),
                Err(RefitError::NotTheTemplate)
            );
        }
        assert!(matches!(
            refit(r.template(), &whole, 20, &mut out),
            Err(RefitError::TooLong { limit: 20, .. })
        ));
    }
}
