//! A minimal HTTP/1.0 responder for the metrics endpoint, on std's `TcpListener`.
//!
//! It never blocks and holds bounded memory: the listener and every connection are
//! non-blocking and [`Server::poll`] (called by the main lcore's loop) does what can be
//! done now; at most [`MAX_CONNECTIONS`] are open at once (more wait in the kernel's
//! backlog), a request head is at most [`MAX_REQUEST`] octets, and a connection is
//! closed [`CONNECTION_TIMEOUT`] after it was accepted, answered or not. One request per
//! connection, answered `HTTP/1.0` with `Connection: close`; what a client sends after
//! the head is ignored.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// Connections open at once.
pub const MAX_CONNECTIONS: usize = 16;
/// Longest request head (request line and headers), octets.
pub const MAX_REQUEST: usize = 8 * 1024;
/// Longest life of a connection.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A response: status, content type and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Response {
    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

/// What the server did, by outcome (read by the metrics themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStats {
    /// Responses written, by status: 200, 404, 405, 400, 431.
    pub responses: [(u16, u64); 5],
    /// Connections closed at the timeout before their response was written.
    pub timed_out: u64,
    /// Connections closed before their response was written: the client went away,
    /// or a read or write failed.
    pub failed: u64,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            responses: STATUSES.map(|(status, _)| (status, 0)),
            timed_out: 0,
            failed: 0,
        }
    }
}

impl ServerStats {
    fn count(&mut self, status: u16) {
        if let Some((_, n)) = self.responses.iter_mut().find(|(s, _)| *s == status) {
            *n += 1;
        }
    }
}

const STATUSES: [(u16, &str); 5] = [
    (200, "OK"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (400, "Bad Request"),
    (431, "Request Header Fields Too Large"),
];

fn reason(status: u16) -> &'static str {
    STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("Error", |(_, r)| r)
}

#[derive(Debug)]
struct Connection {
    stream: TcpStream,
    accepted: Instant,
    /// The request head read so far (at most `MAX_REQUEST`).
    request: Vec<u8>,
    /// The response being written, and how much of it is written.
    response: Option<(Vec<u8>, usize)>,
}

/// The listening socket and its open connections.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local: SocketAddr,
    connections: Vec<Connection>,
    stats: ServerStats,
}

/// What a complete request head asks for.
enum Request<'a> {
    /// `GET` or `HEAD` (`head`: no body) of `path` (query removed).
    Get { path: &'a str, head: bool },
    /// Another method.
    Method,
    /// Not an HTTP request line.
    Malformed,
}

/// The request line of a head: `GET /metrics HTTP/1.1`.
fn parse_request(head: &[u8]) -> Request<'_> {
    let line = head
        .split(|&b| b == b'\n')
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .map(|l| l.trim_end_matches('\r'));
    let Some(line) = line else {
        return Request::Malformed;
    };
    let mut words = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return Request::Malformed;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Request::Malformed;
    }
    let path = target.split('?').next().unwrap_or(target);
    match method {
        "GET" => Request::Get { path, head: false },
        "HEAD" => Request::Get { path, head: true },
        _ => Request::Method,
    }
}

/// The end of the head (after its blank line), if it is all in `buf`.
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn encode(r: &Response, head_only: bool, allow: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.0 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    if allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(r.body.as_bytes());
    }
    bytes
}

impl Server {
    /// Listens on `addr` (port 0: any free port, see [`Server::local_addr`]).
    pub fn bind(addr: SocketAddr) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        Ok(Server {
            listener,
            local,
            connections: Vec::with_capacity(MAX_CONNECTIONS),
            stats: ServerStats::default(),
        })
    }

    /// The address listened on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    /// Accepts what waits, reads requests, answers complete ones with
    /// `respond(path)` (called only for `GET`/`HEAD`), writes what the sockets take,
    /// closes finished and timed-out connections. Never blocks.
    pub fn poll(&mut self, now: Instant, mut respond: impl FnMut(&str) -> Response) {
        while self.connections.len() < MAX_CONNECTIONS {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        self.stats.failed += 1;
                        continue;
                    }
                    self.connections.push(Connection {
                        stream,
                        accepted: now,
                        request: Vec::new(),
                        response: None,
                    });
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: nothing waits; another error (EMFILE…): try next poll.
                Err(_) => break,
            }
        }
        let stats = &mut self.stats;
        self.connections.retain_mut(|c| {
            let open = c.advance(stats, &mut respond);
            if open && now.saturating_duration_since(c.accepted) >= CONNECTION_TIMEOUT {
                stats.timed_out += 1;
                return false;
            }
            open
        });
    }
}

