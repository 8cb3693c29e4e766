//! DNS (RFC 1035): the answer records of a response, names decompressed; DNS over TCP
//! framing; readable RDATA for the text log.
//!
//! # Contract
//!
//! * [`Answers`] walks one DNS message (`&[u8]`: a UDP payload, or a message framed by
//!   [`tcp_frame`]) and yields, for a **response**, one [`Record`] per answer-section
//!   RR — owner name, RRTYPE, RRCLASS, TTL, RDATA — or, when the answer section is
//!   empty, one record with the question's name and type, TTL 0 and empty RDATA
//!   ([`RecordKind::Question`]). A query yields nothing. Authority and additional
//!   sections are not read.
//! * No allocation, no panic, no `unsafe`, whatever the bytes. Names are written into a
//!   caller-provided [`RecordBuf`] (fixed arrays); a record borrows it until the next
//!   call, so the walk is a *lending* cursor (`next(&mut buf)`), not an `Iterator`.
//! * Names: labels of at most 63 octets, at most 255 octets in wire form; a compression
//!   pointer must point strictly before the start of the run of labels it ends (so
//!   every pointer moves backwards and a loop is impossible: any loop needs a pointer
//!   that does not), and a name follows at most [`POINTER_HOPS_MAX`] pointers.
//! * RDATA is the record's data as on the wire, except that the domain names inside
//!   the RDATA of the types in [`rdata_layout`] (NS, CNAME, SOA, PTR, MX, SRV, DNAME,
//!   …) are written out uncompressed (wire form: length-prefixed labels and the root
//!   octet), so a collector can read it without the rest of the message. Every other
//!   type is borrowed from the message unchanged (RFC 3597 §4: only the well-known
//!   types may be compressed; RFC 4034 forbids it in RRSIG/NSEC signer and next names).
//! * Errors are a small `Copy` [`DnsError`] that indexes counters
//!   (`[u64; DnsError::COUNT]`). An error in the header, the question section or an
//!   answer's owner name/fixed part ends the walk (the framing is lost); an error inside
//!   one RR's RDATA ([`DnsError::BadRdata`], [`DnsError::RdataTooLong`], or a name error
//!   there) skips that RR only — its RDLENGTH still frames the next one.
//!
//! ```text
//!                                 1  1  1  1  1  1
//!   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! |                      ID                       |
//! |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//! |                    QDCOUNT                    |
//! |                    ANCOUNT                    |
//! |                    NSCOUNT                    |
//! |                    ARCOUNT                    |
//! +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! question: QNAME QTYPE(2) QCLASS(2)
//! RR:       NAME TYPE(2) CLASS(2) TTL(4) RDLENGTH(2) RDATA(RDLENGTH)
//! ```

use core::fmt;

// The RDATA layouts are shared with the text log's rendering (export side).
use metaprobe_ipfix::codec::Reader;
use metaprobe_ipfix::dns_text::{Piece, rdata_layout};

use crate::app::Outcome;

/// Octets of the fixed DNS header.
pub const HEADER_LEN: usize = 12;
/// Longest label (RFC 1035 §2.3.4).
pub const LABEL_MAX: usize = 63;
/// Longest name in wire form, length octets and the root octet included (RFC 1035 §2.3.4).
pub const NAME_MAX: usize = 255;
/// Capacity of the dotted-name buffer of a [`RecordBuf`]: a name of 255 wire octets is
/// at most 253 characters dotted.
pub const NAME_TEXT_CAP: usize = 255;
/// Capacity of the RDATA buffer of a [`RecordBuf`]. The largest RDATA with names of
/// [`rdata_layout`] is NAPTR: 4 + 3 × 256 (character strings) + 255 (a name) = 1027.
pub const RDATA_CAP: usize = 1088;
/// Most compression pointers one name may follow. A legal name has at most 127 labels,
/// each reached by at most one pointer.
pub const POINTER_HOPS_MAX: usize = 127;
/// Largest message DNS over TCP can carry (a 2-octet length).
pub const TCP_MESSAGE_MAX: usize = u16::MAX as usize;

/// A resource record type (open: unknown values are data).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrType(pub u16);

