//! The per-worker flow table: one entry per bidirectional flow, fixed memory, a
//! session id per flow that is unique across workers and restarts.
//!
//! * [`FlowKey`]: the canonical 5-tuple plus the bridge; both directions of a flow
//!   build the same key, and [`Endpoint`] says which end sent a packet.
//! * [`FlowTable`]: open addressing (linear probing with backward-shift deletion, no
//!   tombstones) over a power-of-two index of `u64` slots (32-bit hash tag + entry
//!   number) that points into a fixed array of entries. Entry numbers never move, so
//!   [`FlowHandle`]s stay valid while the flow lives and the per-class LRU lists can
//!   link entries by number. All memory is allocated in [`FlowTable::new`]; nothing
//!   grows afterwards.
//! * Idle timeouts per class (TCP open, TCP closing, UDP, other). Each class keeps a
//!   list ordered by last-seen time (a touch moves the entry to the tail), so
//!   [`FlowTable::expire`] pops expired heads in O(1) each and a full table evicts the
//!   oldest head in O(1), counted in [`FlowStats::evicted_full`].
//! * TCP: RST, or FIN from both ends, moves a flow to the closing class (short
//!   timeout, so the last ACKs still land on it); a SYN on a closing flow ends it and
//!   starts a new one (port reuse).
//! * [`SessionIds`]: worker id in the top 8 bits, then a 56-bit sequence that starts at
//!   the run's start time in units of 100 ns since the Unix epoch.

mod key;
mod session;
mod table;

pub use key::{Endpoint, FlowKey};
pub use session::{SessionId, SessionIds};
pub use table::{
    ClientRule, EndReason, Flow, FlowHandle, FlowStats, FlowTable, Observed, Prepared, ShortPath,
    TcpProgress, Timeouts,
};