impl Connection {
    /// Reads, answers and writes what can be done now; false when the connection is
    /// finished (answered or failed) and is to be closed.
    fn advance(
        &mut self,
        stats: &mut ServerStats,
        respond: &mut impl FnMut(&str) -> Response,
    ) -> bool {
        if self.response.is_none() {
            match self.read_head() {
                Ok(false) => return true,
                Ok(true) => stats.count(self.answer(respond)),
                Err(()) => {
                    stats.failed += 1;
                    return false;
                }
            }
        }
        let Some((out, written)) = self.response.as_mut() else {
            return false;
        };
        while let Some(rest) = out.get(*written..).filter(|r| !r.is_empty()) {
            match self.stream.write(rest) {
                Ok(0) => {
                    stats.failed += 1;
                    return false;
                }
                Ok(n) => *written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(_) => {
                    stats.failed += 1;
                    return false;
                }
            }
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        false
    }

    /// Reads what is there; true once the head is complete or too long. Err: the
    /// client closed or the read failed.
    fn read_head(&mut self) -> Result<bool, ()> {
        let mut buf = [0u8; 1024];
        loop {
            if head_end(&self.request).is_some() || self.request.len() >= MAX_REQUEST {
                return Ok(true);
            }
            let room = (MAX_REQUEST - self.request.len()).min(buf.len());
            let space = buf.get_mut(..room).ok_or(())?;
            match self.stream.read(space) {
                Ok(0) => return Err(()),
                Ok(n) => self.request.extend_from_slice(space.get(..n).ok_or(())?),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(_) => return Err(()),
            }
        }
    }

    /// Puts the response to the complete (or too long) head in place; its status.
    fn answer(&mut self, respond: &mut impl FnMut(&str) -> Response) -> u16 {
        let (response, head_only, allow) = match head_end(&self.request) {
            None => (
                Response::text(431, "request head longer than 8 KiB\n"),
                false,
                false,
            ),
            Some(end) => match parse_request(self.request.get(..end).unwrap_or_default()) {
                Request::Get { path, head } => (respond(path), head, false),
                Request::Method => (
                    Response::text(405, "only GET and HEAD are served\n"),
                    false,
                    true,
                ),
                Request::Malformed => (Response::text(400, "not an HTTP request\n"), false, false),
            },
        };
        let status = response.status;
        self.response = Some((encode(&response, head_only, allow), 0));
        self.request = Vec::new();
        status
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn server() -> Server {
        Server::bind("127.0.0.1:0".parse().unwrap()).unwrap()
    }

    fn respond(path: &str) -> Response {
        match path {
            "/metrics" => Response::text(200, "metaprobe_up 1\n"),
            _ => Response::text(404, "see /metrics\n"),
        }
    }

    /// Sends `request`, polls until the server closes, returns what came back.
    fn exchange(s: &mut Server, request: &[u8]) -> String {
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        c.write_all(request).unwrap();
        c.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let start = Instant::now();
        loop {
            s.poll(Instant::now(), respond);
            let mut buf = [0u8; 4096];
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            assert!(start.elapsed() < Duration::from_secs(5), "no answer");
            std::thread::sleep(Duration::from_millis(1));
        }
        String::from_utf8(got).unwrap()
    }

    #[test]
    fn get_metrics_is_answered_and_closed() {
        let mut s = server();
        let r = exchange(&mut s, b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(
            r,
            "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 15\r\nConnection: close\r\n\r\nmetaprobe_up 1\n"
        );
        let r = exchange(&mut s, b"HEAD /metrics HTTP/1.0\n\n");
        assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
        assert!(
            r.ends_with("Content-Length: 15\r\nConnection: close\r\n\r\n"),
            "{r}"
        );
        assert_eq!(s.stats().responses[0], (200, 2));
    }

    #[test]
    fn other_paths_methods_and_garbage_are_refused() {
        let mut s = server();
        assert!(exchange(&mut s, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.0 404 Not Found"));
        let r = exchange(&mut s, b"POST /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 405 Method Not Allowed"), "{r}");
        assert!(r.contains("Allow: GET, HEAD\r\n"), "{r}");
        assert!(exchange(&mut s, b"\x16\x03\x01 hello\r\n\r\n").starts_with("HTTP/1.0 400"));
        let mut long = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_REQUEST + 100, b'a');
        assert!(exchange(&mut s, &long).starts_with("HTTP/1.0 431"));
        let st = s.stats();
        assert_eq!(
            &st.responses[1..],
            &[(404, 1), (405, 1), (400, 1), (431, 1)]
        );
    }

    #[test]
    fn connections_are_bounded_and_time_out() {
        let mut s = server();
        // Idle clients that never send a request: at most MAX_CONNECTIONS are held.
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS + 4)
            .map(|_| TcpStream::connect(s.local_addr()).unwrap())
            .collect();
        let t0 = Instant::now();
        for _ in 0..50 {
            s.poll(t0, respond);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.connections.len(), MAX_CONNECTIONS);
        // Past the timeout they are closed, and the ones that waited are accepted.
        s.poll(t0 + CONNECTION_TIMEOUT, respond);
        assert_eq!(s.stats().timed_out, MAX_CONNECTIONS as u64);
        s.poll(t0 + CONNECTION_TIMEOUT, respond);
        assert_eq!(s.connections.len(), 4);
        drop(idle);
        // A client that went away is noticed.
        for _ in 0..50 {
            s.poll(t0 + CONNECTION_TIMEOUT, respond);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(s.connections.is_empty());
        assert_eq!(s.stats().failed, 4);
        assert_eq!(
            exchange(&mut s, b"GET /metrics HTTP/1.0\r\n\r\n")
                .lines()
                .next(),
            Some("HTTP/1.0 200 OK")
        );
    }

    #[test]
    fn request_lines_are_parsed_strictly() {
        assert!(matches!(
            parse_request(b"GET /metrics HTTP/1.1\r\n"),
            Request::Get {
                path: "/metrics",
                head: false
            }
        ));
        assert!(matches!(
            parse_request(b"GET /metrics\r\n"),
            Request::Malformed
        ));
        assert!(matches!(
            parse_request(b"GET metrics HTTP/1.1\r\n"),
            Request::Malformed
        ));
        assert!(matches!(
            parse_request(b"GET / HTTP/2 x\r\n"),
            Request::Malformed
        ));
        assert!(matches!(
            parse_request(b"DELETE / HTTP/1.1\r\n"),
            Request::Method
        ));
        assert_eq!(head_end(b"GET / HTTP/1.0\r\n\r\nxyz"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.0\r\n"), None);
    }
}
