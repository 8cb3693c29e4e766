//! QUIC Initial packets (versions 1 and 2): from UDP payloads to the TLS
//! ClientHello of the client's and the ServerHello of the server's (RFC 9000
//! §17.2, RFC 9001 §5, RFC 9369).
//!
//! # Contract
//!
//! * One [`QuicInitialState`] per QUIC connection attempt (a UDP 5-tuple seen
//!   from its client): fixed size (one [`CRYPTO_CAP`]-octet CRYPTO buffer for
//!   both sides in turn, its coverage bitmap, the client's Initial keys, the
//!   server's key material: 8544 octets on x86-64), no allocation, ever.
//! * [`QuicInitialState::on_client_datagram`] takes the UDP payload of one
//!   client→server datagram. It walks the coalesced long-header packets (at
//!   most [`MAX_COALESCED`]), skips Handshake/0-RTT ones by their Length, and
//!   for each Initial: derives the client Initial keys from the connection's
//!   **first** Destination Connection ID (HKDF-SHA256 with the version's salt
//!   and labels, once per connection), removes header protection (AES-128-ECB
//!   of the sample), decrypts the payload in place in a stack buffer of
//!   [`MAX_PACKET`] octets (AES-128-GCM) and walks its frames, storing CRYPTO
//!   data at its offset. CRYPTO frames may come in any order, across packets
//!   and datagrams; once the stream is contiguous from offset 0 far enough, the
//!   ClientHello is parsed with [`tls::client_hello_crypto`] and reported once.
//! * Stages as quinn's `PartialDecode`: the cleartext header first (cheap,
//!   rejects what is not a v1/v2 long header), then the keys and decryption.
//! * Connection identity: the client switches to the server's connection id
//!   after the server's first Initial, with the same keys; a packet with an
//!   unknown DCID that the current keys decrypt is of this connection (that DCID
//!   is remembered so later packets skip decryption once the ClientHello is
//!   known). One that only keys derived from its own DCID decrypt starts a new
//!   connection on the same 5-tuple (or follows a Retry): the state is reset
//!   and [`QuicInitialState::connections`] counts it.
//! * Bounded work per datagram: at most [`MAX_COALESCED`] packets, each of at
//!   most [`MAX_PACKET`] octets decrypted at most twice; frames are bounded by
//!   the packet; CRYPTO data beyond [`CRYPTO_CAP`] is dropped (and counted).
//! * The server side ([`QuicInitialState::on_server_datagram`], server→client
//!   datagrams of the same connection): the server Initial keys come from the
//!   same first client DCID (`Side::Server`, derived once, for the version the
//!   server's Initials carry — a compatible version negotiation, RFC 9368, may
//!   answer a v1 ClientHello in v2). Server Initials are decrypted and walked
//!   like the client's (Handshake packets coalesced behind them skipped by
//!   their Length); their CRYPTO frames, in any order, are collected until the
//!   ServerHello is contiguous, then parsed with [`tls::server_hello_crypto`]
//!   and reported once. The server's Initial CRYPTO stream is only the
//!   ServerHello (≈ 90 octets with X25519, ≈ 1.2 KiB with an X25519MLKEM768
//!   share): it reuses the client's buffer, which is free once the ClientHello
//!   is parsed — and the server can only send its ServerHello after the whole
//!   ClientHello, so on any point of the path the client's Initials come first.
//!   Server CRYPTO data seen before that (it cannot be a ServerHello that
//!   answers this ClientHello) is dropped and counted.
//!
//! ```text
//! Initial Packet (RFC 9000 §17.2.2)
//! +-+-+-+-+-+-+-+-+
//! |1|1|T T|R R|P P|   T = 0 (v1) or 1 (v2); R, P protected
//! +-+-+-+-+-+-+-+-+----------------------------------------------+
//! | Version (32) | DCID Len (8) | DCID (0..160) | SCID Len (8) | SCID (0..160)
//! | Token Length (i) | Token (..) | Length (i) | Packet Number (8..32) | Payload (..)
//! ```

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use aes_gcm::{AeadInPlace, Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

use metaprobe_ipfix::codec::Reader;

use crate::app::Outcome;
use crate::app::tls::{self, ClientHello, ServerHello};

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;
/// Octets of the CRYPTO stream kept per connection (a ClientHello with
/// post-quantum key shares is ~1.8 KiB; with ECH ~2.2 KiB).
pub const CRYPTO_CAP: usize = 6144;
/// Largest Initial packet decrypted (client Initial datagrams are 1200–1500
/// octets on the paths we see).
pub const MAX_PACKET: usize = 2048;
/// Most long-header packets walked in one datagram.
pub const MAX_COALESCED: usize = 4;
/// Longest connection id of versions 1 and 2 (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;

const TAG_LEN: usize = 16;
const SAMPLE_LEN: usize = 16;

/// RFC 9001 §5.2.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];

/// Which side's Initial secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Why an Initial could not be read (an index for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicError {
    /// The long header is cut short, or a length in it runs past the datagram.
    Header,
    /// A connection id longer than 20 octets.
    CidLength,
    /// The packet is longer than [`MAX_PACKET`].
    TooLarge,
    /// Header protection or AEAD failed: not a client Initial of this connection.
    Decrypt,
    /// A frame type not allowed in an Initial packet, or a cut frame.
    Frame,
    /// The CRYPTO stream does not hold a well-formed ClientHello.
    Tls(tls::Malformed),
    /// The CRYPTO stream does not start with a ClientHello.
    NotClientHello,
    /// The server's CRYPTO stream does not start with a ServerHello.
    NotServerHello,
    /// A server Initial before any client Initial of the connection: no keys.
    NoConnection,
}

