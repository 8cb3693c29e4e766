//! Every template of the spec, derived from the element table of [`crate::ie`].
//!
//! Each template is declared once, in `templates!` below: the declaration
//! gives the typed record a worker fills (`Clickstream`, `Dns`, …; borrowed
//! strings, no allocation), the ordered field list sent in the template
//! record, and the two stable template ids (IPv4, IPv6 variant). The IPv6
//! variant has 1103/1104 in the place of 1003/1004 (the [`Slot::Addrs`] slot).
//!
//! # Template ids (stable; collectors may rely on them)
//!
//! | kind | stream | IPv4 | IPv6 |
//! |---|---|---|---|
//! | clickstream (request) | clickstream | 256 | 257 |
//! | http_reply | clickstream | 258 | 259 |
//! | tls_reply | clickstream | 260 | 261 |
//! | sip | meta | 262 | 263 |
//! | ftp | meta | 264 | 265 |
//! | im | meta | 266 | 267 |
//! | mail | meta | 268 | 269 |
//! | raw_meta | meta | 270 | 271 |
//! | dns | dns | 272 | 273 |
//! | options: RFC 5610 Information Element Type | every stream | 280 | |
//! | options: RFC 7011 §4.3 Exporting Process Reliability Statistics | every stream | 281 | |
//! | options: the probe's counters (one per record) | every stream | 282 | |

use crate::encoder::Fields;
use crate::field::{Field, IpPair, Mac, Octets, Text, WireKind};
use crate::ie::{self, DataType, Ie};

/// A template id (≥ 256).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(pub u16);

/// Options template of the RFC 5610 Information Element Type records.
pub const IE_TYPE_TEMPLATE_ID: TemplateId = TemplateId(280);
/// Options template of the RFC 7011 §4.3 Exporting Process Reliability Statistics.
pub const RELIABILITY_TEMPLATE_ID: TemplateId = TemplateId(281);
/// Options template of the probe's counters.
pub const COUNTER_TEMPLATE_ID: TemplateId = TemplateId(282);

/// The three export streams of spec §1, each with its own collectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// HTTP requests and replies, TLS/QUIC names and replies.
    Clickstream,
    /// SIP, FTP, IM, mail, raw metadata.
    Meta,
    /// DNS answers.
    Dns,
}

impl Stream {
    /// All streams.
    pub const ALL: [Stream; 3] = [Stream::Clickstream, Stream::Meta, Stream::Dns];

    /// The stream's name, as in logs.
    pub const fn name(self) -> &'static str {
        match self {
            Stream::Clickstream => "clickstream",
            Stream::Meta => "meta",
            Stream::Dns => "dns",
        }
    }

    /// The templates of this stream.
    pub fn templates(self) -> impl Iterator<Item = &'static TemplateDef> {
        TEMPLATES.iter().copied().filter(move |t| t.stream == self)
    }

    /// This stream's element of a per-stream array (in [`Stream::ALL`]
    /// order).
    pub const fn of<T: Copy>(self, a: &[T; 3]) -> T {
        let [clickstream, meta, dns] = *a;
        match self {
            Stream::Clickstream => clickstream,
            Stream::Meta => meta,
            Stream::Dns => dns,
        }
    }

    /// Position in [`Stream::ALL`]: the index of per-stream counter arrays.
    pub const fn index(self) -> usize {
        match self {
            Stream::Clickstream => 0,
            Stream::Meta => 1,
            Stream::Dns => 2,
        }
    }
}

/// Template id → stream, for the ids of [`all`] (a small table built once:
/// the worker and the export lcore look it up per record).
#[derive(Clone, Debug)]
pub struct Routes(Vec<Option<Stream>>);

impl Routes {
    pub fn new() -> Self {
        let max = all().map(|t| t.id().0).max().unwrap_or(255);
        let mut v = vec![None; usize::from(max.saturating_sub(255))];
        for t in all() {
            if let Some(slot) = v.get_mut(usize::from(t.id().0.wrapping_sub(256))) {
                *slot = Some(t.def.stream);
            }
        }
        Routes(v)
    }

    /// The stream of data template `id`; None for any other id.
    #[inline]
    pub fn stream(&self, id: TemplateId) -> Option<Stream> {
        let i = usize::from(id.0.checked_sub(256)?);
        self.0.get(i).copied().flatten()
    }
}

