//! `metaprobe collect`: a small IPFIX collector for our templates — for the
//! demo, for tests, and for users who have no collector yet.
//!
//! Listens on UDP and/or TCP (several exporters at once; TCP framed by the
//! message length of the IPFIX header), keeps a template cache per transport
//! session (exporter address; per observation domain inside), and writes one
//! decoded record per line ([`output`]: JSON lines, CSV or ClickHouse rows,
//! on stdout or one file per record kind). Errors and protocol violations go
//! to stderr. Stops on SIGINT/SIGTERM, after `--count` data records, or after
//! `--idle` seconds without a message.
//!
//! Nothing an exporter sends can grow it without bound: the decoder bounds
//! the work of a message and the templates of a session
//! (`metaprobe_ipfix::collect`); here, UDP sessions are at most
//! `--max-sessions` (the least recently heard one is forgotten for a new
//! one), TCP connections too (more are closed at once), the observation
//! domains whose sequence numbers are checked are at most [`MAX_DOMAINS`] a
//! session, and a TCP stream's buffer holds at most a few messages. Every
//! one of these limits is counted, and the counts are printed at the end.

pub mod output;

use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use metaprobe_ipfix::collect::{DecodedMessage, TemplateCache, decode_message, message_len};

use crate::signals;
use output::{Format, Output};

/// What `metaprobe collect` was asked.
#[derive(Clone, Debug)]
pub struct Options {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub format: Format,
    pub count: Option<u64>,
    pub idle: Option<f64>,
    pub options: bool,
    pub out_dir: Option<PathBuf>,
    pub kind: Option<String>,
    pub max_sessions: usize,
}

/// Longest IPFIX message.
const MAX_MESSAGE: usize = 65535;
/// Observation domains whose sequence numbers one session checks.
pub const MAX_DOMAINS: usize = 256;
/// Default of `--max-sessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 256;
/// Sleep when nothing arrived.
const IDLE_TICK: Duration = Duration::from_millis(1);

/// One transport session: its templates and the next sequence number
/// expected per observation domain.
#[derive(Default)]
struct Peer {
    cache: TemplateCache,
    next_seq: HashMap<u32, u32>,
    /// When it was last heard from (message count of the run).
    last: u64,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    state: Peer,
}

/// What the limits held back, for the last lines.
#[derive(Default)]
struct Held {
    /// Templates refused by full caches, of sessions that are gone.
    templates_refused_gone: u64,
    sessions_evicted: u64,
    connections_refused: u64,
    domains_unchecked: u64,
}

struct Collector {
    out: Output,
    options: bool,
    data_records: u64,
    records: u64,
    messages: u64,
    errors: u64,
    held: Held,
}

impl Collector {
    /// Checks, then writes the records of one decoded message.
    fn message(&mut self, who: &str, peer: &mut Peer, d: &DecodedMessage) -> std::io::Result<()> {
        self.messages += 1;
        peer.last = self.messages;
        match peer.next_seq.get(&d.odid).copied() {
            Some(want) if want != d.seq => {
                self.errors += 1;
                eprintln!(
                    "metaprobe collect: {who}: domain {}: sequence number {} where {want} was expected ({} records missing or reordered)",
                    d.odid,
                    d.seq,
                    d.seq.wrapping_sub(want) as i32
                );
            }
            None if peer.next_seq.len() >= MAX_DOMAINS => {
                self.held.domains_unchecked += 1;
            }
            _ => {}
        }
        if peer.next_seq.contains_key(&d.odid) || peer.next_seq.len() < MAX_DOMAINS {
            peer.next_seq
                .insert(d.odid, d.seq.wrapping_add(d.records.len() as u32));
        }
        if d.unknown_sets > 0 {
            self.errors += 1;
            eprintln!(
                "metaprobe collect: {who}: domain {}: {} data set(s) of unknown templates skipped",
                d.odid, d.unknown_sets
            );
        }
        if d.templates_refused > 0 {
            eprintln!(
                "metaprobe collect: {who}: domain {}: {} template(s) refused: the session holds {} templates of {} fields at most",
                d.odid,
                d.templates_refused,
                peer.cache.limits().templates,
                peer.cache.limits().fields
            );
        }
        for r in &d.records {
            self.records += 1;
            if r.options && !self.options {
                continue;
            }
            if self.out.record(r)? && !r.options {
                self.data_records += 1;
            }
        }
        self.out.flush()
    }

