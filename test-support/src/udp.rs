//! A UDP collector on 127.0.0.1 for the export tests: a thread that keeps every datagram.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// One datagram received, with when.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub from: SocketAddr,
    pub at: Instant,
    pub data: Vec<u8>,
}

/// A UDP socket on 127.0.0.1 that a thread drains until told to stop.
pub struct UdpCollector {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<Datagram>>,
}

impl UdpCollector {
    pub fn start() -> UdpCollector {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP collector");
        set_rcvbuf(sock.as_raw_fd(), 64 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("set the collector's read timeout");
        let addr = sock.local_addr().expect("the collector's address");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65536];
            loop {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => got.push(Datagram {
                        from,
                        at: Instant::now(),
                        data: buf.get(..n).unwrap_or_default().to_vec(),
                    }),
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        if flag.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    Err(e) => panic!("udp collector recv: {e}"),
                }
            }
            got
        });
        UdpCollector { addr, stop, thread }
    }

    /// Every datagram received, once the socket has been empty for a moment.
    pub fn finish(self) -> Vec<Datagram> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("the collector thread")
    }
}

/// Sets the receive buffer of `fd` to `bytes` (SO_RCVBUFFORCE as root, else SO_RCVBUF up to
/// the system's limit), so a burst of export datagrams is not lost in the test's own socket.
pub fn set_rcvbuf(fd: libc::c_int, bytes: libc::c_int) {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: setsockopt on a socket this test owns, with a pointer to a live c_int and
        // its size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&raw const bytes).cast::<libc::c_void>(),
                len,
            )
        };
        if r == 0 {
            return;
        }
    }
}
