//! SIP and FTP inputs from the capture fixtures, shared by the fuzz tests and
//! the benches (which include this next to `common`).
#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::sip::looks_like_sip;
use metaprobe_dataplane::wire::decode;

pub use super::common::Dialog;
use super::common::{ethernet_frames, tcp_dialogs};

/// The fixtures with FTP control connections.
pub const FTP_CAPTURES: &[&str] = &[
    "ftp_active_port_nlst_retr.pcap",
    "ftp_passive_pasv_list_retr.pcap",
    "ftp_ipv6_eprt_epsv_all_data.pcap",
    "mkpcap_sip_ftp_encaps.pcap",
];

/// Every SIP datagram of the fixtures (UDP payloads the signature takes), in
/// capture order.
pub fn sip_datagrams() -> Vec<Vec<u8>> {
    ethernet_frames()
        .iter()
        .filter_map(|f| {
            let p = decode(f);
            p.udp()?;
            let payload = p.payload(f);
            (looks_like_sip(payload) == Outcome::Done(())).then(|| payload.to_vec())
        })
        .collect()
}

/// The FTP control connections (server port 21) of a capture, sorted.
pub fn ftp_dialogs(name: &str) -> Vec<Dialog> {
    tcp_dialogs(name, 21)
}
