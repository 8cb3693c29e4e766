//! The DPDK binding of metaprobe.
//!
//! `sys` holds bindgen's declarations over the system DPDK headers and the C
//! shim (DPDK's `static inline` fast path compiled out of line). The other
//! modules are thin safe wrappers; they are the only place of the project
//! where DPDK is called through `unsafe`.
pub mod sys {
    #![allow(
        non_upper_case_globals,
        non_camel_case_types,
        non_snake_case,
        dead_code
    )]
    #![allow(clippy::all, clippy::indexing_slicing, clippy::unwrap_used)]
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

mod burst;
mod eal;
mod error;
mod lcore;
mod mempool;
mod port;

pub use burst::{BURST_SIZE, MbufBurst};
pub use eal::{Eal, tsc};
pub use error::DpdkError;
pub use lcore::{Launched, launch, main_lcore, worker_lcores};
pub use mempool::Mempool;
pub use port::{Injected, Link, Port, PortInfo, PortQueue, PortSetup, PortStats};