/// What a datagram did to the connection's state: `T` is the message the
/// datagram's side sends first, the [`ClientHello`] of a client datagram or
/// the [`ServerHello`] of a server datagram. `Done` is reported once per
/// connection and side; `NotThis` when the datagram holds no QUIC v1/v2
/// Initial, or none that tells this side anything new (its message was
/// already reported, or the stream proved not to hold one); `Malformed` for
/// an Initial that could not be read (the state is unchanged by it).
pub type QuicStatus<T = ClientHello> = Outcome<T, QuicError>;

impl<T> Outcome<T, QuicError> {
    /// Which of two outcomes of one datagram to report.
    fn rank(&self) -> u8 {
        match self {
            Outcome::NotThis => 0,
            Outcome::Malformed(_) => 1,
            Outcome::Incomplete => 2,
            Outcome::Done(_) => 3,
        }
    }
}

/// The keys that protect one side's Initial packets.
#[derive(Clone)]
pub struct InitialKeys {
    aead: Aes128Gcm,
    hp: Aes128,
    iv: [u8; 12],
}

/// One side's Initial key material (44 octets): what a state keeps of keys it
/// uses on a few packets only, [`InitialKeys`] being ~1.4 KiB of cipher state.
#[derive(Clone, Copy)]
struct RawKeys {
    key: [u8; 16],
    iv: [u8; 12],
    hp: [u8; 16],
}

impl RawKeys {
    /// `side`'s Initial key material of QUIC `version` (1 or 2) from the
    /// client's first Destination Connection ID (RFC 9001 §5.2, RFC 9369 §3.3).
    fn derive(version: u32, side: Side, dcid: &[u8]) -> Option<Self> {
        let (salt, key_label, iv_label, hp_label): (&[u8], &[u8], &[u8], &[u8]) = match version {
            VERSION_1 => (&SALT_V1, b"quic key", b"quic iv", b"quic hp"),
            VERSION_2 => (&SALT_V2, b"quicv2 key", b"quicv2 iv", b"quicv2 hp"),
            _ => return None,
        };
        let (_, initial) = Hkdf::<Sha256>::extract(Some(salt), dcid);
        let side_label: &[u8] = match side {
            Side::Client => b"client in",
            Side::Server => b"server in",
        };
        let mut secret = [0u8; 32];
        expand_label(&initial, side_label, &mut secret)?;
        let secret = Hkdf::<Sha256>::from_prk(&secret).ok()?;
        let mut raw = RawKeys {
            key: [0; 16],
            iv: [0; 12],
            hp: [0; 16],
        };
        expand_label(&secret, key_label, &mut raw.key)?;
        expand_label(&secret, iv_label, &mut raw.iv)?;
        expand_label(&secret, hp_label, &mut raw.hp)?;
        Some(raw)
    }
}

