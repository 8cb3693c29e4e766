//! LOGIN on the main lcore: the subscriber map file and the RADIUS bindings,
//! published to the workers by an atomic swap.
//!
//! The file is read at the start (a bad line stops the start), again on SIGHUP
//! and when its mtime changes (a bad line is an alert and the map in use
//! stays). RADIUS changes come from the workers (accounting read on the
//! bridge, through a bounded queue) and from the accounting listener; the map
//! is rebuilt when a login changed, at most once per tick and, when a rebuild
//! is slow (many bindings), leaving the main lcore at least three quarters of
//! its time.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use metaprobe_dataplane::subscribers::radius::{self, Message};

use crate::table_file::{Reloadable, mtime, read};
use metaprobe_dataplane::subscribers::{
    self, Bindings, BindingsStats, Change, RadiusQueue, SubscriberHandle, SubscriberMap,
};

/// Events taken from the queue per tick at most (the rest wait for the next).
const DRAIN_BUDGET: usize = 1 << 16;
/// Datagrams the listener reads per tick at most.
const LISTEN_BUDGET: usize = 4096;

/// The accounting listener's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    pub requests: u64,
    pub responses: u64,
    pub bad_authenticator: u64,
    pub malformed: u64,
    pub errors: u64,
}

/// What `final subscribers` and the metrics show of the main lcore's side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriberStats {
    pub file_prefixes: u64,
    pub radius: BindingsStats,
    /// Maps published for RADIUS changes.
    pub publishes: u64,
    /// None: no listener.
    pub listener: Option<ListenerStats>,
}

struct Listener {
    socket: UdpSocket,
    secret: Vec<u8>,
    stats: ListenerStats,
}

pub struct Subscribers {
    path: Option<PathBuf>,
    handle: SubscriberHandle,
    /// The file's map (its RADIUS part empty): what every published map is built on.
    file: Arc<SubscriberMap>,
    generation: u32,
    mtime: Option<SystemTime>,
    bindings: Bindings,
    queue: Option<RadiusQueue>,
    listener: Option<Listener>,
    /// A login changed since the last map was published.
    pending: bool,
    next_publish: Instant,
    publishes: u64,
}

/// What [`Subscribers::open`] is given.
pub struct Options<'a> {
    pub file: Option<&'a Path>,
    pub max_bindings: usize,
    /// Read RADIUS accounting on the bridge (the workers get the queue).
    pub snoop: bool,
    pub listen: Option<SocketAddr>,
    pub secret: &'a str,
}

impl Reloadable for Subscribers {
    type Table = SubscriberMap;

    fn reload(&mut self) -> Result<Option<usize>, String> {
        Subscribers::reload(self)
    }

    fn len(&self) -> usize {
        Subscribers::len(self)
    }
}

impl Subscribers {
    /// Reads the file and binds the listener. The error names the file, the
    /// line and the reason, or the listener's address.
    pub fn open(o: &Options<'_>) -> Result<Subscribers, String> {
        let (file, mtime) = match o.file {
            None => (SubscriberMap::empty(1), None),
            Some(path) => {
                let mtime = mtime(path);
                let map = read::<SubscriberMap>(path, 1)?;
                println!(
                    "subscribers: {} prefixes from {}",
                    map.len(),
                    path.display()
                );
                (map, mtime)
            }
        };
        let listener = o
            .listen
            .map(|addr| {
                let socket = UdpSocket::bind(addr)
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .map_err(|e| {
                        format!("radius_accounting_listen: cannot listen on {addr}: {e}")
                    })?;
                let local = socket.local_addr().map_or(addr, |a| a);
                println!("radius: accounting listener on {local}");
                Ok::<_, String>(Listener {
                    socket,
                    secret: o.secret.as_bytes().to_vec(),
                    stats: ListenerStats::default(),
                })
            })
            .transpose()?;
        let handle = subscribers::handle(file);
        Ok(Subscribers {
            path: o.file.map(Path::to_owned),
            file: handle.load_full(),
            handle,
            generation: 1,
            mtime,
            bindings: Bindings::new(o.max_bindings),
            queue: o.snoop.then(subscribers::radius_queue),
            listener,
            pending: false,
            next_publish: Instant::now(),
            publishes: 0,
        })
    }

