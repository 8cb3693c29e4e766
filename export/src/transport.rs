//! The sockets at the edge of the sans-IO core: one non-blocking UDP or TCP
//! socket per collector, bound to `ipfix_dev` (`SO_BINDTODEVICE`) when it is
//! set. Nothing here ever blocks: a send either takes a whole message, keeps
//! the unsent tail of one message (TCP), or answers "would block" and takes
//! nothing. Time is passed in (Unix microseconds), as everywhere in `export`.
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

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io::{self, ErrorKind, Read as _};
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

/// What a send did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    /// Written whole.
    Sent,
    /// Partly written; the rest is kept and written before anything else
    /// (TCP). The message counts as sent.
    Partial,
    /// Nothing written: the socket buffer is full (or, TCP, the tail of an
    /// earlier message is still waiting). The message is not taken.
    WouldBlock,
    /// Nothing written: the collector is down (TCP) or the send failed.
    Failed,
}

/// A UDP collector: one socket, each message one datagram.
#[derive(Debug)]
pub struct UdpTransport {
    sock: Socket,
    peer: SockAddr,
    addr: SocketAddr,
    errors: u64,
}

impl UdpTransport {
    /// A socket towards `addr`, bound to `dev` when not empty. `key` names
    /// the collector list in errors.
    pub fn new(addr: SocketAddr, dev: &str, key: &'static str) -> Result<Self, StartError> {
        let sock = open(addr, Type::DGRAM, dev, key)?;
        Ok(UdpTransport {
            sock,
            peer: SockAddr::from(addr),
            addr,
            errors: 0,
        })
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
            Err(_) => {
                self.errors += 1;
                SendOutcome::Failed
            }
        }
    }

    #[cold]
    fn send_retry(&mut self, msg: &[u8]) -> SendOutcome {
        match self.sock.send_to(msg, &self.peer) {
            Ok(_) => SendOutcome::Sent,
            Err(e) if e.kind() == ErrorKind::WouldBlock => SendOutcome::WouldBlock,
            Err(_) => {
                self.errors += 1;
                SendOutcome::Failed
            }
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
        /// Unix µs of the next attempt.
        retry_at: u64,
    },
    /// An established connection was lost.
    Lost {
        /// Why.
        reason: String,
        /// Unix µs of the next attempt.
        retry_at: u64,
    },
}

#[derive(Debug)]
enum TcpState {
    Down { retry_at: u64 },
    Connecting { sock: Socket, since: u64 },
    Up { sock: Socket },
}

/// A TCP collector: non-blocking connect, reconnect with exponential
/// backoff, messages written whole or (partly written) their tail kept.
#[derive(Debug)]
pub struct TcpTransport {
    addr: SocketAddr,
    dev: String,
    key: &'static str,
    state: TcpState,
    backoff: u64,
    backoff_min: u64,
    backoff_max: u64,
    /// The unsent tail of the last message (at most one message).
    tail: Vec<u8>,
    tail_off: usize,
    connects: u64,
    losses: u64,
    send_buffer: Option<usize>,
}