impl InitialKeys {
    /// Derives `side`'s Initial keys of QUIC `version` (1 or 2) from the
    /// client's first Destination Connection ID (RFC 9001 §5.2, RFC 9369 §3.3).
    pub fn derive(version: u32, side: Side, dcid: &[u8]) -> Option<Self> {
        RawKeys::derive(version, side, dcid).map(|raw| Self::new(&raw))
    }

    fn new(raw: &RawKeys) -> Self {
        Self {
            aead: Aes128Gcm::new(GenericArray::from_slice(&raw.key)),
            hp: Aes128::new(GenericArray::from_slice(&raw.hp)),
            iv: raw.iv,
        }
    }

    /// Removes header protection and decrypts the packet `packet` (from its
    /// first octet to the end given by its Length) into `scratch`; returns the
    /// packet number and the plaintext payload.
    fn open<'s>(
        &self,
        header: &LongHeader<'_>,
        packet: &[u8],
        largest_pn: Option<u64>,
        scratch: &'s mut [u8; MAX_PACKET],
    ) -> Result<(u64, &'s [u8]), QuicError> {
        let pn_offset = header.pn_offset;
        // The sample starts 4 octets after the packet number's start (RFC 9001 §5.4.2).
        let sample = packet
            .get(pn_offset + 4..pn_offset + 4 + SAMPLE_LEN)
            .ok_or(QuicError::Header)?;
        let mut mask = GenericArray::clone_from_slice(sample);
        self.hp.encrypt_block(&mut mask);
        let buf = scratch.get_mut(..packet.len()).ok_or(QuicError::TooLarge)?;
        buf.copy_from_slice(packet);
        let first = buf.first_mut().ok_or(QuicError::Header)?;
        *first ^= mask.first().copied().unwrap_or(0) & 0x0f;
        let pn_len = usize::from(*first & 0x03) + 1;
        let mut truncated = 0u64;
        for i in 0..pn_len {
            let b = buf.get_mut(pn_offset + i).ok_or(QuicError::Header)?;
            *b ^= mask.get(1 + i).copied().unwrap_or(0);
            truncated = (truncated << 8) | u64::from(*b);
        }
        let pn = decode_packet_number(largest_pn, truncated, pn_len * 8);
        let header_len = pn_offset + pn_len;
        if buf.len() < header_len + TAG_LEN {
            return Err(QuicError::Header);
        }
        let mut nonce = self.iv;
        for (n, p) in nonce.iter_mut().skip(4).zip(pn.to_be_bytes()) {
            *n ^= p;
        }
        let (aad, body) = buf.split_at_mut(header_len);
        let (payload, tag) = body.split_at_mut(body.len() - TAG_LEN);
        self.aead
            .decrypt_in_place_detached(
                Nonce::from_slice(&nonce),
                aad,
                payload,
                Tag::from_slice(tag),
            )
            .map_err(|_| QuicError::Decrypt)?;
        Ok((pn, payload))
    }
}

/// HKDF-Expand-Label with an empty context (RFC 8446 §7.1):
/// `uint16 length; opaque label<7..255> = "tls13 " + label; opaque context<0..255>`.
fn expand_label(prk: &Hkdf<Sha256>, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(label.len() + 6).ok()?];
    prk.expand_multi_info(&[&len, &label_len, b"tls13 ", label, &[0]], out)
        .ok()
}