impl RrType {
    pub const A: Self = Self(1);
    pub const NS: Self = Self(2);
    pub const MD: Self = Self(3);
    pub const MF: Self = Self(4);
    pub const CNAME: Self = Self(5);
    pub const SOA: Self = Self(6);
    pub const MB: Self = Self(7);
    pub const MG: Self = Self(8);
    pub const MR: Self = Self(9);
    pub const NULL: Self = Self(10);
    pub const PTR: Self = Self(12);
    pub const HINFO: Self = Self(13);
    pub const MINFO: Self = Self(14);
    pub const MX: Self = Self(15);
    pub const TXT: Self = Self(16);
    pub const RP: Self = Self(17);
    pub const AFSDB: Self = Self(18);
    pub const RT: Self = Self(21);
    pub const PX: Self = Self(26);
    pub const AAAA: Self = Self(28);
    pub const LOC: Self = Self(29);
    pub const SRV: Self = Self(33);
    pub const NAPTR: Self = Self(35);
    pub const KX: Self = Self(36);
    pub const DNAME: Self = Self(39);
    pub const OPT: Self = Self(41);
    pub const DS: Self = Self(43);
    pub const RRSIG: Self = Self(46);
    pub const NSEC: Self = Self(47);
    pub const DNSKEY: Self = Self(48);
    pub const SVCB: Self = Self(64);
    pub const HTTPS: Self = Self(65);
    pub const ANY: Self = Self(255);
    pub const CAA: Self = Self(257);

    /// The mnemonic of a known type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "A",
            2 => "NS",
            3 => "MD",
            4 => "MF",
            5 => "CNAME",
            6 => "SOA",
            7 => "MB",
            8 => "MG",
            9 => "MR",
            10 => "NULL",
            12 => "PTR",
            13 => "HINFO",
            14 => "MINFO",
            15 => "MX",
            16 => "TXT",
            17 => "RP",
            18 => "AFSDB",
            21 => "RT",
            26 => "PX",
            28 => "AAAA",
            29 => "LOC",
            33 => "SRV",
            35 => "NAPTR",
            36 => "KX",
            39 => "DNAME",
            41 => "OPT",
            43 => "DS",
            46 => "RRSIG",
            47 => "NSEC",
            48 => "DNSKEY",
            64 => "SVCB",
            65 => "HTTPS",
            255 => "ANY",
            257 => "CAA",
            _ => return None,
        })
    }
}

impl fmt::Debug for RrType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "RrType({} {n})", self.0),
            None => write!(f, "RrType({})", self.0),
        }
    }
}

/// A resource record class (open: unknown values are data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrClass(pub u16);

impl RrClass {
    pub const IN: Self = Self(1);
    pub const CH: Self = Self(3);
    pub const HS: Self = Self(4);
    pub const ANY: Self = Self(255);
}

/// What kind of problem a [`DnsError`] is; lets counters group them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsErrorKind {
    /// The message (or an RR) ends before the part its structure announced.
    Truncated,
    /// A field holds a value the protocol does not allow.
    Malformed,
    /// A bound of this parser was reached.
    Limit,
    /// Well-formed, but not parsed further.
    NotDecoded,
}