impl Default for Routes {
    fn default() -> Self {
        Self::new()
    }
}

/// One position of a template's field list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A single element.
    Ie(&'static Ie),
    /// IP_SOURCE/IP_DESTINATION: 1003/1004, or 1103/1104 in the IPv6 variant.
    Addrs,
}

/// A template layout of the spec (both address variants).
#[derive(Debug, PartialEq, Eq)]
pub struct TemplateDef {
    /// Kind name as `ie_spec.py` spells it (`clickstream`, `http_reply`, …).
    pub kind: &'static str,
    /// The stream it belongs to.
    pub stream: Stream,
    /// Template id of the IPv4 variant.
    pub v4: TemplateId,
    /// Template id of the IPv6 variant.
    pub v6: TemplateId,
    /// Field list, in wire order.
    pub slots: &'static [Slot],
}

/// One concrete template: a layout and an address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// The layout.
    pub def: &'static TemplateDef,
    /// The IPv6 variant (1103/1104).
    pub ipv6: bool,
}

impl Template {
    /// The template id.
    pub const fn id(&self) -> TemplateId {
        if self.ipv6 { self.def.v6 } else { self.def.v4 }
    }

    /// The kind name (`dns`, `dns_v6`, …) as `ie_spec.py` names it.
    pub fn kind_name(&self) -> String {
        if self.ipv6 {
            format!("{}_v6", self.def.kind)
        } else {
            self.def.kind.to_string()
        }
    }

    /// The elements in wire order.
    pub fn elements(&self) -> impl Iterator<Item = &'static Ie> + '_ {
        let v6 = self.ipv6;
        self.def.slots.iter().flat_map(move |s| {
            let pair: [Option<&'static Ie>; 2] = match *s {
                Slot::Ie(ie) => [Some(ie), None],
                Slot::Addrs if v6 => [Some(&ie::IP_SOURCE_V6), Some(&ie::IP_DESTINATION_V6)],
                Slot::Addrs => [Some(&ie::IP_SOURCE), Some(&ie::IP_DESTINATION)],
            };
            pair.into_iter().flatten()
        })
    }

    /// Octets of the template record (RFC 7011 §3.4.1).
    pub fn record_len(&self) -> usize {
        4 + self.elements().map(|e| e.specifier_len()).sum::<usize>()
    }

    /// Appends the template record: id, field count, Field Specifiers.
    pub fn write_record(&self, out: &mut Vec<u8>) {
        let count = self.elements().count() as u16;
        out.extend_from_slice(&self.id().0.to_be_bytes());
        out.extend_from_slice(&count.to_be_bytes());
        for e in self.elements() {
            write_specifier(e, out);
        }
    }
}

/// Appends one Field Specifier (RFC 7011 §3.2).
pub fn write_specifier(e: &Ie, out: &mut Vec<u8>) {
    let id = if e.is_enterprise() {
        e.id | 0x8000
    } else {
        e.id
    };
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&e.template_len().to_be_bytes());
    if e.is_enterprise() {
        out.extend_from_slice(&e.pen.to_be_bytes());
    }
}

/// Finds a data template by id.
pub fn by_id(id: TemplateId) -> Option<Template> {
    TEMPLATES.iter().find_map(|def| {
        if def.v4 == id {
            Some(Template { def, ipv6: false })
        } else if def.v6 == id {
            Some(Template { def, ipv6: true })
        } else {
            None
        }
    })
}

/// Every concrete data template (both variants of every layout).
pub fn all() -> impl Iterator<Item = Template> {
    TEMPLATES
        .iter()
        .flat_map(|def| [Template { def, ipv6: false }, Template { def, ipv6: true }])
}

/// A typed record of one template, filled by a worker; the encoder measures
/// and writes it as [`Fields`].
pub trait Record: Fields {
    /// The layout this record follows.
    const DEF: &'static TemplateDef;

    /// Calls `f` with the fields in wire order.
    fn with_fields<R>(&self, f: impl FnOnce(&[&dyn Field]) -> R) -> R;

    /// True when a field needs the IPv6 variant of the template.
    fn is_v6(&self) -> bool;

