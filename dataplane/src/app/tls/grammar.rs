//! TLS handshake parsers: the ClientHello (server name, cipher suites), the
//! ServerHello (negotiated version, cipher suite, compression) and, for TLS ≤ 1.2,
//! the subject common name of the server's leaf certificate.
//!
//! # Contract
//!
//! * The input is the contiguous, in-order byte stream of one TCP direction from
//!   its first octet (the flow layer reassembles segments into a bounded buffer)
//!   — or, for QUIC, the contiguous CRYPTO stream of the Initial packet number
//!   space ([`client_hello_crypto`]). The functions keep no state: call again
//!   with the longer stream when more bytes arrive.
//! * Every call answers with a [`Status`]: `Incomplete` (the bytes so far are a
//!   valid prefix; more are needed), `NotThis` (the stream does not start with
//!   the expected handshake message), `Malformed` (it did, but a length or
//!   structure is broken; [`Malformed`] says what and at which stream offset) or
//!   `Done` with a small `Copy` result that borrows nothing.
//! * A handshake message may span several TLS records and a record several TCP
//!   segments; the parsers read the handshake protocol's byte stream across
//!   record boundaries ([`Handshake`]), so neither case needs a copy. A record
//!   cut by the end of the input is read as far as it goes.
//! * Results are final as soon as they are known: the ClientHello is `Done`
//!   once its server name was read (the rest of the message is not needed), the
//!   certificate once its subject was read (the SAN list that follows can be
//!   many KiB). The caller's stream cap therefore rarely matters.
//! * No allocation, no panic, no read past the input, whatever the bytes: every
//!   read goes through [`Handshake`], which checks the bytes present and the
//!   enclosing length field (`sub`) before it moves.
//!
//! ```text
//! TLSPlaintext (RFC 8446 §5.1)          Handshake (RFC 8446 §4)
//! +------+---------+--------+------     +------+-----------+----------------
//! | type | version | length | fragment  | type | length    | body ...
//! | 1    | 2 (3.x) | 2      | ...       | 1    | 3 (u24)   |
//! +------+---------+--------+------     +------+-----------+----------------
//! ```

use crate::app::Outcome;

/// Octets of a TLS record header.
pub const RECORD_HEADER_LEN: usize = 5;
/// Largest record fragment accepted (RFC 5246 §6.2.3: 2^14 + 2048 for a
/// ciphertext; a plaintext handshake record is at most 2^14).
pub const MAX_FRAGMENT_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message accepted before it is called malformed. A
/// ClientHello with post-quantum key shares and ECH is ~2 KiB; certificates of
/// a few KiB are common, chains of tens of KiB exist.
pub const MAX_HANDSHAKE_LEN: usize = 1 << 17;
/// Most octets kept of a server name or common name; longer ones are cut and
/// flagged ([`Name::is_truncated`]). DNS names have at most 253.
pub const NAME_CAP: usize = 255;
/// Most cipher suites kept from a ClientHello (spec §4, IE 1025).
pub const SUITES_CAP: usize = 16;
/// Handshake messages walked in a server flight before giving up on finding
/// the Certificate (ServerHello, then at most a few others precede it).
const MAX_SERVER_MESSAGES: usize = 8;

mod content {
    pub const HANDSHAKE: u8 = 22;
}

mod handshake {
    pub const CLIENT_HELLO: u8 = 1;
    pub const SERVER_HELLO: u8 = 2;
    pub const CERTIFICATE: u8 = 11;
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    pub const CERTIFICATE_REQUEST: u8 = 13;
    pub const SERVER_HELLO_DONE: u8 = 14;
}

mod extension {
    pub const SERVER_NAME: u16 = 0;
    pub const SUPPORTED_VERSIONS: u16 = 43;
}

/// Versions on the wire.
pub mod version {
    pub const SSL3: u16 = 0x0300;
    pub const TLS1_0: u16 = 0x0301;
    pub const TLS1_1: u16 = 0x0302;
    pub const TLS1_2: u16 = 0x0303;
    pub const TLS1_3: u16 = 0x0304;
}

/// The ServerHello random of a HelloRetryRequest: SHA-256("HelloRetryRequest")
/// (RFC 8446 §4.1.3).
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a stream parser concluded from the bytes it was given.
/// What a parse of the stream so far gives: [`Outcome::NotThis`] when the
/// stream does not start with the expected handshake message. `Done` holds
/// names inline (a few hundred octets) so that results borrow nothing and
/// cost no allocation.
pub type Status<T> = Outcome<T, Malformed>;