/// RFC 9000 §A.3.
fn decode_packet_number(largest: Option<u64>, truncated: u64, bits: usize) -> u64 {
    let expected = largest.map_or(0, |l| l.saturating_add(1));
    let win = 1u64 << bits.min(32);
    let hwin = win / 2;
    let candidate = (expected & !(win - 1)) | truncated;
    if candidate.saturating_add(hwin) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(hwin) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PacketType {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// The cleartext part of a v1/v2 long header.
#[derive(Clone, Copy, Debug)]
struct LongHeader<'a> {
    version: u32,
    ty: PacketType,
    dcid: &'a [u8],
    scid: &'a [u8],
    /// Offset of the (protected) packet number.
    pn_offset: usize,
    /// Octets of the packet, from its first octet to the end of its payload.
    len: usize,
}

impl<'a> LongHeader<'a> {
    /// Version and packet type of a v1/v2 long header, and a cursor on the
    /// Destination Connection ID length that follows them.
    fn start(datagram: &'a [u8]) -> Option<(u32, PacketType, Reader<'a>)> {
        let mut r = Reader::new(datagram);
        let first = r.u8()?;
        if first & 0x80 == 0 {
            return None;
        }
        let version = r.u32()?;
        if version != VERSION_1 && version != VERSION_2 {
            return None;
        }
        let ty = match (version, (first >> 4) & 0x03) {
            (VERSION_1, 0) | (VERSION_2, 1) => PacketType::Initial,
            (VERSION_1, 1) | (VERSION_2, 2) => PacketType::ZeroRtt,
            (VERSION_1, 2) | (VERSION_2, 3) => PacketType::Handshake,
            _ => PacketType::Retry,
        };
        Some((version, ty, r))
    }

    /// `Ok(None)`: not a long header of version 1 or 2 (a short header,
    /// padding, another version) — the walk of the datagram stops there.
    fn parse(datagram: &'a [u8]) -> Result<Option<Self>, QuicError> {
        let Some((version, ty, mut r)) = Self::start(datagram) else {
            return Ok(None);
        };
        let dcid = cid(&mut r)?;
        let scid = cid(&mut r)?;
        if ty == PacketType::Retry {
            return Ok(Some(Self {
                version,
                ty,
                dcid,
                scid,
                pn_offset: datagram.len(),
                len: datagram.len(),
            }));
        }
        if ty == PacketType::Initial {
            let token = varint(&mut r).ok_or(QuicError::Header)?;
            take_varint_len(&mut r, token).ok_or(QuicError::Header)?;
        }
        let length = varint(&mut r).ok_or(QuicError::Header)?;
        let pn_offset = r.offset();
        let len = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(pn_offset))
            .filter(|&l| l <= datagram.len())
            .ok_or(QuicError::Header)?;
        Ok(Some(Self {
            version,
            ty,
            dcid,
            scid,
            pn_offset,
            len,
        }))
    }
}

/// The Destination Connection ID of a datagram that starts with a QUIC v1/v2
/// Initial packet: the cleartext header only, nothing decrypted (cheap enough
/// to recognise QUIC by).
pub fn initial_dcid(datagram: &[u8]) -> Option<&[u8]> {
    let (_, ty, mut r) = LongHeader::start(datagram)?;
    if ty != PacketType::Initial {
        return None;
    }
    let len = r.u8()?;
    r.take(usize::from(len))
}

/// A variable-length integer (RFC 9000 §16): the two high bits of the first
/// octet give its length, 1, 2, 4 or 8 octets.
fn varint(r: &mut Reader<'_>) -> Option<u64> {
    let len = 1usize << (r.peek_u8()? >> 6);
    let bytes = r.take(len)?;
    Some(
        bytes.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)) & (u64::MAX >> (64 - 8 * len + 2)),
    )
}

/// A length octet and the connection id it announces (at most 20 octets).
fn cid<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], QuicError> {
    let len = r.u8().ok_or(QuicError::Header)?;
    if usize::from(len) > MAX_CID_LEN {
        return Err(QuicError::CidLength);
    }
    r.take(usize::from(len)).ok_or(QuicError::Header)
}

/// `take` with a length read off the wire as a varint.
fn take_varint_len<'a>(r: &mut Reader<'a>, n: u64) -> Option<&'a [u8]> {
    r.take(usize::try_from(n).ok()?)
}