impl TcpTransport {
    /// A collector at `addr`, not connected yet: the first attempt is made by
    /// the first [`maintain`](Self::maintain). `max_message_len` bounds the
    /// kept tail. Checks the device by opening a socket.
    pub fn new(
        addr: SocketAddr,
        dev: &str,
        key: &'static str,
        max_message_len: usize,
    ) -> Result<Self, StartError> {
        drop(open(addr, Type::STREAM, dev, key)?);
        Ok(TcpTransport {
            addr,
            dev: dev.to_string(),
            key,
            state: TcpState::Down { retry_at: 0 },
            backoff: RECONNECT_MIN_US,
            backoff_min: RECONNECT_MIN_US,
            backoff_max: RECONNECT_MAX_US,
            tail: Vec::with_capacity(max_message_len),
            tail_off: 0,
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

    /// True while the tail of a message waits to be written.
    pub fn has_tail(&self) -> bool {
        self.tail_off < self.tail.len()
    }

    /// Unix µs of the next connect attempt, when down.
    pub fn retry_at(&self) -> Option<u64> {
        match self.state {
            TcpState::Down { retry_at } => Some(retry_at),
            _ => None,
        }
    }

    /// Drives the connection: starts a due connect, completes a pending
    /// one, notices a collector that closed, writes a kept tail.
    pub fn maintain(&mut self, now: u64) -> Option<TcpEvent> {
        match &self.state {
            TcpState::Down { retry_at } if now >= *retry_at => self.start_connect(now),
            TcpState::Down { .. } => None,
            TcpState::Connecting { sock, since } => {
                let since = *since;
                let done = match sock.take_error() {
                    Ok(Some(e)) | Err(e) => Err(e.to_string()),
                    Ok(None) => match sock.peer_addr() {
                        Ok(_) => Ok(true),
                        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Ok(false),
                        Err(e) => Err(e.to_string()),
                    },
                };
                match done {
                    Ok(true) => Some(self.connected()),
                    Ok(false) if now.saturating_sub(since) >= CONNECT_TIMEOUT_US => {
                        Some(self.connect_failed(now, "connect timed out".into()))
                    }
                    Ok(false) => None,
                    Err(reason) => Some(self.connect_failed(now, reason)),
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
                    None => {
                        if self.has_tail() {
                            return self.write_tail(now);
                        }
                        None
                    }
                }
            }
        }
    }

    fn start_connect(&mut self, now: u64) -> Option<TcpEvent> {
        let sock = match open(self.addr, Type::STREAM, &self.dev, self.key) {
            Ok(s) => s,
            Err(e) => return Some(self.connect_failed(now, e.message)),
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
            Err(e) => Some(self.connect_failed(now, e.to_string())),
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
        self.tail.clear();
        self.tail_off = 0;
        TcpEvent::Connected
    }

    fn next_retry(&mut self, now: u64) -> u64 {
        let at = now.saturating_add(self.backoff);
        self.backoff = self.backoff.saturating_mul(2).min(self.backoff_max);
        at
    }

    fn connect_failed(&mut self, now: u64, reason: String) -> TcpEvent {
        let retry_at = self.next_retry(now);
        self.state = TcpState::Down { retry_at };
        TcpEvent::ConnectFailed { reason, retry_at }
    }

    fn lose(&mut self, now: u64, reason: String) -> TcpEvent {
        let retry_at = self.next_retry(now);
        self.state = TcpState::Down { retry_at };
        self.tail.clear();
        self.tail_off = 0;
        self.losses += 1;
        TcpEvent::Lost { reason, retry_at }
    }

    /// Drops the connection (a collector that cannot even take the
    /// templates), to be retried after the backoff.
    pub fn reset(&mut self, now: u64, reason: &str) -> Option<TcpEvent> {
        match self.state {
            TcpState::Up { .. } => Some(self.lose(now, reason.to_string())),
            TcpState::Connecting { .. } => Some(self.connect_failed(now, reason.to_string())),
            TcpState::Down { .. } => None,
        }
    }

    /// Writes what it can of the kept tail.
    fn write_tail(&mut self, now: u64) -> Option<TcpEvent> {
        let TcpState::Up { sock } = &self.state else {
            return None;
        };
        while self.tail_off < self.tail.len() {
            let Some(rest) = self.tail.get(self.tail_off..) else {
                break;
            };
            match sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => self.tail_off += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return None,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Some(self.lose(now, e.to_string())),
            }
        }
        self.tail.clear();
        self.tail_off = 0;
        None
    }

    /// Sends one message, whole or not at all (a partly written message
    /// keeps its tail). Returns the outcome and, when the connection broke,
    /// the event.
    pub fn send(&mut self, now: u64, msg: &[u8]) -> (SendOutcome, Option<TcpEvent>) {
        if !self.is_up() {
            return (SendOutcome::Failed, None);
        }
        if self.has_tail() {
            if let Some(ev) = self.write_tail(now) {
                return (SendOutcome::Failed, Some(ev));
            }
            if self.has_tail() {
                return (SendOutcome::WouldBlock, None);
            }
        }
        let TcpState::Up { sock } = &self.state else {
            return (SendOutcome::Failed, None);
        };
        let mut off = 0;
        while let Some(rest) = msg.get(off..).filter(|r| !r.is_empty()) {
            match sock.send_with_flags(rest, libc::MSG_NOSIGNAL) {
                Ok(n) => off += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if off == 0 {
                        return (SendOutcome::WouldBlock, None);
                    }
                    self.tail.clear();
                    self.tail
                        .extend_from_slice(msg.get(off..).unwrap_or_default());
                    self.tail_off = 0;
                    return (SendOutcome::Partial, None);
                }
                Err(e) => {
                    let ev = self.lose(now, e.to_string());
                    return (SendOutcome::Failed, Some(ev));
                }
            }
        }
        (SendOutcome::Sent, None)
    }

    /// Sets `SO_SNDBUF` of the next connections (None: the system's).
    pub fn set_send_buffer(&mut self, bytes: Option<usize>) {
        self.send_buffer = bytes;
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
        let mut t = TcpTransport::new(addr, "", "ipfix_tcp_collectors", 1500).unwrap();
        assert_eq!(t.send(0, b"x"), (SendOutcome::Failed, None));
        settle(&mut t, 0, TcpTransport::is_up);
        assert_eq!(t.connects(), 1);
        let (mut c, _) = l.accept().unwrap();
        assert_eq!(t.send(0, b"abc").0, SendOutcome::Sent);
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
            matches!(ev, Some(TcpEvent::Lost { retry_at, .. }) if retry_at == 10 + RECONNECT_MIN_US)
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
    fn tcp_partial_write_keeps_only_the_tail() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut t = TcpTransport::new(addr, "", "ipfix_tcp_collectors", 65535).unwrap();
        settle(&mut t, 0, TcpTransport::is_up);
        let (c, _) = l.accept().unwrap();
        c.set_nonblocking(true).unwrap();
        let msg: Vec<u8> = (0..60000u32).map(|i| (i % 251) as u8).collect();
        let (mut sent, mut partial, mut blocked) = (0usize, 0usize, 0usize);
        // The peer does not read: the buffers fill, nothing blocks.
        for _ in 0..1000 {
            match t.send(0, &msg).0 {
                SendOutcome::Sent => sent += 1,
                SendOutcome::Partial => partial += 1,
                SendOutcome::WouldBlock => blocked += 1,
                SendOutcome::Failed => panic!("lost"),
            }
            if blocked > 5 {
                break;
            }
        }
        assert!(blocked > 5 && sent > 0);
        assert!(t.tail.len() < msg.len());
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
        settle(&mut t, 0, |t| !t.has_tail());
        drop(t);
        let all = reader.join().unwrap();
        assert_eq!(all.len(), (sent + partial) * msg.len());
        assert!(all.chunks(msg.len()).all(|m| m == msg.as_slice()));
    }
}