/// Why a handshake is malformed, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub reason: Reason,
    /// Offset in the input (the TCP stream, or the CRYPTO stream) of the octet
    /// being read when the problem was seen.
    pub offset: u32,
}

/// Why a handshake is malformed (an index for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A record header's version is not 3.x.
    RecordVersion,
    /// A record is longer than [`MAX_FRAGMENT_LEN`].
    RecordLength,
    /// A record of another content type cuts a handshake message.
    Interleaved,
    /// A handshake message is longer than [`MAX_HANDSHAKE_LEN`].
    HandshakeLength,
    /// A length field claims more than its enclosing structure holds.
    Overrun,
    /// A hello's session id is longer than 32 octets.
    SessionIdLength,
    /// A ClientHello's cipher suite list is empty or of odd length.
    CipherSuitesLength,
    /// A ClientHello's compression method list is empty.
    CompressionLength,
    /// The message is not the one expected here.
    UnexpectedMessage,
    /// The certificate's DER structure is not the X.509 one.
    Der,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::RecordVersion => "record version is not 3.x",
            Reason::RecordLength => "record longer than 2^14 + 2048",
            Reason::Interleaved => "handshake message cut by another record type",
            Reason::HandshakeLength => "handshake message too long",
            Reason::Overrun => "length exceeds its enclosing structure",
            Reason::SessionIdLength => "session id longer than 32",
            Reason::CipherSuitesLength => "cipher suite list empty or odd",
            Reason::CompressionLength => "compression method list empty",
            Reason::UnexpectedMessage => "unexpected handshake message",
            Reason::Der => "certificate DER structure",
        }
    }
}

/// A host name (SNI) or certificate common name: at most [`NAME_CAP`] octets
/// kept inline, so results borrow nothing. Octets are as on the wire (SNI is
/// ASCII by RFC 6066; a common name is converted to UTF-8 from BMP/Universal
/// strings, other string types are kept as they are).
#[derive(Clone, Copy)]
pub struct Name {
    bytes: [u8; NAME_CAP],
    len: u8,
    truncated: bool,
}

impl Name {
    const EMPTY: Name = Name {
        bytes: [0; NAME_CAP],
        len: 0,
        truncated: false,
    };

    pub fn as_bytes(&self) -> &[u8] {
        #[expect(
            clippy::indexing_slicing,
            reason = "len is at most NAME_CAP: every writer cuts to it"
        )]
        &self.bytes[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The name on the wire was longer than [`NAME_CAP`] and was cut.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    fn push(&mut self, b: u8) {
        match self.bytes.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = b;
                self.len = self.len.saturating_add(1);
            }
            None => self.truncated = true,
        }
    }

    fn push_char(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        let s = c.encode_utf8(&mut utf8).as_bytes();
        if usize::from(self.len) + s.len() > NAME_CAP {
            self.truncated = true;
            return;
        }
        for &b in s {
            self.push(b);
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes() && self.truncated == other.truncated
    }
}

impl Eq for Name {}

impl core::fmt::Debug for Name {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:?}",
            self.as_bytes().utf8_chunks().next().map(|c| c.valid())
        )?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

/// What a ClientHello tells the clickstream record (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// The first `host_name` of the server_name extension; `None` without one.
    pub server_name: Option<Name>,
    /// Octets of the cipher_suites list (IE 1024).
    pub cipher_suites_len: u16,
    suites: [u8; 2 * SUITES_CAP],
    suites_kept: u8,
}

impl ClientHello {
    /// The first [`SUITES_CAP`] cipher suites as on the wire, 2 octets each (IE 1025).
    pub fn cipher_suites_raw(&self) -> &[u8] {
        #[expect(
            clippy::indexing_slicing,
            reason = "suites_kept counts the octets written into suites, at most its size"
        )]
        &self.suites[..usize::from(self.suites_kept)]
    }

    /// The first [`SUITES_CAP`] cipher suites.
    pub fn cipher_suites(&self) -> impl Iterator<Item = u16> + '_ {
        self.cipher_suites_raw().chunks_exact(2).map(|c| {
            u16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
    }
}