/// A connection id kept inline.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Cid {
    bytes: [u8; MAX_CID_LEN],
    len: u8,
}

impl Cid {
    fn new(cid: &[u8]) -> Self {
        let mut c = Cid::default();
        if let Some(dst) = c.bytes.get_mut(..cid.len()) {
            dst.copy_from_slice(cid);
            c.len = u8::try_from(cid.len()).unwrap_or(0);
        }
        c
    }

    fn as_bytes(&self) -> &[u8] {
        #[expect(
            clippy::indexing_slicing,
            reason = "len is at most MAX_CID_LEN: Cid::new cuts to it"
        )]
        &self.bytes[..usize::from(self.len)]
    }
}

const WORDS: usize = CRYPTO_CAP / 64;

/// A CRYPTO stream collected at the offsets its frames give, in any order.
struct CryptoStream {
    data: [u8; CRYPTO_CAP],
    /// One bit per octet of `data`: present.
    have: [u64; WORDS],
    /// `data[..contiguous]` is all present.
    contiguous: usize,
}

impl CryptoStream {
    fn new() -> Self {
        Self {
            data: [0; CRYPTO_CAP],
            have: [0; WORDS],
            contiguous: 0,
        }
    }

    /// Forgets the stream (the octets stay, unmarked).
    fn clear(&mut self) {
        self.have = [0; WORDS];
        self.contiguous = 0;
    }

    /// Copies CRYPTO data at `offset` into the buffer and marks it present;
    /// returns the octets dropped (beyond [`CRYPTO_CAP`]).
    fn store(&mut self, offset: u64, data: &[u8]) -> u64 {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(data.len());
        let kept_end = end.min(CRYPTO_CAP);
        let dropped = if kept_end < end {
            (end - kept_end.max(start)) as u64
        } else {
            0
        };
        if start >= kept_end {
            return dropped;
        }
        if let (Some(dst), Some(src)) = (
            self.data.get_mut(start..kept_end),
            data.get(..kept_end - start),
        ) {
            dst.copy_from_slice(src);
        }
        let mut i = start;
        while i < kept_end {
            let bit = i % 64;
            let n = (64 - bit).min(kept_end - i);
            let mask = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            if let Some(w) = self.have.get_mut(i / 64) {
                *w |= mask;
            }
            i += n;
        }
        dropped
    }

    /// Advances the contiguous prefix; true when it grew.
    fn advance(&mut self) -> bool {
        let before = self.contiguous;
        while let Some(&word) = self.have.get(self.contiguous / 64) {
            let bit = self.contiguous % 64;
            let run = (word >> bit).trailing_ones() as usize;
            self.contiguous += run.min(64 - bit);
            if run < 64 - bit {
                break;
            }
        }
        self.contiguous != before
    }

    fn prefix(&self) -> &[u8] {
        #[expect(
            clippy::indexing_slicing,
            reason = "contiguous counts octets of data from offset 0, at most CRYPTO_CAP"
        )]
        &self.data[..self.contiguous]
    }
}

/// The Initial packets of one QUIC connection: the client's keys and
/// ClientHello, then the server's keys and ServerHello. One CRYPTO buffer
/// serves both sides in turn (the client's until its ClientHello is parsed).
pub struct QuicInitialState {
    version: u32,
    keys: Option<InitialKeys>,
    /// The server's Initial key material and the version it is for (derived
    /// on the first server Initial, from `odcid`; the ciphers are keyed per
    /// packet, for the few server Initials before the ServerHello).
    server_keys: Option<(u32, RawKeys)>,
    /// The first Destination Connection ID: the one the keys come from.
    odcid: Cid,
    /// Another DCID the current keys decrypted, or the Source Connection ID of
    /// the server's Initials: the server's connection id, which the client's
    /// later Initials carry.
    alt_dcid: Cid,
    largest_pn: Option<u64>,
    server_largest_pn: Option<u64>,
    /// The client's CRYPTO stream until `finished`, then the server's.
    crypto: CryptoStream,
    /// The ClientHello was reported, or the stream proved not to hold one.
    finished: bool,
    /// The ServerHello was reported, or the server's stream proved not to hold one.
    server_finished: bool,
    connections: u32,
    dropped_octets: u64,
}