    /// The template this record is written with (IPv6 variant when its
    /// addresses are IPv6).
    fn template(&self) -> Template {
        Template {
            def: Self::DEF,
            ipv6: self.is_v6(),
        }
    }
}

/// Checks that a field's Rust type writes what its element says (used by the
/// tests of every template; a mismatch is a programming error).
pub fn kind_matches(slot: &Slot, kind: WireKind) -> bool {
    match slot {
        Slot::Addrs => kind == WireKind::Addrs,
        Slot::Ie(ie) => matches!(
            (ie.data_type, kind),
            (DataType::Unsigned8, WireKind::U8)
                | (DataType::Unsigned16, WireKind::U16)
                | (DataType::Unsigned32, WireKind::U32)
                | (DataType::Unsigned64, WireKind::U64)
                | (DataType::MacAddress, WireKind::Mac)
                | (DataType::String, WireKind::Text)
                | (DataType::OctetArray, WireKind::Octets)
        ),
    }
}

macro_rules! templates {
    ($(
        $(#[$meta:meta])*
        $name:ident, $def:ident, $kind:literal, $stream:ident, $v4:literal, $v6:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $slot:expr ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
            pub struct $name<'a> {
                $( $(#[$fmeta])* pub $field: $ty, )*
                #[doc(hidden)]
                pub _lt: core::marker::PhantomData<&'a ()>,
            }

            #[doc = concat!("Layout of the `", $kind, "` template.")]
            pub static $def: TemplateDef = TemplateDef {
                kind: $kind,
                stream: Stream::$stream,
                v4: TemplateId($v4),
                v6: TemplateId($v6),
                slots: &[ $( $slot ),* ],
            };

            impl Record for $name<'_> {
                const DEF: &'static TemplateDef = &$def;
                fn with_fields<R>(&self, f: impl FnOnce(&[&dyn Field]) -> R) -> R {
                    f(&[ $( &self.$field as &dyn Field ),* ])
                }
                #[inline]
                fn is_v6(&self) -> bool {
                    false $( || Field::is_v6(&self.$field) )*
                }
            }

            impl Fields for $name<'_> {
                #[inline]
                fn wire_len(&self, cap: usize) -> (usize, bool) {
                    let (mut len, mut cut) = (0, false);
                    $(
                        let (n, c) = Field::wire_len(&self.$field, cap);
                        len += n;
                        cut |= c;
                    )*
                    (len, cut)
                }
                #[inline]
                fn write(&self, cap: usize, out: &mut Vec<u8>) {
                    $( Field::write(&self.$field, cap, out); )*
                }
            }
        )*

        /// Every template layout of the spec.
        pub static TEMPLATES: [&TemplateDef; 9] = [ $( &$def ),* ];

        #[cfg(test)]
        fn field_kinds_of_every_template() -> Vec<(&'static TemplateDef, Vec<WireKind>)> {
            vec![ $( (&$def, <$name<'_>>::default().with_fields(|fs| fs.iter().map(|f| f.wire_kind()).collect())) ),* ]
        }
    };
}

const fn s(ie: &'static Ie) -> Slot {
    Slot::Ie(ie)
}
const ADDRS: Slot = Slot::Addrs;

use ie::*;

templates! {
    /// Clickstream request (spec §4): an HTTP request, a TLS or QUIC ClientHello.
    Clickstream, CLICKSTREAM, "clickstream", Clickstream, 256, 257 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        hostname: Text<'a> = s(&HOSTNAME),
        path: Text<'a> = s(&PATH),
        refer: Text<'a> = s(&REFER),
        user_agent: Text<'a> = s(&USER_AGENT),
        cookie: Text<'a> = s(&COOKIE),
        session_id: u64 = s(&SESSION_ID),
        locked: u64 = s(&LOCKED),
        host_type: u8 = s(&HOST_TYPE),
        method: u8 = s(&METHOD),
        port_source: u16 = s(&PORT_SOURCE),
        port_destination: u16 = s(&PORT_DESTINATION),
        bridge_channel_num: u16 = s(&BRIDGE_CHANNEL_NUM),
        cipher_suites_len: u16 = s(&CIPHER_SUITES_LEN),
        cipher_suites: Octets<'a> = s(&CIPHER_SUITES),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
        tcp_sequence: u32 = s(&TCP_SEQUENCE),
    }

    /// Clickstream HTTP reply (spec §5, `http_parse_reply=1`).
    HttpReply, HTTP_REPLY, "http_reply", Clickstream, 258, 259 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        result_code: u32 = s(&RESULT_CODE),
        content_length: u64 = s(&CONTENT_LENGTH),
        content_type: Text<'a> = s(&CONTENT_TYPE),
        session_id: u64 = s(&SESSION_ID),
        location: Text<'a> = s(&LOCATION),
        bridge_channel_num: u16 = s(&BRIDGE_CHANNEL_NUM),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// Clickstream TLS reply (spec §6, `ssl_parse_reply=1`).
    TlsReply, TLS_REPLY, "tls_reply", Clickstream, 260, 261 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        ssl_version: u16 = s(&SSL_VERSION),
        cipher_suite: u16 = s(&CIPHER_SUITE),
        compression_method: u8 = s(&COMPRESSION_METHOD),
        bridge_channel_num: u16 = s(&BRIDGE_CHANNEL_NUM),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
        host_type: u8 = s(&HOST_TYPE),
        cname: Text<'a> = s(&HOSTNAME),
    }

    /// SIP message (spec §7).
    Sip, SIP, "sip", Meta, 262, 263 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        msg_code: Text<'a> = s(&MSG_CODE),
        status_code: u16 = s(&STATUS_CODE),
        uri: Text<'a> = s(&URI),
        from: Text<'a> = s(&FROM),
        to: Text<'a> = s(&TO),
        callid: Text<'a> = s(&CALLID),
        uagent: Text<'a> = s(&UAGENT),
        ctype: Text<'a> = s(&CTYPE),
        gateways: Text<'a> = s(&GATEWAYS),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// FTP login attempt or data-connection mode (spec §7).
    Ftp, FTP, "ftp", Meta, 264, 265 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        server_name: Text<'a> = s(&SERVER_NAME),
        user: Text<'a> = s(&USER),
        password: Text<'a> = s(&PASSWORD),
        mode: u8 = s(&MODE),
        result_code: u32 = s(&RESULT_CODE),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// Instant messenger (XMPP, ICQ, Zello) metadata (spec §7).
    Im, IM, "im", Meta, 266, 267 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        im_login: Text<'a> = s(&IM_LOGIN),
        im_passw: Text<'a> = s(&IM_PASSW),
        im_screen_name: Text<'a> = s(&IM_SCREEN_NAME),
        im_uin: Text<'a> = s(&IM_UIN),
        im_protocol: u8 = s(&IM_PROTOCOL),
        im_receivers: Text<'a> = s(&IM_RECEIVERS),
        result_code: u32 = s(&RESULT_CODE),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// Mail message sent or received (SMTP, POP3, IMAP; spec §7).
    Mail, MAIL, "mail", Meta, 268, 269 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        mail_sender: Text<'a> = s(&MAIL_SENDER),
        mail_receiver: Text<'a> = s(&MAIL_RECEIVER),
        mail_cc: Text<'a> = s(&MAIL_CC),
        mail_subject: Text<'a> = s(&MAIL_SUBJECT),
        mail_servers: Text<'a> = s(&MAIL_SERVERS),
        mail_reply: Text<'a> = s(&MAIL_REPLY),
        event: u8 = s(&EVENT),
        attachment: u8 = s(&ATTACHMENT),
        mail_protocol: u8 = s(&MAIL_PROTOCOL),
        result_code: u32 = s(&RESULT_CODE),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// Raw (unparsed) metadata (spec §7).
    RawMeta, RAW_META, "raw_meta", Meta, 270, 271 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        session_id: u64 = s(&SESSION_ID),
        flw_dir: u8 = s(&FLW_DIR),
        dir_data: u8 = s(&DIR_DATA),
        vdpi_proto: u16 = s(&VDPI_PROTO),
        meta_proto: u16 = s(&META_PROTO),
        raw_data: Text<'a> = s(&RAW_DATA),
        protocol_identifier: u8 = s(&PROTOCOL_IDENTIFIER),
        source_transport_port: u16 = s(&SOURCE_TRANSPORT_PORT),
        destination_transport_port: u16 = s(&DESTINATION_TRANSPORT_PORT),
        tcp_control_bits: u16 = s(&TCP_CONTROL_BITS),
        tcp_sequence: u32 = s(&TCP_SEQUENCE),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
    }

    /// One DNS answer record (spec §8).
    Dns, DNS, "dns", Dns, 272, 273 {
        time_stamp: u32 = s(&TIME_STAMP),
        login: Text<'a> = s(&LOGIN),
        addrs: IpPair = ADDRS,
        port_source: u16 = s(&PORT_SOURCE),
        port_destination: u16 = s(&PORT_DESTINATION),
        session_id: u64 = s(&SESSION_ID),
        transport: u8 = s(&TRANSPORT),
        domain: Text<'a> = s(&DOMAIN),
        rrclass: u16 = s(&RRCLASS),
        rrtype: u16 = s(&RRTYPE),
        ttl: u32 = s(&TTL),
        rdata: Octets<'a> = s(&RDATA),
        vlan_id: u16 = s(&VLAN_ID),
        post_vlan_id: u16 = s(&POST_VLAN_ID),
        source_mac: Mac = s(&SOURCE_MAC_ADDRESS),
        destination_mac: Mac = s(&POST_DESTINATION_MAC_ADDRESS),
        mpls_labels: Octets<'a> = s(&MPLS_LABELS),
        bridge_channel_num: u16 = s(&BRIDGE_CHANNEL_NUM),
    }
}