macro_rules! dns_errors {
    ($( $(#[$doc:meta])* $variant:ident = ($kind:ident, $name:literal), )+) => {
        /// Why a message, or one record of it, was not exported. Dense from 0 to
        /// [`DnsError::COUNT`] - 1: `counters[e.index()] += 1`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DnsError {
            $( $(#[$doc])* $variant, )+
        }

        impl DnsError {
            /// Every error, in index order.
            pub const ALL: &'static [DnsError] = &[$( DnsError::$variant, )+];
            /// Number of errors: the length of a counter array indexed by them.
            pub const COUNT: usize = Self::ALL.len();

            /// Truncated, malformed, over a limit, or not decoded further.
            pub const fn kind(self) -> DnsErrorKind {
                match self { $( DnsError::$variant => DnsErrorKind::$kind, )+ }
            }

            /// A short stable name for logs and statistics.
            pub const fn name(self) -> &'static str {
                match self { $( DnsError::$variant => $name, )+ }
            }
        }
    };
}

dns_errors! {
    /// Fewer than the 12 octets of the header.
    HeaderTruncated = (Truncated, "header_truncated"),
    /// A question, an RR's owner name, fixed part or RDATA runs past the message.
    Truncated = (Truncated, "truncated"),
    /// The counts do not match the message: it ends cleanly between records while the
    /// header announces more answers (without TC), or a response without answers has
    /// no question to report.
    BadCount = (Malformed, "bad_count"),
    /// A compression pointer that does not point strictly before the run of labels it
    /// ends. Every pointer loop contains one.
    PointerLoop = (Malformed, "pointer_loop"),
    /// More than [`POINTER_HOPS_MAX`] pointers in one name (a chain of pointers to
    /// pointers).
    TooManyPointers = (Limit, "too_many_pointers"),
    /// A label length octet above 63 that is not a pointer (0x40/0x80 label types).
    LabelTooLong = (Malformed, "label_too_long"),
    /// A name longer than 255 octets in wire form.
    NameTooLong = (Malformed, "name_too_long"),
    /// The RDATA of a type with names does not have that type's layout.
    BadRdata = (Malformed, "bad_rdata"),
    /// The RDATA with names written out does not fit [`RDATA_CAP`].
    RdataTooLong = (Limit, "rdata_too_long"),
    /// A response with an opcode other than QUERY (NOTIFY, UPDATE, …): not read.
    NotQuery = (NotDecoded, "not_query"),
    /// DNS over TCP: a message longer than the framer's cap; its octets are skipped.
    TcpMessageTooLong = (Limit, "tcp_message_too_long"),
}

impl DnsError {
    /// The counter index of this error.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The fixed header of a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Header {
    pub id: u16,
    /// Flags and codes (QR, Opcode, AA, TC, RD, RA, Z, RCODE).
    pub flags: u16,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

impl Header {
    /// Reads the header of `msg`.
    pub fn parse(msg: &[u8]) -> Result<Self, DnsError> {
        let (h, _) = msg
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(DnsError::HeaderTruncated)?;
        let [a, b, c, d, e, f, g, hh, i, j, k, l] = *h;
        Ok(Self {
            id: u16::from_be_bytes([a, b]),
            flags: u16::from_be_bytes([c, d]),
            qdcount: u16::from_be_bytes([e, f]),
            ancount: u16::from_be_bytes([g, hh]),
            nscount: u16::from_be_bytes([i, j]),
            arcount: u16::from_be_bytes([k, l]),
        })
    }

    /// QR: a response.
    pub const fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    /// Opcode (0 QUERY, 1 IQUERY, 2 STATUS, 4 NOTIFY, 5 UPDATE).
    pub const fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }

    /// TC: the message was truncated by the server.
    pub const fn is_truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }

    /// RCODE (3 = NXDOMAIN).
    pub const fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
}

/// Where a [`Record`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// An RR of the answer section.
    Answer,
    /// The stand-in for a response without answers: the question's name, type and
    /// class, TTL 0, empty RDATA.
    Question,
}

/// One exported record. Borrows the [`RecordBuf`] given to [`Answers::next`] (and the
/// message, for RDATA without names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'b> {
    /// The owner name (question name for [`RecordKind::Question`]), dotted, without
    /// the final dot; empty for the root. Label octets are copied as they are (a label
    /// holding a `.` is not escaped here; [`write_name_text`] escapes).
    pub name: &'b [u8],
    pub rrtype: RrType,
    pub rrclass: RrClass,
    pub ttl: u32,
    /// RDATA, names inside it uncompressed.
    pub rdata: &'b [u8],
    pub kind: RecordKind,
}

/// Fixed buffers a [`Record`] is written into (about 1.3 KiB; keep one per worker).
#[derive(Clone, Debug)]
pub struct RecordBuf {
    name: [u8; NAME_TEXT_CAP],
    rdata: [u8; RDATA_CAP],
}

impl RecordBuf {
    pub const fn new() -> Self {
        Self {
            name: [0; NAME_TEXT_CAP],
            rdata: [0; RDATA_CAP],
        }
    }
}

impl Default for RecordBuf {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Header and question section not read yet.
    Start,
    /// Reading the answer section at `pos`.
    Answers,
    /// Finished (or stopped by an error that lost the framing).
    Done,
}

/// The answer records of one DNS message: a lending cursor.
///
/// ```
/// use metaprobe_dataplane::app::dns::{Answers, RecordBuf};
/// # let payload: &[u8] = &[];
/// let mut buf = RecordBuf::new();
/// let mut answers = Answers::new(payload);
/// while let Some(r) = answers.next(&mut buf) {
///     match r {
///         Ok(record) => { /* fill a template::Dns from record */ let _ = record; }
///         Err(e) => { /* counters[e.index()] += 1 */ let _ = e; }
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Answers<'a> {
    msg: &'a [u8],
    state: State,
    header: Header,
    /// Next octet to read.
    pos: usize,
    /// Answers still announced by ANCOUNT.
    left: u16,
}

