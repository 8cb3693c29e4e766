//! The sockets at the edge of the sans-IO core: one non-blocking UDP or TCP
//! socket per collector, bound to `ipfix_dev` (`SO_BINDTODEVICE`) when it is
//! set. Nothing here ever blocks: a send either takes a whole message, keeps
//! what the socket would not take in a bounded backlog (TCP), or answers
//! "would block" and takes nothing. Time is passed in (Unix microseconds), as everywhere in `export`.
//!
//! ```text
//!   TCP:   Down ──retry_at──► Connecting ──SO_ERROR / getpeername──► Up
//!           ▲  backoff 1 s → 30 s   │ refused, timeout                 │ EOF, reset,
//!           └───────────────────────┴──────────────────────────────────┘ write error
//! ```
//!
//! RFC 7011 §10.4.2.1 (TCP): "the Exporting Process MUST send the Template
//! Records [...] before the Data Records" of a new connection — the exporter
//! calls `Session::restart` on every [`TcpEvent::Connected`].
//!
//! Faults are named by what the kernel said ([`Fault`]): a collector the
//! routing table cannot reach, a UDP port nothing listens on (the ICMP port
//! unreachable is reported on the next send: `IP_RECVERR` asks for ICMP errors
//! on our unconnected UDP sockets), a TCP collector that is down. TCP data
//! counts as delivered only once the collector acknowledged it: the bytes
//! still in the socket's send queue (`SIOCOUTQ`) when a connection dies are
//! the messages it lost ([`TcpEvent::Lost`]).

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read as _};
use std::mem::MaybeUninit;
use std::net::SocketAddr;

/// First reconnect delay, µs.
pub const RECONNECT_MIN_US: u64 = 1_000_000;
/// Longest reconnect delay, µs.
pub const RECONNECT_MAX_US: u64 = 30_000_000;
/// A connect that has not completed after this long has failed, µs.
pub const CONNECT_TIMEOUT_US: u64 = 5_000_000;

/// A start-up error that names the configuration key at fault.
#[derive(Debug)]
pub struct StartError {
    /// The configuration key (`ipfix_dev`, `ipfix_mtu`, a collector list).
    pub key: &'static str,
    /// What is wrong.
    pub message: String,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

impl std::error::Error for StartError {}

/// Binds `sock` to the network interface `dev` (`SO_BINDTODEVICE`).
fn bind_device(sock: &Socket, dev: &str) -> Result<(), StartError> {
    sock.bind_device(Some(dev.as_bytes())).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::ENODEV) => "no such network interface".to_string(),
            Some(libc::EPERM) => "binding a socket to an interface needs CAP_NET_RAW".to_string(),
            _ => e.to_string(),
        };
        StartError {
            key: "ipfix_dev",
            message: format!("cannot bind the export sockets to {dev:?}: {why} ({e})"),
        }
    })
}

/// Checks at start that `dev` exists and export sockets can be bound to it
/// (a missing device is an error naming `ipfix_dev`). `""` is always fine.
pub fn check_device(dev: &str) -> Result<(), StartError> {
    if dev.is_empty() {
        return Ok(());
    }
    let sock =
        Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).map_err(|e| StartError {
            key: "ipfix_dev",
            message: format!("cannot open a socket to check {dev:?}: {e}"),
        })?;
    bind_device(&sock, dev)
}

/// A non-blocking socket of `ty` towards `peer`'s family, bound to `dev`.
fn open(peer: SocketAddr, ty: Type, dev: &str, key: &'static str) -> Result<Socket, StartError> {
    let proto = if ty == Type::STREAM {
        Protocol::TCP
    } else {
        Protocol::UDP
    };
    let err = |what: &str, e: io::Error| StartError {
        key,
        message: format!("{peer}: {what}: {e}"),
    };
    let sock = Socket::new(Domain::for_address(peer), ty, Some(proto))
        .map_err(|e| err("cannot open a socket", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| err("cannot make the socket non-blocking", e))?;
    if !dev.is_empty() {
        bind_device(&sock, dev)?;
    }
    Ok(sock)
}

/// Why a collector did not take a message, from the error the kernel gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// There is no way to it: no route (ENETUNREACH), an unreachable route or
    /// an ICMP host/net unreachable (EHOSTUNREACH), a link or host down
    /// (ENETDOWN, EHOSTDOWN), a blackhole route (EINVAL), a prohibit route or
    /// a firewall (EACCES, EPERM).
    Unreachable,
    /// Nothing listens on its UDP port: an ICMP port unreachable came back,
    /// which the kernel reports on the next send (ECONNREFUSED).
    Refused,
    /// Any other failure; for TCP, not connected.
    Down,
}