// --- options templates -----------------------------------------------------------

/// An options template (RFC 7011 §3.4.2.2): scope fields first.
#[derive(Debug)]
pub struct OptionsTemplate {
    /// Template id.
    pub id: TemplateId,
    /// Name used by the decoder (`ie_type`, `reliability`, `counter`).
    pub name: &'static str,
    /// Number of scope fields (the first ones).
    pub scope: u16,
    /// Fields in wire order.
    pub fields: &'static [&'static Ie],
}

impl OptionsTemplate {
    /// Octets of the options template record.
    pub fn record_len(&self) -> usize {
        6 + self.fields.iter().map(|e| e.specifier_len()).sum::<usize>()
    }

    /// Appends the options template record.
    pub fn write_record(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0.to_be_bytes());
        out.extend_from_slice(&(self.fields.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.scope.to_be_bytes());
        for e in self.fields {
            write_specifier(e, out);
        }
    }
}

/// RFC 5610 §3.9 Information Element Type Options Template: scope
/// privateEnterpriseNumber + informationElementId; then data type,
/// semantics, units, range begin and end, name, description — every field
/// of the RFC's example, which libfixbuf (`ipfixDump --rfc5610`, YAF, SiLK)
/// requires before it takes the records as element definitions.
pub static IE_TYPE_TEMPLATE: OptionsTemplate = OptionsTemplate {
    id: IE_TYPE_TEMPLATE_ID,
    name: "ie_type",
    scope: 2,
    fields: &[
        &PRIVATE_ENTERPRISE_NUMBER,
        &INFORMATION_ELEMENT_ID,
        &INFORMATION_ELEMENT_DATA_TYPE,
        &INFORMATION_ELEMENT_SEMANTICS,
        &INFORMATION_ELEMENT_UNITS,
        &INFORMATION_ELEMENT_RANGE_BEGIN,
        &INFORMATION_ELEMENT_RANGE_END,
        &INFORMATION_ELEMENT_NAME,
        &INFORMATION_ELEMENT_DESCRIPTION,
    ],
};