    fn decode(&mut self, who: &str, peer: &mut Peer, msg: &[u8]) -> std::io::Result<bool> {
        match decode_message(&mut peer.cache, msg) {
            Ok(d) => {
                self.message(who, peer, &d)?;
                Ok(true)
            }
            Err(e) => {
                self.errors += 1;
                eprintln!("metaprobe collect: {who}: bad message: {e}");
                Ok(false)
            }
        }
    }

    /// A session is over: what its cache refused stays counted.
    fn gone(&mut self, peer: &Peer) {
        self.held.templates_refused_gone += peer.cache.refused();
    }
}

fn io_err(what: &str, addr: &SocketAddr, e: std::io::Error) -> String {
    format!("collect: {what} {addr}: {e}")
}

/// The UDP session of `key`, made room for when the table is full (the
/// least recently heard session is forgotten, counted).
fn udp_peer<'a>(
    peers: &'a mut HashMap<(usize, SocketAddr), Peer>,
    key: (usize, SocketAddr),
    max: usize,
    c: &mut Collector,
) -> &'a mut Peer {
    if !peers.contains_key(&key) && peers.len() >= max {
        let oldest = peers.iter().min_by_key(|(_, p)| p.last).map(|(k, _)| *k);
        if let Some(p) = oldest.and_then(|k| peers.remove(&k)) {
            if c.held.sessions_evicted == 0 {
                eprintln!(
                    "metaprobe collect: more than {max} udp sessions: the least recently heard are forgotten (their templates with them)"
                );
            }
            c.held.sessions_evicted += 1;
            c.gone(&p);
        }
    }
    peers.entry(key).or_default()
}