impl Default for QuicInitialState {
    fn default() -> Self {
        Self::new()
    }
}

impl QuicInitialState {
    pub fn new() -> Self {
        Self {
            version: 0,
            keys: None,
            server_keys: None,
            odcid: Cid::default(),
            alt_dcid: Cid::default(),
            largest_pn: None,
            server_largest_pn: None,
            crypto: CryptoStream::new(),
            finished: false,
            server_finished: false,
            connections: 0,
            dropped_octets: 0,
        }
    }

    /// Forgets the connection (the 5-tuple's flow ended).
    pub fn reset(&mut self) {
        self.version = 0;
        self.keys = None;
        self.start(Cid::default());
    }

    /// Connections seen on this state so far: a change tells the caller that a
    /// new connection started on the same 5-tuple (a new session).
    pub fn connections(&self) -> u32 {
        self.connections
    }

    /// The first Destination Connection ID of the current connection.
    pub fn original_dcid(&self) -> &[u8] {
        self.odcid.as_bytes()
    }

    /// The server's connection id (the Source Connection ID of its Initials,
    /// the DCID of the client's later Initials), once seen; empty before.
    pub fn server_cid(&self) -> &[u8] {
        self.alt_dcid.as_bytes()
    }

    /// The QUIC version of the current connection (0 before the first Initial).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The connection's ClientHello was reported (or proved absent).
    pub fn client_finished(&self) -> bool {
        self.finished
    }

    /// The connection's ServerHello was reported (or proved absent): the
    /// server's Initials have nothing more for the caller.
    pub fn server_finished(&self) -> bool {
        self.server_finished
    }

    /// CRYPTO octets dropped: beyond [`CRYPTO_CAP`], or the server's before
    /// the ClientHello was complete.
    pub fn dropped_octets(&self) -> u64 {
        self.dropped_octets
    }

    fn start(&mut self, odcid: Cid) {
        self.odcid = odcid;
        self.alt_dcid = Cid::default();
        self.server_keys = None;
        self.largest_pn = None;
        self.server_largest_pn = None;
        self.crypto.clear();
        self.finished = false;
        self.server_finished = false;
    }

    /// Takes the UDP payload of one client→server datagram.
    pub fn on_client_datagram(&mut self, datagram: &[u8]) -> QuicStatus {
        walk_datagram(datagram, |header, packet| self.on_initial(header, packet))
    }

    /// Takes the UDP payload of one server→client datagram of the connection
    /// whose client datagrams this state took.
    pub fn on_server_datagram(&mut self, datagram: &[u8]) -> QuicStatus<ServerHello> {
        walk_datagram(datagram, |header, packet| {
            self.on_server_initial(header, packet)
        })
    }

    fn on_initial(&mut self, header: &LongHeader<'_>, packet: &[u8]) -> QuicStatus {
        let same_version = self.keys.is_some() && self.version == header.version;
        let known = same_version
            && (header.dcid == self.odcid.as_bytes() || header.dcid == self.alt_dcid.as_bytes());
        if known && self.finished {
            return Outcome::NotThis;
        }
        let mut scratch = [0u8; MAX_PACKET];
        if let Some(keys) = self.keys.as_ref().filter(|_| same_version) {
            match keys.open(header, packet, self.largest_pn, &mut scratch) {
                Ok((pn, payload)) => {
                    if !known {
                        self.alt_dcid = Cid::new(header.dcid);
                    }
                    self.largest_pn = Some(self.largest_pn.map_or(pn, |l| l.max(pn)));
                    if self.finished {
                        return Outcome::NotThis;
                    }
                    return self.on_payload(payload);
                }
                Err(e) if known => return Outcome::Malformed(e),
                Err(_) => {}
            }
        }
        // The first Initial of a connection, or of a new one on this 5-tuple.
        let Some(keys) = InitialKeys::derive(header.version, Side::Client, header.dcid) else {
            return Outcome::NotThis;
        };
        match keys.open(header, packet, None, &mut scratch) {
            Ok((pn, payload)) => {
                self.version = header.version;
                self.keys = Some(keys);
                self.start(Cid::new(header.dcid));
                self.connections = self.connections.saturating_add(1);
                self.largest_pn = Some(pn);
                self.on_payload(payload)
            }
            Err(e) => Outcome::Malformed(e),
        }
    }

