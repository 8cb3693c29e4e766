//! `metaprobe collect`: a small IPFIX collector for our templates — for the
//! demo, for tests, and for users who have no collector yet.
//!
//! Listens on UDP and/or TCP (several exporters at once; TCP framed by the
//! message length of the IPFIX header), keeps a template cache per transport
//! session (exporter address; per observation domain inside), and prints one
//! decoded record per line on stdout (JSON lines or CSV), flushed per line.
//! Errors and protocol violations go to stderr. Stops on SIGINT/SIGTERM,
//! after `--count` data records, or after `--idle` seconds without a message.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use metaprobe_ipfix::collect::{
    DecodedMessage, TemplateCache, csv_header, decode_message, message_len, to_csv, to_json,
};

use crate::signals;

/// Output format of the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// CSV; a header line whenever the template changes.
    Csv,
}

/// What `metaprobe collect` was asked.
#[derive(Clone, Debug)]
pub struct Options {
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub format: Format,
    pub count: Option<u64>,
    pub idle: Option<f64>,
    pub options: bool,
}

/// Longest IPFIX message.
const MAX_MESSAGE: usize = 65535;
/// Sleep when nothing arrived.
const IDLE_TICK: Duration = Duration::from_millis(1);

/// One transport session: its templates and the next sequence number
/// expected per observation domain.
#[derive(Default)]
struct Peer {
    cache: TemplateCache,
    next_seq: HashMap<u32, u32>,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    state: Peer,
}

struct Out {
    format: Format,
    options: bool,
    last_header: String,
    data_records: u64,
    records: u64,
    messages: u64,
    errors: u64,
}

impl Out {
    /// Checks, then prints the records of one decoded message.
    fn message(&mut self, who: &str, peer: &mut Peer, d: &DecodedMessage) -> std::io::Result<()> {
        self.messages += 1;
        if let Some(&want) = peer.next_seq.get(&d.odid)
            && want != d.seq
        {
            self.errors += 1;
            eprintln!(
                "metaprobe collect: {who}: domain {}: sequence number {} where {want} was expected ({} records missing or reordered)",
                d.odid,
                d.seq,
                d.seq.wrapping_sub(want) as i32
            );
        }
        peer.next_seq
            .insert(d.odid, d.seq.wrapping_add(d.records.len() as u32));
        if d.unknown_sets > 0 {
            self.errors += 1;
            eprintln!(
                "metaprobe collect: {who}: domain {}: {} data set(s) of unknown templates skipped",
                d.odid, d.unknown_sets
            );
        }
        let mut stdout = std::io::stdout().lock();
        for r in &d.records {
            self.records += 1;
            if r.options && !self.options {
                continue;
            }
            if !r.options {
                self.data_records += 1;
            }
            match self.format {
                Format::Jsonl => writeln!(stdout, "{}", to_json(r))?,
                Format::Csv => {
                    let h = csv_header(r);
                    if h != self.last_header {
                        writeln!(stdout, "{h}")?;
                        self.last_header = h;
                    }
                    writeln!(stdout, "{}", to_csv(r))?;
                }
            }
            stdout.flush()?;
        }
        Ok(())
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
}

fn io_err(what: &str, addr: &SocketAddr, e: std::io::Error) -> String {
    format!("collect: {what} {addr}: {e}")
}

/// Runs the collector until a stop condition.
pub fn run(o: &Options) -> Result<(), String> {
    if o.udp.is_empty() && o.tcp.is_empty() {
        return Err("collect: give --udp ADDR and/or --tcp ADDR".into());
    }
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
    let mut out = Out {
        format: o.format,
        options: o.options,
        last_header: String::new(),
        data_records: 0,
        records: 0,
        messages: 0,
        errors: 0,
    };
    let mut udp_peers: HashMap<(usize, SocketAddr), Peer> = HashMap::new();
    let mut conns: Vec<Conn> = Vec::new();
    let mut dgram = vec![0u8; MAX_MESSAGE + 1];
    let mut tmp = vec![0u8; 1 << 16];
    let idle = o.idle.map(Duration::from_secs_f64);
    let mut last = Instant::now();
    let stdout_gone = |e: std::io::Error| format!("collect: stdout: {e}");

    while !signals::stop_requested() {
        let mut progress = false;
        for (i, s) in udp.iter().enumerate() {
            loop {
                match s.recv_from(&mut dgram) {
                    Ok((n, from)) => {
                        progress = true;
                        let peer = udp_peers.entry((i, from)).or_default();
                        let msg = dgram.get(..n).unwrap_or_default();
                        out.decode(&format!("udp {from}"), peer, msg)
                            .map_err(stdout_gone)?;
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
        while let Some(c) = conns.get_mut(i) {
            let (got, closed) = read_conn(c, &mut tmp, &mut out).map_err(stdout_gone)?;
            progress |= got;
            if closed {
                eprintln!("metaprobe collect: tcp {} closed", c.peer);
                conns.swap_remove(i);
            } else {
                i += 1;
            }
        }
        if o.count.is_some_and(|n| out.data_records >= n) {
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
    eprintln!(
        "metaprobe collect: {} data records, {} records, {} messages, {} errors",
        out.data_records, out.records, out.messages, out.errors
    );
    Ok(())
}

/// Reads what a connection has and decodes its whole messages. Returns
/// (something arrived, the connection is over).
fn read_conn(c: &mut Conn, tmp: &mut [u8], out: &mut Out) -> std::io::Result<(bool, bool)> {
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
