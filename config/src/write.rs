//! Writing a [`Config`] back as TOML (`metaprobe check-config`).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;

use crate::Config;

/// A TOML basic string with the escapes TOML needs.
fn quote(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn path(p: &Path) -> String {
    quote(&p.to_string_lossy())
}

fn strings<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.map(quote).collect();
    format!("[{}]", items.join(", "))
}

fn collectors(list: &[SocketAddr]) -> String {
    let items: Vec<String> = list.iter().map(|a| quote(&a.to_string())).collect();
    format!("[{}]", items.join(", "))
}

/// Bytes with the largest binary suffix that divides them exactly (`"64M"`).
pub(crate) fn size(n: u64) -> String {
    for (shift, unit) in [(30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return quote(&format!("{}{unit}", n >> shift));
        }
    }
    n.to_string()
}

fn flag(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

pub(crate) fn to_toml(c: &Config) -> String {
    let bridges: Vec<String> = c
        .bridges
        .iter()
        .map(|b| format!("[{}, {}]", b.subscriber, b.internet))
        .collect();
    let format: Vec<&str> = c.ajb_save_dns_format.iter().map(|f| f.name()).collect();

    let mut out = String::from("# metaprobe effective configuration\n\n# dataplane\n");
    let mut line = |key: &str, value: String| {
        // Writing into a String cannot fail.
        let _ = if key.starts_with('#') {
            writeln!(out, "\n{key}")
        } else {
            writeln!(out, "{key} = {value}")
        };
    };
    line("eal_args", strings(c.eal_args.iter().map(String::as_str)));
    line("bridges", format!("[{}]", bridges.join(", ")));
    line("log_dir", path(&c.log_dir));
    line("stats_interval", c.stats_interval.to_string());
    line(
        "metrics_listen",
        quote(&c.metrics_listen.map(|a| a.to_string()).unwrap_or_default()),
    );
    line("rx_descriptors", c.rx_descriptors.to_string());
    line("tx_descriptors", c.tx_descriptors.to_string());
    line("queues_per_port", c.queues_per_port.to_string());
    line("flow_table_size", c.flow_table_size.to_string());
    line("flow_tcp_timeout", c.flow_tcp_timeout.to_string());
    line(
        "flow_tcp_closed_timeout",
        c.flow_tcp_closed_timeout.to_string(),
    );
    line("flow_udp_timeout", c.flow_udp_timeout.to_string());
    line("flow_other_timeout", c.flow_other_timeout.to_string());
    line("reassembly_slots", c.reassembly_slots.to_string());
    line("reassembly_slot_bytes", c.reassembly_slot_bytes.to_string());
    line("quic_slots", c.quic_slots.to_string());
    line("ip_fragment_slots", c.ip_fragment_slots.to_string());
    line(
        "ip_fragment_slot_bytes",
        c.ip_fragment_slot_bytes.to_string(),
    );
    line("# export (spec/ipfix-export.md)", String::new());
    line("ipfix_dev", quote(&c.ipfix_dev));
    line("ipfix_udp_collectors", collectors(&c.ipfix_udp_collectors));
    line("ipfix_tcp_collectors", collectors(&c.ipfix_tcp_collectors));
    line(
        "ipfix_meta_udp_collectors",
        collectors(&c.ipfix_meta_udp_collectors),
    );
    line(
        "ipfix_meta_tcp_collectors",
        collectors(&c.ipfix_meta_tcp_collectors),
    );
    line(
        "ipfix_meta_raw",
        strings(c.ipfix_meta_raw.iter().map(|p| p.name())),
    );
    line(
        "ipfix_meta_raw_max_bytes",
        c.ipfix_meta_raw_max_bytes.to_string(),
    );
    line(
        "ipfix_dns_udp_collectors",
        collectors(&c.ipfix_dns_udp_collectors),
    );
    line(
        "ipfix_dns_tcp_collectors",
        collectors(&c.ipfix_dns_tcp_collectors),
    );
    line(
        "ipfix_udp_template_timer",
        c.ipfix_udp_template_timer.to_string(),
    );
    line("ipfix_mtu", c.ipfix_mtu.to_string());
    line("ipfix_tcp_backlog", size(c.ipfix_tcp_backlog));
    line("ipfix_domain_id", c.ipfix_domain_id.to_string());
    line(
        "ipfix_clickstream_domain_id",
        c.ipfix_clickstream_domain_id.to_string(),
    );
    line("ipfix_meta_domain_id", c.ipfix_meta_domain_id.to_string());
    line("ipfix_dns_domain_id", c.ipfix_dns_domain_id.to_string());
    line("netflow_timeout", c.netflow_timeout.to_string());
    line("http_parse_reply", flag(c.http_parse_reply).to_owned());
    line("ssl_parse_reply", flag(c.ssl_parse_reply).to_owned());
    line("dbg_log_mask", format!("{:#x}", c.dbg_log_mask));
    line("# DNS text log", String::new());
    line("ajb_save_dns", flag(c.ajb_save_dns).to_owned());
    line("ajb_dns_path", path(&c.ajb_dns_path));
    line("ajb_save_dns_format", quote(&format.join(":")));
    line("ajb_dns_bufsize", size(c.ajb_dns_bufsize));
    line("ajb_dns_fsize", size(c.ajb_dns_fsize));
    line("ajb_dns_ftimeout", c.ajb_dns_ftimeout.to_string());
    line("# Subscribers", String::new());
    line(
        "subscribers_file",
        c.subscribers_file
            .as_deref()
            .map_or_else(|| quote(""), path),
    );
    line("subscribers_max", c.subscribers_max.to_string());
    line("radius_snoop", flag(c.radius_snoop).to_owned());
    line(
        "radius_accounting_listen",
        quote(
            &c.radius_accounting_listen
                .map_or_else(String::new, |a| a.to_string()),
        ),
    );
    line("radius_secret", quote(&c.radius_secret));
    line("# vchannels", String::new());
    let vchannels: Vec<String> = c
        .vchannels
        .iter()
        .map(|v| {
            let vlans: Vec<String> = v
                .vlans
                .iter()
                .map(|&(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            format!(
                "{{ bridge = {}, vlans = {}, channel = {} }}",
                v.bridge,
                quote(&vlans.join(",")),
                v.channel
            )
        })
        .collect();
    line("vchannels", format!("[{}]", vchannels.join(", ")));
    line("# Blocking", String::new());
    line(
        "block_list",
        c.block_list.as_deref().map_or_else(|| quote(""), path),
    );
    line(
        "block_redirect_url",
        quote(c.block_redirect_url.as_deref().unwrap_or("")),
    );
    out
}