    pub fn handle(&self) -> &SubscriberHandle {
        &self.handle
    }

    /// Where the workers send RADIUS changes (None: `radius_snoop = 0`).
    pub fn queue(&self) -> Option<&RadiusQueue> {
        self.queue.as_ref()
    }

    /// Prefixes in the file's map in use.
    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn stats(&self) -> SubscriberStats {
        SubscriberStats {
            file_prefixes: self.file.len() as u64,
            radius: self.bindings.stats(),
            publishes: self.publishes,
            listener: self.listener.as_ref().map(|l| l.stats),
        }
    }

    /// True when the file's mtime differs from the one last read.
    pub fn changed(&self) -> bool {
        self.path.as_deref().is_some_and(|p| mtime(p) != self.mtime)
    }

    /// Reads the file again and publishes it; on error the map in use stays
    /// and the error (file, line, reason) is returned. `Ok(None)`: no file.
    pub fn reload(&mut self) -> Result<Option<usize>, String> {
        let Some(path) = self.path.clone() else {
            return Ok(None);
        };
        // Taken before the read: a write during it is seen at the next check.
        self.mtime = mtime(&path);
        let map = read::<SubscriberMap>(&path, self.next_generation())?;
        let n = map.len();
        self.file = Arc::new(map);
        self.publish();
        Ok(Some(n))
    }

    /// One main-lcore tick: the workers' changes, the listener's requests, and
    /// a new map when a login changed and the last rebuild leaves time.
    pub fn poll(&mut self, now: Instant) {
        if let Some(q) = &self.queue {
            for _ in 0..DRAIN_BUDGET {
                let Some(e) = q.pop() else { break };
                self.pending |= self.bindings.apply_event(&e);
            }
        }
        if let Some(l) = &mut self.listener {
            self.pending |= l.serve(&mut self.bindings);
        }
        if self.pending && now >= self.next_publish {
            let started = Instant::now();
            self.publish();
            let took = started.elapsed();
            self.next_publish = Instant::now() + took.saturating_mul(3);
            self.publishes += 1;
        }
    }

    fn next_generation(&mut self) -> u32 {
        self.generation = self.generation.wrapping_add(1).max(1);
        self.generation
    }

    fn publish(&mut self) {
        let generation = self.next_generation();
        let map = self.file.with_radius(&self.bindings, generation);
        subscribers::publish(&self.handle, map);
        self.pending = false;
    }
}

impl Listener {
    /// Answers the requests waiting; true when a login changed.
    fn serve(&mut self, bindings: &mut Bindings) -> bool {
        let mut buf = [0u8; radius::MAX_LEN];
        let mut changed = false;
        for _ in 0..LISTEN_BUDGET {
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.stats.errors += 1;
                    break;
                }
            };
            let packet = buf.get(..n).unwrap_or(&[]);
            let request = match radius::parse(packet) {
                Ok(Message::Request(r)) => r,
                _ => {
                    self.stats.malformed += 1;
                    continue;
                }
            };
            if !radius::request_authenticator_ok(packet, &self.secret) {
                self.stats.bad_authenticator += 1;
                continue;
            }
            self.stats.requests += 1;
            if let Some(change) = Change::of(&request) {
                changed |= bindings.apply(&change);
            }
            // RFC 2866 §2: the response says the request was recorded.
            match radius::accounting_response(packet, &self.secret)
                .map(|r| self.socket.send_to(&r, from))
            {
                Some(Ok(_)) => self.stats.responses += 1,
                _ => self.stats.errors += 1,
            }
        }
        changed
    }
}