impl<'a> Answers<'a> {
    /// A cursor over `msg`; nothing is read until [`Answers::next`].
    pub const fn new(msg: &'a [u8]) -> Self {
        Self {
            msg,
            state: State::Start,
            header: Header {
                id: 0,
                flags: 0,
                qdcount: 0,
                ancount: 0,
                nscount: 0,
                arcount: 0,
            },
            pos: HEADER_LEN,
            left: 0,
        }
    }

    /// The header, once the first [`Answers::next`] has read it (zeroes before, or
    /// when it was truncated).
    pub const fn header(&self) -> Header {
        self.header
    }

    /// The next record, or the error that stopped one; `None` when there is no more.
    /// After an error that loses the framing every later call returns `None`.
    #[allow(clippy::should_implement_trait)] // a lending cursor: records borrow `buf`
    pub fn next<'b>(&mut self, buf: &'b mut RecordBuf) -> Option<Result<Record<'b>, DnsError>>
    where
        'a: 'b,
    {
        match self.state {
            State::Done => None,
            State::Start => match self.start() {
                Ok(Some((at, qtype, qclass))) => Some(self.question(buf, at, qtype, qclass)),
                Ok(None) => self.answer(buf),
                Err(Some(e)) => Some(Err(e)),
                Err(None) => None,
            },
            State::Answers => self.answer(buf),
        }
    }

    /// Reads the header and the question section. `Ok(None)`: answers follow;
    /// `Ok(Some((offset, qtype, qclass)))`: a response without answers, whose first
    /// question is reported; `Err(None)`: nothing to report (a query);
    /// `Err(Some(e))`: stopped by `e`.
    #[allow(clippy::type_complexity)]
    fn start(&mut self) -> Result<Option<(usize, u16, u16)>, Option<DnsError>> {
        self.state = State::Done;
        let h = Header::parse(self.msg)?;
        self.header = h;
        if !h.is_response() {
            return Err(None);
        }
        if h.opcode() != 0 {
            return Err(Some(DnsError::NotQuery));
        }
        let mut pos = HEADER_LEN;
        let mut first: Option<(usize, u16, u16)> = None;
        for _ in 0..h.qdcount {
            if pos == self.msg.len() && h.is_truncated() {
                break;
            }
            let start = pos;
            pos = read_name(self.msg, pos, self.msg.len(), &mut Discard)?;
            let fixed = self
                .msg
                .get(pos..pos.saturating_add(4))
                .ok_or(DnsError::Truncated)?;
            pos += 4;
            first.get_or_insert((start, be16(fixed, 0), be16(fixed, 2)));
        }
        if h.ancount > 0 {
            self.pos = pos;
            self.left = h.ancount;
            self.state = State::Answers;
            return Ok(None);
        }
        Ok(Some(first.ok_or(DnsError::BadCount)?))
    }

    /// The stand-in record of a response without answers.
    fn question<'b>(
        &self,
        buf: &'b mut RecordBuf,
        at: usize,
        qtype: u16,
        qclass: u16,
    ) -> Result<Record<'b>, DnsError> {
        let mut sink = Dotted::new(&mut buf.name);
        read_name(self.msg, at, self.msg.len(), &mut sink)?;
        let len = sink.len;
        Ok(Record {
            #[expect(
                clippy::indexing_slicing,
                reason = "the sink writes at most the buffer's length"
            )]
            name: &buf.name[..len],
            rrtype: RrType(qtype),
            rrclass: RrClass(qclass),
            ttl: 0,
            rdata: &[],
            kind: RecordKind::Question,
        })
    }

    /// Reads one answer RR.
    fn answer<'b>(&mut self, buf: &'b mut RecordBuf) -> Option<Result<Record<'b>, DnsError>>
    where
        'a: 'b,
    {
        if self.left == 0 {
            self.state = State::Done;
            return None;
        }
        if self.pos >= self.msg.len() {
            self.state = State::Done;
            // A server that set TC dropped whole RRs and may have left ANCOUNT as is.
            return if self.header.is_truncated() {
                None
            } else {
                Some(Err(DnsError::BadCount))
            };
        }
        let msg = self.msg;
        let RecordBuf { name, rdata } = buf;
        let mut sink = Dotted::new(name);
        let pos = match read_name(msg, self.pos, msg.len(), &mut sink) {
            Ok(p) => p,
            Err(e) => return self.stop(e),
        };
        let name_len = sink.len;
        let Some(fixed) = msg.get(pos..pos.saturating_add(10)) else {
            return self.stop(DnsError::Truncated);
        };
        let rrtype = RrType(be16(fixed, 0));
        let rrclass = RrClass(be16(fixed, 2));
        let ttl = u32::from(be16(fixed, 4)) << 16 | u32::from(be16(fixed, 6));
        let rdlen = usize::from(be16(fixed, 8));
        let start = pos + 10;
        let end = start + rdlen;
        let Some(raw) = msg.get(start..end) else {
            return self.stop(DnsError::Truncated);
        };
        self.pos = end;
        self.left -= 1;
        let rdata: &'b [u8] = match rdata_layout(rrtype.0) {
            None => raw,
            Some(layout) => match expand_rdata(msg, start, end, layout, rdata) {
                #[expect(
                    clippy::indexing_slicing,
                    reason = "expand_rdata returns the octets it wrote into rdata"
                )]
                Ok(n) => &rdata[..n],
                Err(e) => return Some(Err(e)),
            },
        };
        Some(Ok(Record {
            #[expect(
                clippy::indexing_slicing,
                reason = "the sink writes at most the buffer's length"
            )]
            name: &name[..name_len],
            rrtype,
            rrclass,
            ttl,
            rdata,
            kind: RecordKind::Answer,
        }))
    }

    #[cold]
    fn stop<'b>(&mut self, e: DnsError) -> Option<Result<Record<'b>, DnsError>> {
        self.state = State::Done;
        Some(Err(e))
    }
}