impl Fault {
    /// The fault an error of a send or a connect means.
    pub fn of(e: &io::Error) -> Fault {
        match e.raw_os_error() {
            Some(
                libc::ENETUNREACH
                | libc::EHOSTUNREACH
                | libc::ENETDOWN
                | libc::EHOSTDOWN
                | libc::EINVAL
                | libc::EACCES
                | libc::EPERM,
            ) => Fault::Unreachable,
            Some(libc::ECONNREFUSED) => Fault::Refused,
            _ => Fault::Down,
        }
    }

    /// Its name in the summary, the metrics and the alert lines.
    pub const fn name(self) -> &'static str {
        match self {
            Fault::Unreachable => "unreachable",
            Fault::Refused => "refused",
            Fault::Down => "collector-down",
        }
    }
}

/// What a send did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Written whole.
    Sent,
    /// Taken, all or part of it kept in the backlog, which is written before
    /// anything else (TCP). The message counts as sent.
    Queued,
    /// Nothing written: the socket buffer is full (TCP: and the backlog has no
    /// room for the message). The message is not taken.
    WouldBlock,
    /// Nothing written: the collector is down (TCP) or the send failed, for
    /// this reason (the error itself: [`UdpTransport::last_error`] or the
    /// [`TcpEvent`]).
    Failed(Fault),
}

/// Errors of the queue read per look ([`UdpTransport::pending_fault`]); the
/// queue itself is bounded by the socket's receive buffer.
const ERROR_QUEUE_READS: usize = 64;

/// A UDP collector: one socket, each message one datagram.
#[derive(Debug)]
pub struct UdpTransport {
    sock: Socket,
    peer: SockAddr,
    addr: SocketAddr,
    errors: u64,
    last_error: Option<io::Error>,
}

impl UdpTransport {
    /// A socket towards `addr`, bound to `dev` when not empty. `key` names
    /// the collector list in errors.
    pub fn new(addr: SocketAddr, dev: &str, key: &'static str) -> Result<Self, StartError> {
        let sock = open(addr, Type::DGRAM, dev, key)?;
        sys::ask_for_icmp_errors(&sock, addr.is_ipv6()).map_err(|e| StartError {
            key,
            message: format!("{addr}: cannot ask for ICMP errors (IP_RECVERR): {e}"),
        })?;
        Ok(UdpTransport {
            sock,
            peer: SockAddr::from(addr),
            addr,
            errors: 0,
            last_error: None,
        })
    }

    /// The error of the last failed send or [`pending_fault`](Self::pending_fault).
    pub fn last_error(&self) -> Option<&io::Error> {
        self.last_error.as_ref()
    }

    /// An ICMP error that came back since the last send (a closed port, an
    /// unreachable host), taken and classified; the socket's error queue is
    /// emptied. Look at the start of each cycle: the fault holds for the
    /// datagram that drew it, which was sent (its records were counted).
    pub fn pending_fault(&mut self) -> Option<Fault> {
        let e = self.sock.take_error().ok().flatten()?;
        Some(self.failed(e))
    }

    /// Counts and keeps a send error, empties the error queue, classifies it.
    #[cold]
    fn failed(&mut self, e: io::Error) -> Fault {
        self.errors += 1;
        let fault = Fault::of(&e);
        self.last_error = Some(e);
        let mut buf = [MaybeUninit::<u8>::uninit(); 256];
        for _ in 0..ERROR_QUEUE_READS {
            if self
                .sock
                .recv_with_flags(&mut buf, libc::MSG_ERRQUEUE)
                .is_err()
            {
                break;
            }
        }
        fault
    }

    /// The collector.
    pub fn peer(&self) -> SocketAddr {
        self.addr
    }