/// What a ServerHello tells the TLS reply record (spec §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerHello {
    /// `legacy_version` / `server_version` as on the wire.
    pub legacy_version: u16,
    /// The negotiated version: supported_versions when present (0x0304 for
    /// TLS 1.3), else `legacy_version`.
    pub version: u16,
    pub cipher_suite: u16,
    pub compression_method: u8,
    /// The message is a HelloRetryRequest (TLS 1.3); a second ClientHello follows.
    pub hello_retry_request: bool,
}

/// The server certificate's subject common name, as far as the cleartext shows it.
// The name is inline (no allocation), as in `Status`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Certificate {
    /// TLS 1.3 (or a HelloRetryRequest): the certificate is encrypted.
    Encrypted,
    /// The cleartext flight has no Certificate (resumption, PSK, anonymous
    /// suites, an empty certificate list).
    Absent,
    /// The leaf certificate's subject has no common name.
    NoCommonName,
    /// The leaf certificate's (first) subject common name.
    CommonName(Name),
}

impl Certificate {
    /// The common name, if one was seen.
    pub fn common_name(&self) -> Option<&Name> {
        match self {
            Certificate::CommonName(n) => Some(n),
            _ => None,
        }
    }
}

/// The cleartext part of a server's first flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFlight {
    pub hello: ServerHello,
    pub certificate: Certificate,
}

/// Parses the ClientHello at the start of a client's TCP stream.
pub fn client_hello(stream: &[u8]) -> Status<ClientHello> {
    if let Some(not) = sniff(stream, handshake::CLIENT_HELLO) {
        return not;
    }
    let mut hs = Handshake::records(stream);
    finish(client_hello_message(&mut hs), &hs)
}

/// Parses the ClientHello at the start of a QUIC CRYPTO stream (handshake
/// messages without a record layer, RFC 9001 §4).
pub fn client_hello_crypto(crypto: &[u8]) -> Status<ClientHello> {
    if crypto
        .first()
        .is_some_and(|&t| t != handshake::CLIENT_HELLO)
    {
        return Outcome::NotThis;
    }
    let mut hs = Handshake::raw(crypto);
    finish(client_hello_message(&mut hs), &hs)
}

/// Parses the ServerHello at the start of a server's TCP stream.
pub fn server_hello(stream: &[u8]) -> Status<ServerHello> {
    if let Some(not) = sniff(stream, handshake::SERVER_HELLO) {
        return not;
    }
    let mut hs = Handshake::records(stream);
    finish(server_hello_message(&mut hs), &hs)
}

/// Parses the ServerHello at the start of a QUIC CRYPTO stream.
pub fn server_hello_crypto(crypto: &[u8]) -> Status<ServerHello> {
    if crypto
        .first()
        .is_some_and(|&t| t != handshake::SERVER_HELLO)
    {
        return Outcome::NotThis;
    }
    let mut hs = Handshake::raw(crypto);
    finish(server_hello_message(&mut hs), &hs)
}

/// Parses a server's first flight: the ServerHello and, for TLS ≤ 1.2, the
/// leaf certificate's subject common name. `Done` once the certificate outcome
/// is known; a caller whose stream cap is reached while this is `Incomplete`
/// can still report [`server_hello`].
pub fn server_flight(stream: &[u8]) -> Status<ServerFlight> {
    if let Some(not) = sniff(stream, handshake::SERVER_HELLO) {
        return not;
    }
    let mut hs = Handshake::records(stream);
    let r = server_hello_message(&mut hs).and_then(|hello| {
        let certificate = if hello.version >= version::TLS1_3 || hello.hello_retry_request {
            Certificate::Encrypted
        } else {
            certificate_of_flight(&mut hs)?
        };
        Ok(ServerFlight { hello, certificate })
    });
    finish(r, &hs)
}

/// `NotThis` / `Incomplete` from the first octets, before any parsing: a
/// handshake record of version 3.x whose first message has type `ty`.
fn sniff<T>(stream: &[u8], ty: u8) -> Option<Status<T>> {
    match stream {
        [] | [content::HANDSHAKE] | [content::HANDSHAKE, 3] => Some(Outcome::Incomplete),
        [t, ..] if *t != content::HANDSHAKE => Some(Outcome::NotThis),
        [_, major, ..] if *major != 3 => Some(Outcome::NotThis),
        [_, _, minor, ..] if *minor > 4 => Some(Outcome::NotThis),
        _ => match stream.get(RECORD_HEADER_LEN) {
            Some(&t) if t != ty => Some(Outcome::NotThis),
            _ => None,
        },
    }
}