/// Writes the RDATA at `msg[start..end]` into `out` following `layout`, names
/// uncompressed; returns the octets written.
fn expand_rdata(
    msg: &[u8],
    start: usize,
    end: usize,
    layout: &[Piece],
    out: &mut [u8],
) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut w = Wire { out, len: 0 };
    for piece in layout {
        match *piece {
            Piece::Fixed(n) => {
                let b = region(msg, pos, n, end)?;
                w.put(b)?;
                pos += n;
            }
            Piece::CharString => {
                let n = usize::from(*region(msg, pos, 1, end)?.first().unwrap_or(&0));
                let b = region(msg, pos, 1 + n, end)?;
                w.put(b)?;
                pos += 1 + n;
            }
            Piece::Name => {
                pos = read_name(msg, pos, end, &mut w).map_err(|e| match e {
                    DnsError::Truncated => DnsError::BadRdata,
                    other => other,
                })?;
                w.put(&[0])?;
            }
        }
    }
    if pos != end {
        return Err(DnsError::BadRdata);
    }
    Ok(w.len)
}

/// `n` octets at `pos`, which must end by `end` (the RDATA end).
fn region(msg: &[u8], pos: usize, n: usize, end: usize) -> Result<&[u8], DnsError> {
    let stop = pos.checked_add(n).filter(|&s| s <= end);
    stop.and_then(|s| msg.get(pos..s)).ok_or(DnsError::BadRdata)
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

/// Receives the labels of a name, first to last (the root is implied).
trait NameSink {
    fn label(&mut self, label: &[u8]) -> Result<(), DnsError>;
}

/// Checks a name without keeping it.
struct Discard;

impl NameSink for Discard {
    fn label(&mut self, _: &[u8]) -> Result<(), DnsError> {
        Ok(())
    }
}

/// Dotted text, no final dot.
struct Dotted<'b> {
    out: &'b mut [u8; NAME_TEXT_CAP],
    len: usize,
}

impl<'b> Dotted<'b> {
    fn new(out: &'b mut [u8; NAME_TEXT_CAP]) -> Self {
        Self { out, len: 0 }
    }
}

impl NameSink for Dotted<'_> {
    fn label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        let dot = usize::from(self.len > 0);
        let end = self.len + dot + label.len();
        let dst = self
            .out
            .get_mut(self.len..end)
            .ok_or(DnsError::NameTooLong)?;
        if let Some((first, rest)) = dst.split_first_mut().filter(|_| dot == 1) {
            *first = b'.';
            rest.copy_from_slice(label);
        } else {
            dst.copy_from_slice(label);
        }
        self.len = end;
        Ok(())
    }
}