    /// The local address (for tests and logs).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.sock.local_addr().ok().and_then(|a| a.as_socket())
    }

    /// Send errors other than a full buffer.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Sends one message as one datagram.
    pub fn send(&mut self, msg: &[u8]) -> SendOutcome {
        match self.sock.send_to(msg, &self.peer) {
            Ok(_) => SendOutcome::Sent,
            Err(e) if e.kind() == ErrorKind::WouldBlock => SendOutcome::WouldBlock,
            Err(e) if e.kind() == ErrorKind::Interrupted => self.send_retry(msg),
            Err(e) => SendOutcome::Failed(self.failed(e)),
        }
    }

    #[cold]
    fn send_retry(&mut self, msg: &[u8]) -> SendOutcome {
        match self.sock.send_to(msg, &self.peer) {
            Ok(_) => SendOutcome::Sent,
            Err(e) if e.kind() == ErrorKind::WouldBlock => SendOutcome::WouldBlock,
            Err(e) => SendOutcome::Failed(self.failed(e)),
        }
    }
}

/// What changed on a TCP collector during [`TcpTransport::maintain`].
#[derive(Debug, PartialEq, Eq)]
pub enum TcpEvent {
    /// A connection is established: send the templates first.
    Connected,
    /// A connect attempt failed; the next one is at `retry_at` (µs).
    ConnectFailed {
        /// Why.
        reason: String,
        /// What the failure means (unreachable, or down).
        fault: Fault,
        /// Unix µs of the next attempt.
        retry_at: u64,
    },
    /// An established connection was lost.
    Lost {
        /// Why.
        reason: String,
        /// Unix µs of the next attempt.
        retry_at: u64,
        /// Records the collector acknowledged since the last
        /// [`TcpTransport::take_acked`]: delivered.
        acked_records: u64,
        /// Records of the messages written to the connection that the
        /// collector had not acknowledged (still in the send queue, or in the
        /// backlog): lost with it.
        unacked_records: u64,
    },
}

#[derive(Debug)]
enum TcpState {
    Down { retry_at: u64 },
    Connecting { sock: Socket, since: u64 },
    Up { sock: Socket },
}

/// A TCP collector: non-blocking connect, reconnect with exponential
/// backoff, messages written whole or, what the socket does not take, kept in
/// a bounded backlog: a collector that stalls for a while (a disk flush, a
/// garbage collection) loses nothing until the backlog is full.
#[derive(Debug)]
pub struct TcpTransport {
    addr: SocketAddr,
    dev: String,
    key: &'static str,
    state: TcpState,
    backoff: u64,
    backoff_min: u64,
    backoff_max: u64,
    /// Octets taken and not written to the socket yet, oldest first: whole
    /// messages after the tail of a partly written one. Allocated once with
    /// room for `backlog_max` octets (pages are touched only when used).
    backlog: VecDeque<u8>,
    /// At most this many octets wait in `backlog` (at least one message).
    backlog_max: usize,
    /// The longest message: the backlog is full when it has less room.
    max_message_len: usize,
    /// Octets of the messages taken on this connection (written, or kept in
    /// the backlog).
    taken: u64,
    /// (end offset in `taken`, records) of each message taken and not yet
    /// acknowledged, oldest first. One entry per message in the socket's
    /// send queue (bounded by SO_SNDBUF) and in the backlog.
    unacked: VecDeque<(u64, u32)>,
    connects: u64,
    losses: u64,
    send_buffer: Option<usize>,
}

impl TcpTransport {
    /// A collector at `addr`, not connected yet: the first attempt is made by
    /// the first [`maintain`](Self::maintain). At most `backlog` octets (at
    /// least one message of `max_message_len`) wait for a socket that is
    /// full. Checks the device by opening a socket.
    pub fn new(
        addr: SocketAddr,
        dev: &str,
        key: &'static str,
        max_message_len: usize,
        backlog: usize,
    ) -> Result<Self, StartError> {
        drop(open(addr, Type::STREAM, dev, key)?);
        let backlog_max = backlog.max(max_message_len);
        Ok(TcpTransport {
            addr,
            dev: dev.to_string(),
            key,
            state: TcpState::Down { retry_at: 0 },
            backoff: RECONNECT_MIN_US,
            backoff_min: RECONNECT_MIN_US,
            backoff_max: RECONNECT_MAX_US,
            backlog: VecDeque::with_capacity(backlog_max),
            backlog_max,
            max_message_len,
            taken: 0,
            unacked: VecDeque::new(),
            connects: 0,
            losses: 0,
            send_buffer: None,
        })
    }