/// RFC 7011 §4.3 Exporting Process Reliability Statistics Options Template:
/// scope exportingProcessId; the not-sent counts; the times (seconds) of the
/// first and the last record dropped.
pub static RELIABILITY_TEMPLATE: OptionsTemplate = OptionsTemplate {
    id: RELIABILITY_TEMPLATE_ID,
    name: "reliability",
    scope: 1,
    fields: &[
        &EXPORTING_PROCESS_ID,
        &NOT_SENT_FLOW_TOTAL_COUNT,
        &NOT_SENT_PACKET_TOTAL_COUNT,
        &NOT_SENT_OCTET_TOTAL_COUNT,
        &OBSERVATION_TIME_SECONDS,
        &OBSERVATION_TIME_SECONDS,
    ],
};

/// The probe's counters, one per record (RFC 7011 §3.4.2.2): scope
/// meteringProcessId, the counter's family and name (the final summary's
/// line and name); then its value, a total since the probe started. A new
/// counter is a new record, never a new template.
pub static COUNTER_TEMPLATE: OptionsTemplate = OptionsTemplate {
    id: COUNTER_TEMPLATE_ID,
    name: "counter",
    scope: 3,
    fields: &[
        &METERING_PROCESS_ID,
        &COUNTER_FAMILY,
        &COUNTER_NAME,
        &COUNTER_VALUE,
    ],
};