/// Uncompressed wire form: a length octet per label (the caller writes the root).
struct Wire<'b> {
    out: &'b mut [u8],
    len: usize,
}

impl Wire<'_> {
    fn put(&mut self, b: &[u8]) -> Result<(), DnsError> {
        let end = self.len + b.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(DnsError::RdataTooLong)?
            .copy_from_slice(b);
        self.len = end;
        Ok(())
    }
}

impl NameSink for Wire<'_> {
    fn label(&mut self, label: &[u8]) -> Result<(), DnsError> {
        // A label is at most 63 octets: its length fits the octet.
        self.put(&[label.len() as u8])?;
        self.put(label)
    }
}

/// Reads the name at `start`, following compression pointers (RFC 1035 §4.1.4), and
/// gives its labels to `sink`. The octets of the name that sit at `start` (up to and
/// including the root octet or the first pointer) must end by `end`; returns the
/// position after them.
///
/// ```text
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// | 1  1|                OFFSET                   |   a pointer
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// ```
///
/// Every pointer must point strictly before the start of the run of labels it ends —
/// the run at `start`, then the run at the previous pointer's target — so the runs
/// start at strictly decreasing offsets and the walk ends (the same rule as hickory's
/// `read_inner` and smoltcp's `parse_name`). The wire length is checked against
/// [`NAME_MAX`] before each label is passed on.
fn read_name(
    msg: &[u8],
    start: usize,
    end: usize,
    sink: &mut impl NameSink,
) -> Result<usize, DnsError> {
    let mut pos = start;
    let mut run_start = start;
    let mut limit = end.min(msg.len());
    // Where the in-place octets end, once a pointer has been followed.
    let mut after: Option<usize> = None;
    let mut wire_len = 1; // the root octet
    let mut hops = 0;
    loop {
        let len = *msg
            .get(pos)
            .filter(|_| pos < limit)
            .ok_or(DnsError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => return Ok(after.unwrap_or(pos + 1)),
            0x00 => {
                let n = usize::from(len);
                let label = msg
                    .get(pos + 1..pos + 1 + n)
                    .filter(|_| pos + 1 + n <= limit)
                    .ok_or(DnsError::Truncated)?;
                wire_len += 1 + n;
                if wire_len > NAME_MAX {
                    return Err(DnsError::NameTooLong);
                }
                sink.label(label)?;
                pos += 1 + n;
            }
            0xc0 => {
                let lo = *msg
                    .get(pos + 1)
                    .filter(|_| pos + 1 < limit)
                    .ok_or(DnsError::Truncated)?;
                let target = usize::from(len & 0x3f) << 8 | usize::from(lo);
                if target >= run_start {
                    return Err(DnsError::PointerLoop);
                }
                hops += 1;
                if hops > POINTER_HOPS_MAX {
                    return Err(DnsError::TooManyPointers);
                }
                after.get_or_insert(pos + 2);
                pos = target;
                run_start = target;
                limit = msg.len();
            }
            _ => return Err(DnsError::LabelTooLong),
        }
    }
}

/// A DNS-over-TCP message at the start of a stream window (RFC 1035 §4.2.2,
/// RFC 7766: each message is preceded by a 2-octet length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFrame<'a> {
    /// The message, without its length prefix.
    pub message: &'a [u8],
    /// Octets the frame takes in the stream, prefix included.
    pub framed_len: usize,
}

/// A message longer than the caller can hold: skip `framed_len` octets of the
/// stream (prefix included) to stay in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    pub framed_len: usize,
}

/// The first message of `window`, the contiguous in-order octets of one TCP
/// direction from a message boundary on: `Done` when the whole message is
/// there, `Incomplete` while its length or its octets are cut, `Malformed`
/// when it is longer than `cap` octets with its prefix (it can never be whole).
pub fn tcp_frame(window: &[u8], cap: usize) -> Outcome<TcpFrame<'_>, TooLong> {
    let mut r = Reader::new(window);
    let Some(len) = r.u16() else {
        return Outcome::Incomplete;
    };
    let framed_len = 2 + usize::from(len);
    if framed_len > cap {
        return Outcome::Malformed(TooLong { framed_len });
    }
    match r.take(usize::from(len)) {
        Some(message) => Outcome::Done(TcpFrame {
            message,
            framed_len,
        }),
        None => Outcome::Incomplete,
    }
}

#[cfg(test)]
mod tests;