    /// Walks the frames of a decrypted client Initial payload.
    fn on_payload(&mut self, payload: &[u8]) -> QuicStatus {
        let crypto = &mut self.crypto;
        let mut dropped = 0u64;
        let walked = walk_frames(payload, |offset, data| {
            dropped = dropped.saturating_add(crypto.store(offset, data));
        });
        self.dropped_octets = self.dropped_octets.saturating_add(dropped);
        if walked.is_none() {
            return Outcome::Malformed(QuicError::Frame);
        }
        self.try_hello()
    }

    /// Advances the contiguous prefix and parses the ClientHello when it grew.
    fn try_hello(&mut self) -> QuicStatus {
        if self.finished {
            return Outcome::NotThis;
        }
        if !self.crypto.advance() {
            return Outcome::Incomplete;
        }
        let status = match tls::client_hello_crypto(self.crypto.prefix()) {
            Outcome::Done(hello) => Outcome::Done(hello),
            Outcome::Incomplete if self.crypto.contiguous < CRYPTO_CAP => {
                return Outcome::Incomplete;
            }
            Outcome::Incomplete => Outcome::Malformed(QuicError::Tls(tls::Malformed {
                reason: tls::Reason::HandshakeLength,
                offset: CRYPTO_CAP as u32,
            })),
            Outcome::NotThis => Outcome::Malformed(QuicError::NotClientHello),
            Outcome::Malformed(m) => Outcome::Malformed(QuicError::Tls(m)),
        };
        // The client's stream is done with: the buffer is the server's now.
        self.finished = true;
        self.crypto.clear();
        status
    }

    fn on_server_initial(
        &mut self,
        header: &LongHeader<'_>,
        packet: &[u8],
    ) -> QuicStatus<ServerHello> {
        if self.keys.is_none() {
            return Outcome::Malformed(QuicError::NoConnection);
        }
        if self.server_finished {
            return Outcome::NotThis;
        }
        if self
            .server_keys
            .as_ref()
            .is_none_or(|(v, _)| *v != header.version)
        {
            let Some(raw) = RawKeys::derive(header.version, Side::Server, self.odcid.as_bytes())
            else {
                return Outcome::NotThis;
            };
            self.server_keys = Some((header.version, raw));
            self.server_largest_pn = None;
        }
        let Some((_, raw)) = self.server_keys.as_ref() else {
            return Outcome::NotThis;
        };
        let keys = InitialKeys::new(raw);
        let mut scratch = [0u8; MAX_PACKET];
        let (pn, payload) = match keys.open(header, packet, self.server_largest_pn, &mut scratch) {
            Ok(opened) => opened,
            Err(e) => return Outcome::Malformed(e),
        };
        self.server_largest_pn = Some(self.server_largest_pn.map_or(pn, |l| l.max(pn)));
        if self.alt_dcid.len == 0 {
            self.alt_dcid = Cid::new(header.scid);
        }
        // Until the ClientHello is parsed the buffer is the client's: the
        // server's CRYPTO octets are dropped (a ServerHello cannot precede it).
        let owned = self.finished;
        let crypto = &mut self.crypto;
        let mut dropped = 0u64;
        let walked = walk_frames(payload, |offset, data| {
            let d = if owned {
                crypto.store(offset, data)
            } else {
                data.len() as u64
            };
            dropped = dropped.saturating_add(d);
        });
        self.dropped_octets = self.dropped_octets.saturating_add(dropped);
        if walked.is_none() {
            return Outcome::Malformed(QuicError::Frame);
        }
        if !owned || !self.crypto.advance() {
            return Outcome::Incomplete;
        }
        let status = match tls::server_hello_crypto(self.crypto.prefix()) {
            Outcome::Done(hello) => Outcome::Done(hello),
            Outcome::Incomplete if self.crypto.contiguous < CRYPTO_CAP => {
                return Outcome::Incomplete;
            }
            Outcome::Incomplete => Outcome::Malformed(QuicError::Tls(tls::Malformed {
                reason: tls::Reason::HandshakeLength,
                offset: CRYPTO_CAP as u32,
            })),
            Outcome::NotThis => Outcome::Malformed(QuicError::NotServerHello),
            Outcome::Malformed(m) => Outcome::Malformed(QuicError::Tls(m)),
        };
        self.server_finished = true;
        status
    }
}