/// Every options template, in the order of a template round.
pub static OPTIONS_TEMPLATES: [&OptionsTemplate; 3] =
    [&IE_TYPE_TEMPLATE, &RELIABILITY_TEMPLATE, &COUNTER_TEMPLATE];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn routes_cover_every_template() {
        let r = Routes::new();
        for t in all() {
            assert_eq!(r.stream(t.id()), Some(t.def.stream));
        }
        assert_eq!(r.stream(TemplateId(255)), None);
        assert_eq!(r.stream(IE_TYPE_TEMPLATE_ID), None);
        assert_eq!(r.stream(TemplateId(9999)), None);
        for (i, s) in Stream::ALL.into_iter().enumerate() {
            assert_eq!(s.index(), i);
            assert_eq!(s.of(&[10, 11, 12]), 10 + i);
        }
    }

    #[test]
    fn every_field_type_matches_its_element() {
        let all = field_kinds_of_every_template();
        assert_eq!(all.len(), 9);
        for (def, kinds) in all {
            assert_eq!(def.slots.len(), kinds.len(), "{}", def.kind);
            for (slot, kind) in def.slots.iter().zip(kinds) {
                assert!(
                    kind_matches(slot, kind),
                    "{}: {slot:?} written as {kind:?}",
                    def.kind
                );
            }
        }
    }

    #[test]
    fn ids_are_stable_unique_and_not_reserved() {
        let ids: Vec<u16> = all().map(|t| t.id().0).collect();
        assert_eq!(ids, (256..=273).collect::<Vec<_>>());
        let set: HashSet<u16> = ids.iter().copied().collect();
        assert!(!set.contains(&IE_TYPE_TEMPLATE_ID.0));
        assert!(!set.contains(&RELIABILITY_TEMPLATE_ID.0));
        assert!(!set.contains(&COUNTER_TEMPLATE_ID.0));
        for t in all() {
            assert_eq!(by_id(t.id()), Some(t));
        }
        assert_eq!(by_id(TemplateId(300)), None);
    }

    #[test]
    fn v6_variant_swaps_1003_1004_in_place() {
        for def in TEMPLATES {
            let v4: Vec<_> = Template { def, ipv6: false }
                .elements()
                .map(|e| e.id)
                .collect();
            let v6: Vec<_> = Template { def, ipv6: true }
                .elements()
                .map(|e| e.id)
                .collect();
            let mapped: Vec<_> = v4
                .iter()
                .map(|&i| match i {
                    1003 => 1103,
                    1004 => 1104,
                    other => other,
                })
                .collect();
            assert_eq!(mapped, v6, "{}", def.kind);
            assert_eq!(v4.get(2..4), Some(&[1003, 1004][..]), "{}", def.kind);
        }
    }

    #[test]
    fn clickstream_template_record_bytes() {
        let t = Template {
            def: &CLICKSTREAM,
            ipv6: false,
        };
        let mut out = Vec::new();
        t.write_record(&mut out);
        assert_eq!(out.len(), t.record_len());
        // id 256, 24 fields; first specifier: 1001|0x8000, length 4, PEN 43823.
        assert_eq!(
            out.get(..12),
            Some(&[1, 0, 0, 24, 0x83, 0xe9, 0, 4, 0, 0, 0xab, 0x2f][..])
        );
        // LOGIN: 1002|0x8000, varlen 65535.
        assert_eq!(out.get(12..16), Some(&[0x83, 0xea, 0xff, 0xff][..]));
        // 19 enterprise + 4 IANA specifiers... + 4 header octets.
        assert_eq!(out.len(), 4 + 20 * 8 + 4 * 4);
    }
}