/// Runs the collector until a stop condition.
pub fn run(o: &Options) -> Result<(), String> {
    if o.udp.is_empty() && o.tcp.is_empty() {
        return Err("collect: give --udp ADDR and/or --tcp ADDR".into());
    }
    let max_sessions = o.max_sessions.max(1);
    signals::install().map_err(|e| format!("cannot install SIGINT/SIGTERM handlers: {e}"))?;
    let mut udp = Vec::new();
    for a in &o.udp {
        let s = UdpSocket::bind(a).map_err(|e| io_err("cannot bind udp", a, e))?;
        s.set_nonblocking(true).map_err(|e| io_err("udp", a, e))?;
        let local = s.local_addr().map_err(|e| io_err("udp", a, e))?;
        eprintln!("metaprobe collect: listening on udp {local}");
        udp.push(s);
    }
    let mut listeners = Vec::new();
    for a in &o.tcp {
        let l = TcpListener::bind(a).map_err(|e| io_err("cannot bind tcp", a, e))?;
        l.set_nonblocking(true).map_err(|e| io_err("tcp", a, e))?;
        let local = l.local_addr().map_err(|e| io_err("tcp", a, e))?;
        eprintln!("metaprobe collect: listening on tcp {local}");
        listeners.push(l);
    }
    let out = Output::new(o.format, o.out_dir.clone(), o.kind.clone()).map_err(|e| {
        format!(
            "collect: --out-dir {}: {e}",
            o.out_dir
                .as_deref()
                .unwrap_or(std::path::Path::new(""))
                .display()
        )
    })?;
    let mut c = Collector {
        out,
        options: o.options,
        data_records: 0,
        records: 0,
        messages: 0,
        errors: 0,
        held: Held::default(),
    };
    let mut udp_peers: HashMap<(usize, SocketAddr), Peer> = HashMap::new();
    let mut conns: Vec<Conn> = Vec::new();
    let mut dgram = vec![0u8; MAX_MESSAGE + 1];
    let mut tmp = vec![0u8; 1 << 16];
    let idle = o.idle.map(Duration::from_secs_f64);
    let mut last = Instant::now();
    let out_gone = |e: std::io::Error| format!("collect: output: {e}");

    while !signals::stop_requested() {
        let mut progress = false;
        for (i, s) in udp.iter().enumerate() {
            loop {
                match s.recv_from(&mut dgram) {
                    Ok((n, from)) => {
                        progress = true;
                        let peer = udp_peer(&mut udp_peers, (i, from), max_sessions, &mut c);
                        let msg = dgram.get(..n).unwrap_or_default();
                        c.decode(&format!("udp {from}"), peer, msg)
                            .map_err(out_gone)?;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => break,
                    Err(e) => {
                        eprintln!("metaprobe collect: udp: {e}");
                        break;
                    }
                }
            }
        }
        for l in &listeners {
            loop {
                match l.accept() {
                    Ok((stream, peer)) => {
                        progress = true;
                        if conns.len() >= max_sessions {
                            if c.held.connections_refused == 0 {
                                eprintln!(
                                    "metaprobe collect: tcp {peer}: refused: {max_sessions} connections are open (--max-sessions)"
                                );
                            }
                            c.held.connections_refused += 1;
                            continue;
                        }
                        if stream.set_nonblocking(true).is_err() {
                            continue;
                        }
                        eprintln!("metaprobe collect: tcp {peer} connected");
                        conns.push(Conn {
                            stream,
                            peer,
                            buf: Vec::with_capacity(MAX_MESSAGE),
                            state: Peer::default(),
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => break,
                    Err(e) => {
                        eprintln!("metaprobe collect: tcp accept: {e}");
                        break;
                    }
                }
            }
        }
        let mut i = 0;
        while let Some(conn) = conns.get_mut(i) {
            let (got, closed) = read_conn(conn, &mut tmp, &mut c).map_err(out_gone)?;
            progress |= got;
            if closed {
                eprintln!("metaprobe collect: tcp {} closed", conn.peer);
                let gone = conns.swap_remove(i);
                c.gone(&gone.state);
            } else {
                i += 1;
            }
        }
        if o.count.is_some_and(|n| c.data_records >= n) {
            break;
        }
        if progress {
            last = Instant::now();
        } else {
            if idle.is_some_and(|d| last.elapsed() >= d) {
                break;
            }
            std::thread::sleep(IDLE_TICK);
        }
    }
    c.out.flush().map_err(out_gone)?;
    let refused = c.held.templates_refused_gone
        + udp_peers.values().map(|p| p.cache.refused()).sum::<u64>()
        + conns.iter().map(|x| x.state.cache.refused()).sum::<u64>();
    eprintln!(
        "metaprobe collect: {} data records, {} records, {} messages, {} errors",
        c.data_records, c.records, c.messages, c.errors
    );
    let nw = c.out.not_written();
    eprintln!(
        "metaprobe collect: limits: {refused} templates refused (session cache full), {} udp sessions forgotten, {} tcp connections refused, {} messages of unchecked domains, {} records of other kinds not printed, {} records of tables past {}",
        c.held.sessions_evicted,
        c.held.connections_refused,
        c.held.domains_unchecked,
        nw.other_kind,
        nw.too_many_tables,
        output::MAX_TABLES
    );
    for p in c.out.paths() {
        eprintln!("metaprobe collect: wrote {}", p.display());
    }
    Ok(())
}

/// Reads what a connection has and decodes its whole messages. Returns
/// (something arrived, the connection is over).
fn read_conn(c: &mut Conn, tmp: &mut [u8], out: &mut Collector) -> std::io::Result<(bool, bool)> {
    let mut got = false;
    let mut closed = false;
    loop {
        match c.stream.read(tmp) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => {
                got = true;
                c.buf.extend_from_slice(tmp.get(..n).unwrap_or_default());
                if c.buf.len() >= 4 * MAX_MESSAGE {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                eprintln!("metaprobe collect: tcp {}: {e}", c.peer);
                closed = true;
                break;
            }
        }
    }
    let who = format!("tcp {}", c.peer);
    let mut off = 0;
    while let Some(len) = c.buf.get(off..).and_then(message_len) {
        if len < 16 {
            out.errors += 1;
            eprintln!(
                "metaprobe collect: {who}: message length {len} < 16: stream out of frame, closing"
            );
            return Ok((got, true));
        }
        let Some(msg) = c.buf.get(off..off + len) else {
            break;
        };
        out.decode(&who, &mut c.state, msg)?;
        off += len;
    }
    c.buf.drain(..off);
    if closed && !c.buf.is_empty() {
        out.errors += 1;
        eprintln!(
            "metaprobe collect: {who}: closed inside a message ({} octets left)",
            c.buf.len()
        );
    }
    Ok((got, closed))
}