    /// Sets the reconnect backoff bounds, µs (doubling from `min` to `max`).
    pub fn set_backoff(&mut self, min: u64, max: u64) {
        self.backoff_min = min.max(1);
        self.backoff_max = max.max(self.backoff_min);
        self.backoff = self.backoff_min;
    }

    /// The collector.
    pub fn peer(&self) -> SocketAddr {
        self.addr
    }

    /// True when connected.
    pub fn is_up(&self) -> bool {
        matches!(self.state, TcpState::Up { .. })
    }

    /// Connections established so far.
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// Established connections lost so far.
    pub fn losses(&self) -> u64 {
        self.losses
    }

    /// True while taken octets wait in the backlog.
    pub fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Octets waiting in the backlog.
    pub fn backlog_octets(&self) -> usize {
        self.backlog.len()
    }

    /// True when the backlog has no room for another message: the socket and
    /// the backlog are both full.
    pub fn is_congested(&self) -> bool {
        self.backlog_max.saturating_sub(self.backlog.len()) < self.max_message_len
    }

    /// Records of the messages taken and not acknowledged by the collector yet.
    pub fn unacked_records(&self) -> u64 {
        self.unacked.iter().map(|&(_, r)| u64::from(r)).sum()
    }

    /// Records of the messages the collector acknowledged since the last call
    /// (whole messages: a message is delivered when its last octet is). Call
    /// it every cycle; 0 when not connected or the queue cannot be read.
    ///
    /// `SIOCOUTQ` is the socket's `write_seq - snd_una`, which a reset leaves
    /// as it was, so it still tells what was acknowledged when the collector
    /// died (see [`TcpEvent::Lost`]).
    pub fn take_acked(&mut self) -> u64 {
        let TcpState::Up { sock } = &self.state else {
            return 0;
        };
        let Ok(queued) = sys::unacked_octets(sock) else {
            return 0;
        };
        let waiting = self.backlog.len() as u64;
        let acked_to = self.taken.saturating_sub(waiting).saturating_sub(queued);
        let mut records = 0;
        while let Some(&(end, r)) = self.unacked.front()
            && end <= acked_to
        {
            records += u64::from(r);
            self.unacked.pop_front();
        }
        records
    }