fn finish<T>(r: Result<T, Halt>, hs: &Handshake<'_>) -> Status<T> {
    match r {
        Ok(t) => Outcome::Done(t),
        Err(Halt::Incomplete) => Outcome::Incomplete,
        Err(Halt::Closed) => Outcome::Malformed(hs.malformed(Reason::Interleaved)),
        Err(Halt::Malformed(m)) => Outcome::Malformed(m),
    }
}

/// ClientHello (RFC 8446 §4.1.2; the same layout since SSL 3.0, extensions
/// optional before TLS 1.3):
///
/// ```text
/// uint16 legacy_version; opaque random[32]; opaque legacy_session_id<0..32>;
/// CipherSuite cipher_suites<2..2^16-2>; opaque legacy_compression_methods<1..2^8-1>;
/// Extension extensions<8..2^16-1>;
/// ```
fn client_hello_message(hs: &mut Handshake<'_>) -> Result<ClientHello, Halt> {
    let _outer = message_header(hs, handshake::CLIENT_HELLO)?;
    let legacy_version = hs.u16()?;
    hs.skip(32)?;
    session_id(hs)?;
    let cipher_suites_len = hs.u16()?;
    if cipher_suites_len == 0 || cipher_suites_len % 2 != 0 {
        return Err(hs.fail(Reason::CipherSuitesLength));
    }
    let mut suites = [0u8; 2 * SUITES_CAP];
    let kept = hs.read_into(usize::from(cipher_suites_len), &mut suites)?;
    let compression = hs.u8()?;
    if compression == 0 {
        return Err(hs.fail(Reason::CompressionLength));
    }
    hs.skip(usize::from(compression))?;
    let mut hello = ClientHello {
        legacy_version,
        server_name: None,
        cipher_suites_len,
        suites,
        suites_kept: u8::try_from(kept).unwrap_or(0),
    };
    if hs.left() == 0 {
        return Ok(hello);
    }
    let extensions = hs.u16()?;
    let outer = hs.sub(usize::from(extensions))?;
    while hs.left() > 0 {
        let ty = hs.u16()?;
        let len = usize::from(hs.u16()?);
        if ty == extension::SERVER_NAME {
            let ext = hs.sub(len)?;
            hello.server_name = server_name(hs)?;
            // The rest of the message is not needed.
            hs.end_sub(ext);
            return Ok(hello);
        }
        hs.skip(len)?;
    }
    hs.end_sub(outer);
    Ok(hello)
}

/// server_name (RFC 6066 §3): `ServerName server_name_list<1..2^16-1>`, each
/// `NameType name_type; opaque HostName<1..2^16-1>` (type 0 = host_name).
fn server_name(hs: &mut Handshake<'_>) -> Result<Option<Name>, Halt> {
    let list = usize::from(hs.u16()?);
    let outer = hs.sub(list)?;
    let mut found = None;
    while hs.left() > 0 {
        let ty = hs.u8()?;
        let len = usize::from(hs.u16()?);
        if ty == 0 && found.is_none() && len > 0 {
            let mut name = Name::EMPTY;
            let kept = hs.read_into(len, &mut name.bytes)?;
            name.len = u8::try_from(kept).unwrap_or(u8::MAX);
            name.truncated = kept < len;
            found = Some(name);
            break;
        }
        hs.skip(len)?;
    }
    hs.end_sub(outer);
    Ok(found)
}

/// ServerHello (RFC 8446 §4.1.3; RFC 5246 §7.4.1.3):
///
/// ```text
/// ProtocolVersion legacy_version; Random random; opaque legacy_session_id_echo<0..32>;
/// CipherSuite cipher_suite; uint8 legacy_compression_method; Extension extensions<6..2^16-1>;
/// ```
fn server_hello_message(hs: &mut Handshake<'_>) -> Result<ServerHello, Halt> {
    let outer = message_header(hs, handshake::SERVER_HELLO)?;
    let legacy_version = hs.u16()?;
    let mut random = [0u8; 32];
    hs.read_into(32, &mut random)?;
    session_id(hs)?;
    let cipher_suite = hs.u16()?;
    let compression_method = hs.u8()?;
    let mut hello = ServerHello {
        legacy_version,
        version: legacy_version,
        cipher_suite,
        compression_method,
        hello_retry_request: random == HRR_RANDOM,
    };
    if hs.left() > 0 {
        let extensions = hs.u16()?;
        let outer = hs.sub(usize::from(extensions))?;
        while hs.left() > 0 {
            let ty = hs.u16()?;
            let len = usize::from(hs.u16()?);
            if ty == extension::SUPPORTED_VERSIONS && len == 2 {
                hello.version = hs.u16()?;
            } else {
                hs.skip(len)?;
            }
        }
        hs.end_sub(outer);
    }
    // Leave the reader at the next message.
    hs.skip(hs.left())?;
    hs.end_sub(outer);
    Ok(hello)
}

