//! Blocking (spec §4 LOCKED): the one place the bridge does not forward a
//! packet unchanged.
//!
//! A listed host's HTTP request is dropped and answered — a `302 Found` to
//! `block_redirect_url` with a FIN (LOCKED 2), or a RST (LOCKED 3) — and the
//! server is reset; a ClientHello with a listed server name is dropped and
//! both ends reset (LOCKED 1); a QUIC Initial with one is dropped (LOCKED 1).
//! Either way the connection's later packets are dropped too, so a
//! retransmitted request never reaches the server. The verdict is the
//! analysis of the packet itself, in its burst, before the burst is sent.
//!
//! * [`list`]: the block list and its matching;
//! * [`inject`]: the answering segments, in the request's encapsulation.

pub mod inject;
pub mod list;

use std::sync::Arc;

pub use list::BlockList;

use crate::counters::{AppCount, AppCounters};
use crate::forward::{INJECT_FRAME_MAX, Toward, Verdict};
use crate::table::Handle;
use crate::wire::{Packet, TcpFlags, Transport};
use inject::Segment;

/// Where workers find the current block list.
pub type BlockHandle = Handle<BlockList>;

/// Longest `block_redirect_url` (the configuration refuses longer ones).
pub const REDIRECT_URL_MAX: usize = 1024;

/// The 302 without its URL (see [`redirect_response`]).
const REDIRECT_HEAD: &str =
    "HTTP/1.1 302 Found\r\nLocation: \r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

// The longest 302 fits one injected frame under 64 octets of L2 (QinQ,
// PPPoE, several MPLS labels) and IPv6: it is never cut.
const _: () = assert!(64 + 40 + 20 + REDIRECT_HEAD.len() + REDIRECT_URL_MAX <= INJECT_FRAME_MAX);

/// LOCKED of a blocked request's record (spec §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// A TLS or QUIC server name: reset (TCP) or dropped (QUIC).
    Https = 1,
    /// An HTTP request answered with a redirect.
    HttpRedirect = 2,
    /// An HTTP request reset.
    Http = 3,
}

impl Lock {
    /// The LOCKED field of a record: 0 when not blocked.
    pub fn field(lock: Option<Lock>) -> u64 {
        lock.map_or(0, |l| l as u64)
    }
}

/// What a worker blocks with: the list in use and the answer to HTTP.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub list: Arc<BlockList>,
    /// The whole HTTP answer to a blocked request (`None`: reset instead).
    pub redirect: Option<Arc<[u8]>>,
}

impl Policy {
    /// A policy answering blocked HTTP requests with a redirect to `url`
    /// (`None`: resetting them).
    pub fn new(list: Arc<BlockList>, url: Option<&str>) -> Policy {
        Policy {
            list,
            redirect: url.map(|u| redirect_response(u).into()),
        }
    }

    /// The lock of an HTTP request to `host` for `path`.
    pub fn http(&self, host: &[u8], path: &[u8]) -> Option<Lock> {
        self.list
            .matches(host, Some(path))
            .then_some(if self.redirect.is_some() {
                Lock::HttpRedirect
            } else {
                Lock::Http
            })
    }

    /// The lock of a TLS or QUIC server name.
    pub fn server_name(&self, name: &[u8]) -> Option<Lock> {
        self.list.matches(name, None).then_some(Lock::Https)
    }

    /// Acts on the blocked request `packet` (decoded from `frame`, the `i`-th
    /// of its burst): drops it, adds its answers to `verdict`, counts.
    /// `frame` is `None` when the packet is a reassembled datagram (no frame
    /// to mirror): it is dropped unanswered.
    pub fn act(
        &self,
        lock: Lock,
        (i, frame, packet): (usize, Option<&[u8]>, &Packet),
        verdict: &mut Verdict,
        c: &AppCounters,
    ) {
        verdict.drop_packet(i);
        let tcp = match packet.transport {
            Transport::Tcp(tcp) => tcp,
            _ => return c.add(AppCount::BlockQuicDropped, 1),
        };
        let (answer, flags, counted) = match (lock, &self.redirect) {
            (Lock::HttpRedirect, Some(r)) => (
                &r[..],
                TcpFlags::PSH.union(TcpFlags::ACK).union(TcpFlags::FIN),
                AppCount::BlockHttpRedirected,
            ),
            (Lock::Https, _) => (&[][..], RST_ACK, AppCount::BlockTlsReset),
            (Lock::Http | Lock::HttpRedirect, _) => (&[][..], RST_ACK, AppCount::BlockHttpReset),
        };
        c.add(counted, 1);
        // What the server acknowledges next: every octet of the request (and a SYN or FIN).
        let flag = |f: TcpFlags| u32::from(tcp.flags.contains(f));
        let client_next = tcp
            .seq
            .wrapping_add(packet.payload.len)
            .wrapping_add(flag(TcpFlags::SYN) + flag(TcpFlags::FIN));
        let segments = [
            (
                Toward::Back,
                Segment {
                    back: true,
                    seq: tcp.ack,
                    ack: client_next,
                    flags,
                    payload: answer,
                },
            ),
            // The server never got this segment: its seq is the one the server expects.
            (
                Toward::On,
                Segment {
                    back: false,
                    seq: tcp.seq,
                    ack: tcp.ack,
                    flags: RST_ACK,
                    payload: &[],
                },
            ),
        ];
        for (toward, seg) in &segments {
            let built = frame.is_some_and(|frame| {
                verdict.inject(*toward, |buf| inject::write(buf, frame, packet, seg))
            });
            if !built {
                c.add(AppCount::BlockNotBuilt, 1);
            }
        }
    }
}