    /// Unix µs of the next connect attempt, when down.
    pub fn retry_at(&self) -> Option<u64> {
        match self.state {
            TcpState::Down { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// Drives the connection: starts a due connect, completes a pending
    /// one, notices a collector that closed, writes the backlog.
    pub fn maintain(&mut self, now: u64) -> Option<TcpEvent> {
        match &self.state {
            TcpState::Down { retry_at } if now >= *retry_at => self.start_connect(now),
            TcpState::Down { .. } => None,
            TcpState::Connecting { sock, since } => {
                let since = *since;
                let done = match sock.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e),
                    Ok(None) => match sock.peer_addr() {
                        Ok(_) => Ok(true),
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
                        Err(e) => Err(e),
                    },
                };
                match done {
                    Ok(true) => Some(self.connected()),
                    Ok(false) if now.saturating_sub(since) >= CONNECT_TIMEOUT_US => {
                        Some(self.connect_failed(now, "connect timed out".into(), Fault::Down))
                    }
                    Ok(false) => None,
                    Err(e) => Some(self.connect_failed(now, e.to_string(), Fault::of(&e))),
                }
            }
            TcpState::Up { sock } => {
                // Collectors never send: EOF or an error means the peer is gone.
                let mut probe = [0u8; 64];
                let mut s: &Socket = sock;
                let gone = match s.read(&mut probe) {
                    Ok(0) => Some("closed by the collector".to_string()),
                    Ok(_) => None,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => None,
                    Err(e) if e.kind() == ErrorKind::Interrupted => None,
                    Err(e) => Some(e.to_string()),
                };
                match gone {
                    Some(reason) => Some(self.lose(now, reason)),
                    None => self.write_backlog(now),
                }
            }
        }
    }

    fn start_connect(&mut self, now: u64) -> Option<TcpEvent> {
        let sock = match open(self.addr, Type::STREAM, &self.dev, self.key) {
            Ok(s) => s,
            Err(e) => return Some(self.connect_failed(now, e.message, Fault::Down)),
        };
        let _ = sock.set_tcp_nodelay(true);
        if let Some(n) = self.send_buffer {
            let _ = sock.set_send_buffer_size(n);
        }
        match sock.connect(&SockAddr::from(self.addr)) {
            Ok(()) => {
                self.state = TcpState::Up { sock };
                Some(self.connected())
            }
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == ErrorKind::WouldBlock =>
            {
                self.state = TcpState::Connecting { sock, since: now };
                None
            }
            Err(e) => Some(self.connect_failed(now, e.to_string(), Fault::of(&e))),
        }
    }

    fn connected(&mut self) -> TcpEvent {
        if matches!(self.state, TcpState::Connecting { .. })
            && let TcpState::Connecting { sock, .. } =
                core::mem::replace(&mut self.state, TcpState::Down { retry_at: 0 })
        {
            self.state = TcpState::Up { sock };
        }
        self.connects += 1;
        self.backoff = self.backoff_min;
        self.backlog.clear();
        self.taken = 0;
        self.unacked.clear();
        TcpEvent::Connected
    }

    fn next_retry(&mut self, now: u64) -> u64 {
        let at = now.saturating_add(self.backoff);
        self.backoff = self.backoff.saturating_mul(2).min(self.backoff_max);
        at
    }

    fn connect_failed(&mut self, now: u64, reason: String, fault: Fault) -> TcpEvent {
        let retry_at = self.next_retry(now);
        self.state = TcpState::Down { retry_at };
        TcpEvent::ConnectFailed {
            reason,
            fault,
            retry_at,
        }
    }

    /// The connection is gone. What the collector did not acknowledge is lost:
    /// the send queue as the socket reports it now, and the backlog.
    fn lose(&mut self, now: u64, reason: String) -> TcpEvent {
        let acked_records = self.take_acked();
        let retry_at = self.next_retry(now);
        self.state = TcpState::Down { retry_at };
        self.backlog.clear();
        let unacked_records = self.unacked_records();
        self.unacked.clear();
        self.taken = 0;
        self.losses += 1;
        TcpEvent::Lost {
            reason,
            retry_at,
            acked_records,
            unacked_records,
        }
    }

    /// Drops the connection (a collector that cannot even take the
    /// templates), to be retried after the backoff.
    pub fn reset(&mut self, now: u64, reason: &str) -> Option<TcpEvent> {
        match self.state {
            TcpState::Up { .. } => Some(self.lose(now, reason.to_string())),
            TcpState::Connecting { .. } => {
                Some(self.connect_failed(now, reason.to_string(), Fault::Down))
            }
            TcpState::Down { .. } => None,
        }
    }

    /// Writes what the socket takes of the backlog.
    fn write_backlog(&mut self, now: u64) -> Option<TcpEvent> {
        let TcpState::Up { sock } = &self.state else {
            return None;
        };
        loop {
            let (front, _) = self.backlog.as_slices();
            if front.is_empty() {
                return None;
            }
            match sock.send_with_flags(front, libc::MSG_NOSIGNAL) {
                Ok(n) => drop(self.backlog.drain(..n)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Some(self.lose(now, e.to_string())),
            }
        }
    }

    /// Sends one message of `records` data records: written whole, or kept
    /// (all of it, or the tail the socket did not take) in the backlog when
    /// it has room, or not taken at all. Returns the outcome and, when the
    /// connection broke, the event. A message taken (sent or queued) is
    /// delivered once the collector acknowledged it ([`take_acked`](Self::take_acked)).
    pub fn send(&mut self, now: u64, msg: &[u8], records: u32) -> (SendOutcome, Option<TcpEvent>) {
        if !self.is_up() {
            return (SendOutcome::Failed(Fault::Down), None);
        }
        if let Some(ev) = self.write_backlog(now) {
            return (SendOutcome::Failed(Fault::Down), Some(ev));
        }
        if self.has_backlog() {
            // Behind what waits: in order, or not at all.
            if self.backlog_max.saturating_sub(self.backlog.len()) < msg.len() {
                return (SendOutcome::WouldBlock, None);
            }
            self.backlog.extend(msg);
            self.take(msg.len(), records);
            return (SendOutcome::Queued, None);
        }
        let TcpState::Up { sock } = &self.state else {
            return (SendOutcome::Failed(Fault::Down), None);
        };
        let mut off = 0;
        while let Some(rest) = msg.get(off..).filter(|r| !r.is_empty()) {
            match sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    // The backlog is empty and has room for one message; a
                    // longer one is not taken unless part of it is written.
                    if off == 0 && rest.len() > self.backlog_max {
                        return (SendOutcome::WouldBlock, None);
                    }
                    self.backlog.extend(rest);
                    self.take(msg.len(), records);
                    return (SendOutcome::Queued, None);
                }
                Err(e) => {
                    let ev = self.lose(now, e.to_string());
                    return (SendOutcome::Failed(Fault::Down), Some(ev));
                }
            }
        }
        self.take(msg.len(), records);
        (SendOutcome::Sent, None)
    }

