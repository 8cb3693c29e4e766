//! SIP and FTP inputs from the capture fixtures, shared by the fuzz tests and
//! the benches (which include this next to `common`).
#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::HashMap;

use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::sip::looks_like_sip;
use metaprobe_dataplane::wire::{TcpFlags, decode};

use super::common::{ethernet_frames, fixtures, read_capture};

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

/// A control connection's segments in the order they were sent: (from the
/// client, payload).
pub type Dialog = Vec<(bool, Vec<u8>)>;

/// The FTP control connections (server port 21) of a capture, sorted;
/// retransmissions left out.
pub fn ftp_dialogs(name: &str) -> Vec<Dialog> {
    let mut dialogs: HashMap<_, Dialog> = HashMap::new();
    let mut next: HashMap<_, u32> = HashMap::new();
    for (_, f) in read_capture(&fixtures().join(name)) {
        let p = decode(&f);
        let (Some(tcp), Some((sp, dp))) = (p.tcp().copied(), p.ports()) else {
            continue;
        };
        let payload = p.payload(&f);
        let (src, dst) = (p.src_addr().unwrap(), p.dst_addr().unwrap());
        if tcp.flags.contains(TcpFlags::SYN) {
            next.insert((src, sp), tcp.seq.wrapping_add(1));
        }
        if payload.is_empty() || (sp != 21 && dp != 21) {
            continue;
        }
        let expect = next.entry((src, sp)).or_insert(tcp.seq);
        if tcp.seq != *expect {
            continue;
        }
        *expect = tcp.seq.wrapping_add(payload.len() as u32);
        let conn = if dp == 21 { (src, sp) } else { (dst, dp) };
        dialogs
            .entry(conn)
            .or_default()
            .push((dp == 21, payload.to_vec()));
    }
    let mut out: Vec<Dialog> = dialogs.into_values().collect();
    out.sort();
    out
}