const RST_ACK: TcpFlags = TcpFlags::RST.union(TcpFlags::ACK);

/// The HTTP answer to a blocked request: `302 Found` to `url`, no body, and
/// the connection closes ([`REDIRECT_HEAD`] around the URL).
fn redirect_response(url: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 302 Found\r\nLocation: {url}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::inject::tests::{ETH, request_v4};
    use super::*;
    use crate::table::Table;
    use crate::wire::decode;

    fn policy(url: Option<&str>) -> Policy {
        Policy::new(
            Arc::new(BlockList::parse("blocked.example\n", 1).unwrap()),
            url,
        )
    }

    #[test]
    fn a_redirect_answers_with_a_302_and_fin_and_resets_the_server() {
        let p = policy(Some("http://stop.example/why"));
        assert_eq!(p.http(b"blocked.example", b"/"), Some(Lock::HttpRedirect));
        assert_eq!(p.http(b"other.example", b"/"), None);
        let req = request_v4(&ETH, b"GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n");
        let packet = decode(&req);
        let (mut v, c) = (Verdict::default(), AppCounters::default());
        p.act(Lock::HttpRedirect, (5, Some(&req), &packet), &mut v, &c);
        assert_eq!(v.drop, 1 << 5);
        let back: Vec<_> = v.frames(Toward::Back).collect();
        let on: Vec<_> = v.frames(Toward::On).collect();
        assert_eq!((back.len(), on.len()), (1, 1));
        let reply = decode(back[0]);
        let t = reply.tcp().unwrap();
        assert_eq!((t.seq, t.ack), (5000, 1000 + packet.payload.len));
        assert!(t.flags.contains(TcpFlags::FIN));
        let text = reply.payload.slice(back[0]);
        assert_eq!(
            text.len(),
            REDIRECT_HEAD.len() + "http://stop.example/why".len()
        );
        assert!(text.starts_with(b"HTTP/1.1 302 Found\r\nLocation: http://stop.example/why\r\n"));
        let rst = decode(on[0]).tcp().copied().unwrap();
        assert_eq!((rst.seq, rst.flags), (1000, RST_ACK));
        assert_eq!(c.get(AppCount::BlockHttpRedirected), 1);
    }

    #[test]
    fn without_a_url_both_ends_are_reset() {
        let p = policy(None);
        assert_eq!(p.http(b"blocked.example", b"/"), Some(Lock::Http));
        assert_eq!(p.server_name(b"blocked.example"), Some(Lock::Https));
        let req = request_v4(&ETH, b"GET / HTTP/1.1\r\n\r\n");
        let packet = decode(&req);
        let (mut v, c) = (Verdict::default(), AppCounters::default());
        p.act(Lock::Http, (0, Some(&req), &packet), &mut v, &c);
        let back = decode(v.frames(Toward::Back).next().unwrap())
            .tcp()
            .copied()
            .unwrap();
        assert_eq!((back.seq, back.flags), (5000, RST_ACK));
        assert_eq!(c.get(AppCount::BlockHttpReset), 1);
        // A reassembled datagram is dropped unanswered, and that is counted.
        let mut v = Verdict::default();
        p.act(Lock::Https, (1, None, &packet), &mut v, &c);
        assert_eq!((v.drop, v.has_frames()), (2, false));
        assert_eq!(c.get(AppCount::BlockNotBuilt), 2);
    }

    #[test]
    fn a_quic_initial_is_only_dropped() {
        let p = policy(None);
        let mut udp = request_v4(&ETH, b"x");
        udp[14 + 9] = 17;
        udp[14 + 24..14 + 26].copy_from_slice(&9u16.to_be_bytes());
        let packet = decode(&udp);
        assert!(packet.udp().is_some());
        let (mut v, c) = (Verdict::default(), AppCounters::default());
        p.act(Lock::Https, (3, Some(&udp), &packet), &mut v, &c);
        assert_eq!((v.drop, v.has_frames()), (8, false));
        assert_eq!(c.get(AppCount::BlockQuicDropped), 1);
    }
}