    /// A message of `len` octets and `records` records is on its way.
    fn take(&mut self, len: usize, records: u32) {
        self.taken += len as u64;
        self.unacked.push_back((self.taken, records));
    }

    /// Sets `SO_SNDBUF` of the next connections (None: the system's).
    pub fn set_send_buffer(&mut self, bytes: Option<usize>) {
        self.send_buffer = bytes;
    }
}

/// The socket calls std and socket2 do not offer, one libc call each.
#[allow(unsafe_code)]
mod sys {
    use socket2::Socket;
    use std::io;
    use std::os::fd::AsRawFd;

    /// Asks the kernel for the ICMP errors of an unconnected UDP socket
    /// (`IP_RECVERR`/`IPV6_RECVERR`): without it, an ICMP port unreachable is
    /// dropped and a closed collector port looks like a working one.
    pub(super) fn ask_for_icmp_errors(sock: &Socket, v6: bool) -> io::Result<()> {
        let (level, name) = if v6 {
            (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
        } else {
            (libc::IPPROTO_IP, libc::IP_RECVERR)
        };
        let on: libc::c_int = 1;
        // SAFETY: a valid socket descriptor (owned by `sock`, alive for the call),
        // and a pointer to an int that lives across the call with its exact size.
        let ret = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                level,
                name,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Octets in the send queue of a TCP socket: not sent yet, or sent and not
    /// acknowledged (`SIOCOUTQ`).
    pub(super) fn unacked_octets(sock: &Socket) -> io::Result<u64> {
        let mut n: libc::c_int = 0;
        // SAFETY: a valid socket descriptor (owned by `sock`), and SIOCOUTQ writes
        // one int through the pointer, which points at a live int.
        let ret = unsafe { libc::ioctl(sock.as_raw_fd(), libc::TIOCOUTQ, &raw mut n) };
        if ret == 0 {
            Ok(u64::try_from(n).unwrap_or(0))
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::{TcpListener, UdpSocket};
    use std::time::Duration;

    #[test]
    fn missing_device_names_the_key_and_device() {
        let e = check_device("mp-nosuchdev0").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("ipfix_dev: "), "{s}");
        assert!(s.contains("\"mp-nosuchdev0\""), "{s}");
        assert!(check_device("").is_ok());
        let e = UdpTransport::new(
            "127.0.0.1:9".parse().unwrap(),
            "mp-nosuchdev0",
            "ipfix_udp_collectors",
        )
        .unwrap_err();
        assert_eq!(e.key, "ipfix_dev");
    }

    #[test]
    fn udp_sends_datagrams_bound_to_lo() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dev = if check_device("lo").is_ok() { "lo" } else { "" };
        let mut tx =
            UdpTransport::new(rx.local_addr().unwrap(), dev, "ipfix_udp_collectors").unwrap();
        assert_eq!(tx.send(b"hello"), SendOutcome::Sent);
        let mut buf = [0u8; 16];
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(Some(from.port()), tx.local_addr().map(|a| a.port()));
    }

    /// Polls `maintain` (real sockets settle in real time) until `f` holds.
    fn settle(t: &mut TcpTransport, now: u64, mut f: impl FnMut(&TcpTransport) -> bool) {
        for _ in 0..500 {
            t.maintain(now);
            if f(t) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("did not settle");
    }

    #[test]
    fn tcp_connect_send_lose_and_backoff() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut t = TcpTransport::new(addr, "", "ipfix_tcp_collectors", 1500, 0).unwrap();
        assert_eq!(t.send(0, b"x", 1), (SendOutcome::Failed(Fault::Down), None));
        settle(&mut t, 0, TcpTransport::is_up);
        assert_eq!(t.connects(), 1);
        let (mut c, _) = l.accept().unwrap();
        assert_eq!(t.send(0, b"abc", 1).0, SendOutcome::Sent);
        let mut got = [0u8; 3];
        c.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"abc");
        // The collector goes away: noticed, retried at 1 s, then 2 s, 4 s…
        drop(c);
        drop(l);
        let mut ev = None;
        for _ in 0..500 {
            ev = t.maintain(10);
            if ev.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            matches!(ev, Some(TcpEvent::Lost { retry_at, acked_records: 1, unacked_records: 0, .. }) if retry_at == 10 + RECONNECT_MIN_US),
            "{ev:?}"
        );
        assert!(!t.is_up());
        assert_eq!(t.maintain(10 + RECONNECT_MIN_US - 1), None);
        let mut now = 10 + RECONNECT_MIN_US;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let mut failed = None;
            for _ in 0..500 {
                if let Some(TcpEvent::ConnectFailed { retry_at, .. }) = t.maintain(now) {
                    failed = Some(retry_at);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let at = failed.expect("connection refused");
            delays.push(at - now);
            now = at;
        }
        assert_eq!(
            delays,
            [2, 4, 8, 16, 30, 30, 30].map(|s| s * 1_000_000),
            "doubling, capped at 30 s"
        );
    }

    #[test]
    fn tcp_backlog_takes_what_the_socket_does_not_up_to_its_bound() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let backlog = 1 << 20;
        let mut t = TcpTransport::new(addr, "", "ipfix_tcp_collectors", 65535, backlog).unwrap();
        settle(&mut t, 0, TcpTransport::is_up);
        let (c, _) = l.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        let msg: Vec<u8> = (0..60000u32).map(|i| (i % 251) as u8).collect();
        let (mut sent, mut queued, mut blocked) = (0usize, 0usize, 0usize);
        // The peer does not read: the socket's buffers fill, then the backlog;
        // nothing blocks.
        for _ in 0..1000 {
            match t.send(0, &msg, 1).0 {
                SendOutcome::Sent => sent += 1,
                SendOutcome::Queued => queued += 1,
                SendOutcome::WouldBlock => blocked += 1,
                SendOutcome::Failed(f) => panic!("lost: {f:?}"),
            }
            assert!(t.backlog_octets() <= backlog, "{}", t.backlog_octets());
            if blocked > 5 {
                break;
            }
        }
        assert!(blocked > 5 && sent > 0);
        // A megabyte of 60 000-octet messages: 17 wait whole or in part.
        assert!(queued >= backlog / msg.len(), "{queued} queued");
        assert!(t.is_congested());
        assert_eq!(t.unacked_records(), (sent + queued) as u64);
        // The peer reads everything: whole messages only, in order.
        let c2 = c.try_clone().unwrap();
        let reader = std::thread::spawn(move || {
            let mut c = c2;
            c.set_nonblocking(false).unwrap();
            c.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut all = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = c.read(&mut buf) {
                if n == 0 {
                    break;
                }
                all.extend_from_slice(&buf[..n]);
            }
            all
        });
        settle(&mut t, 0, |t| !t.has_backlog());
        drop(t);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), (sent + queued) * msg.len());
        assert!(all.chunks(msg.len()).all(|m| m == msg.as_slice()));
    }
}