/// The messages after a TLS ≤ 1.2 ServerHello, up to the Certificate (RFC 5246
/// §7.4.2): `opaque ASN.1Cert<1..2^24-1>; ASN.1Cert certificate_list<0..2^24-1>;`
fn certificate_of_flight(hs: &mut Handshake<'_>) -> Result<Certificate, Halt> {
    for _ in 0..MAX_SERVER_MESSAGES {
        let ty = match hs.u8() {
            Ok(t) => t,
            // The flight's cleartext ends (ChangeCipherSpec of a resumed session).
            Err(Halt::Closed) => return Ok(Certificate::Absent),
            Err(e) => return Err(e),
        };
        let len = hs.u24()?;
        if len > MAX_HANDSHAKE_LEN {
            return Err(hs.fail(Reason::HandshakeLength));
        }
        match ty {
            handshake::CERTIFICATE => {
                let _msg = hs.sub(len)?;
                let list = hs.u24()?;
                let _list = hs.sub(list)?;
                if list == 0 {
                    return Ok(Certificate::Absent);
                }
                let cert = hs.u24()?;
                let _cert = hs.sub(cert)?;
                return subject_common_name(hs);
            }
            handshake::SERVER_KEY_EXCHANGE
            | handshake::CERTIFICATE_REQUEST
            | handshake::SERVER_HELLO_DONE => return Ok(Certificate::Absent),
            _ => hs.skip(len)?,
        }
    }
    Ok(Certificate::Absent)
}

/// Checks a handshake message's type and limits the reader to its body;
/// returns the outer limit for `end_sub`.
fn message_header(hs: &mut Handshake<'_>, ty: u8) -> Result<usize, Halt> {
    if hs.u8()? != ty {
        return Err(hs.fail(Reason::UnexpectedMessage));
    }
    let len = hs.u24()?;
    if len > MAX_HANDSHAKE_LEN {
        return Err(hs.fail(Reason::HandshakeLength));
    }
    hs.sub(len)
}

fn session_id(hs: &mut Handshake<'_>) -> Result<(), Halt> {
    let n = hs.u8()?;
    if n > 32 {
        return Err(hs.fail(Reason::SessionIdLength));
    }
    hs.skip(usize::from(n))
}

mod der;

use der::subject_common_name;

// ---------------------------------------------------------------------------
// The handshake byte stream.
// ---------------------------------------------------------------------------

/// Why a read stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halt {
    /// The input ends: more bytes are needed.
    Incomplete,
    /// A record of another content type follows: the cleartext handshake ends.
    Closed,
    Malformed(Malformed),
}

/// A bounded cursor over the handshake protocol's bytes: the fragments of
/// consecutive handshake records of a TCP stream, read as one sequence, or a
/// QUIC CRYPTO stream as it is.
///
/// `pos` counts handshake octets read; `limit` is the end of the innermost
/// length-delimited structure (`sub`/`end_sub`), which no read may cross — the
/// role `Reader::sub` plays in rustls's codec, without needing the bytes to be
/// contiguous.
struct Handshake<'a> {
    /// Records (TCP) or raw handshake bytes (QUIC CRYPTO).
    framed: bool,
    /// Unread octets of the current fragment.
    frag: &'a [u8],
    /// Input offset of `frag`.
    frag_at: usize,
    /// The input after the current fragment: the next record header on.
    rest: &'a [u8],
    /// Input offset of `rest`.
    rest_at: usize,
    pos: usize,
    limit: usize,
}

impl<'a> Handshake<'a> {
    fn records(stream: &'a [u8]) -> Self {
        Self {
            framed: true,
            frag: &[],
            frag_at: 0,
            rest: stream,
            rest_at: 0,
            pos: 0,
            limit: usize::MAX,
        }
    }