/// Walks the coalesced long-header packets of a datagram (at most
/// [`MAX_COALESCED`]), handing each Initial to `initial`; Handshake and 0-RTT
/// packets are skipped by their Length, a Retry ends the walk.
fn walk_datagram<T>(
    datagram: &[u8],
    mut initial: impl FnMut(&LongHeader<'_>, &[u8]) -> QuicStatus<T>,
) -> QuicStatus<T> {
    let mut status = Outcome::NotThis;
    let mut rest = datagram;
    for _ in 0..MAX_COALESCED {
        let header = match LongHeader::parse(rest) {
            Ok(Some(h)) => h,
            Ok(None) => break,
            Err(e) => {
                status = merge(status, Outcome::Malformed(e));
                break;
            }
        };
        let (packet, after) = rest.split_at(header.len.min(rest.len()));
        if header.ty == PacketType::Initial {
            status = merge(status, initial(&header, packet));
        }
        if header.ty == PacketType::Retry {
            break;
        }
        rest = after;
    }
    status
}

/// Walks the frames of a decrypted Initial payload (RFC 9000 §12.4: only
/// PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE may appear), handing each
/// CRYPTO frame's offset and data to `crypto`. `None`: a cut frame or one not
/// allowed in an Initial (the frames before it were handed over).
fn walk_frames(payload: &[u8], mut crypto: impl FnMut(u64, &[u8])) -> Option<()> {
    let mut r = Reader::new(payload);
    while r.any_left() {
        let ty = varint(&mut r)?;
        match ty {
            // PADDING: skip the run.
            0x00 => {
                let run = r.peek_rest().iter().take_while(|&&b| b == 0).count();
                r.skip(run)?;
            }
            0x01 => {}
            0x02 | 0x03 => skip_ack(&mut r, ty == 0x03)?,
            0x06 => {
                let offset = varint(&mut r)?;
                let len = varint(&mut r)?;
                crypto(offset, take_varint_len(&mut r, len)?);
            }
            0x1c | 0x1d => {
                varint(&mut r)?;
                if ty == 0x1c {
                    varint(&mut r)?;
                }
                let reason = varint(&mut r)?;
                take_varint_len(&mut r, reason)?;
            }
            _ => return None,
        }
    }
    Some(())
}

/// ACK frame (RFC 9000 §19.3): Largest Acknowledged, ACK Delay, ACK Range
/// Count, First ACK Range, ranges (Gap, Length), ECN counts for type 0x03.
fn skip_ack(r: &mut Reader<'_>, ecn: bool) -> Option<()> {
    varint(r)?;
    varint(r)?;
    let ranges = varint(r)?;
    varint(r)?;
    // Each range is at least 2 octets: a count beyond that is cut.
    if ranges > r.left() as u64 / 2 {
        return None;
    }
    for _ in 0..ranges {
        varint(r)?;
        varint(r)?;
    }
    if ecn {
        varint(r)?;
        varint(r)?;
        varint(r)?;
    }
    Some(())
}

fn merge<T>(a: QuicStatus<T>, b: QuicStatus<T>) -> QuicStatus<T> {
    if b.rank() > a.rank() { b } else { a }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests;