    fn raw(bytes: &'a [u8]) -> Self {
        Self {
            framed: false,
            frag: bytes,
            frag_at: 0,
            rest: &[],
            rest_at: bytes.len(),
            pos: 0,
            limit: usize::MAX,
        }
    }

    fn malformed(&self, reason: Reason) -> Malformed {
        Malformed {
            reason,
            offset: u32::try_from(self.frag_at).unwrap_or(u32::MAX),
        }
    }

    fn fail(&self, reason: Reason) -> Halt {
        Halt::Malformed(self.malformed(reason))
    }

    /// Octets left in the innermost structure.
    fn left(&self) -> usize {
        self.limit.saturating_sub(self.pos)
    }

    /// Limits reads to the next `len` octets; returns the outer limit for `end_sub`.
    fn sub(&mut self, len: usize) -> Result<usize, Halt> {
        if len > self.left() {
            return Err(self.fail(Reason::Overrun));
        }
        let outer = self.limit;
        self.limit = self.pos.saturating_add(len);
        Ok(outer)
    }

    fn end_sub(&mut self, outer: usize) {
        self.limit = outer;
    }

    /// Makes the current fragment non-empty, reading record headers as needed.
    fn fill(&mut self) -> Result<(), Halt> {
        while self.frag.is_empty() {
            if !self.framed {
                return Err(Halt::Incomplete);
            }
            let Some((header, body)) = self.rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
                return match self.rest.first() {
                    Some(&t) if t != content::HANDSHAKE => Err(Halt::Closed),
                    _ => Err(Halt::Incomplete),
                };
            };
            let [ty, major, _minor, len_hi, len_lo] = *header;
            if ty != content::HANDSHAKE {
                return Err(Halt::Closed);
            }
            self.frag_at = self.rest_at;
            if major != 3 {
                return Err(self.fail(Reason::RecordVersion));
            }
            let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
            if len > MAX_FRAGMENT_LEN {
                return Err(self.fail(Reason::RecordLength));
            }
            // A record cut by the end of the input is read as far as it goes.
            let (frag, rest) = body.split_at(len.min(body.len()));
            self.frag = frag;
            self.frag_at = self.rest_at.saturating_add(RECORD_HEADER_LEN);
            self.rest = rest;
            self.rest_at = self.frag_at.saturating_add(frag.len());
        }
        Ok(())
    }

    fn need(&self, n: usize) -> Result<(), Halt> {
        if n > self.left() {
            return Err(self.fail(Reason::Overrun));
        }
        Ok(())
    }

    fn advance(&mut self, k: usize) {
        self.frag = self.frag.get(k..).unwrap_or(&[]);
        self.frag_at = self.frag_at.saturating_add(k);
        self.pos = self.pos.saturating_add(k);
    }

    fn u8(&mut self) -> Result<u8, Halt> {
        self.need(1)?;
        self.fill()?;
        let b = self.frag.first().copied().ok_or(Halt::Incomplete)?;
        self.advance(1);
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, Halt> {
        self.need(2)?;
        if let Some(&[a, b]) = self.frag.first_chunk::<2>() {
            self.advance(2);
            return Ok(u16::from_be_bytes([a, b]));
        }
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    fn u24(&mut self) -> Result<usize, Halt> {
        self.need(3)?;
        let b = [self.u8()?, self.u8()?, self.u8()?];
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    fn skip(&mut self, n: usize) -> Result<(), Halt> {
        self.need(n)?;
        let mut left = n;
        while left > 0 {
            self.fill()?;
            let k = left.min(self.frag.len());
            self.advance(k);
            left -= k;
        }
        Ok(())
    }

    /// Reads `n` octets, keeping the first `out.len()` of them in `out`;
    /// returns how many were kept.
    fn read_into(&mut self, n: usize, out: &mut [u8]) -> Result<usize, Halt> {
        self.need(n)?;
        let mut left = n;
        let mut kept = 0usize;
        while left > 0 {
            self.fill()?;
            let k = left.min(self.frag.len());
            let room = out.len().saturating_sub(kept).min(k);
            if let (Some(dst), Some(src)) = (out.get_mut(kept..kept + room), self.frag.get(..room))
            {
                dst.copy_from_slice(src);
                kept += room;
            }
            self.advance(k);
            left -= k;
        }
        Ok(kept)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests;
