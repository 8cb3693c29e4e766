//! The information elements of `spec/ipfix-export.md`, in ONE table.
//!
//! Every element the exporter writes — in a template, in an RFC 5610 type
//! record, in the decoder of `metaprobe collect` — comes from the constants
//! below and [`ELEMENTS`]. Names are spelled as `shared/tools/ie_spec.py`
//! spells them (the table's names; the IANA names for IANA elements; `_V6`
//! for 1103/1104), so what a collector prints is what the spec calls it.
//!
//! ```text
//! RFC 7011 §3.2 Field Specifier
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |E|  Information Element ident. |        Field Length           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Enterprise Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

/// Private Enterprise Number of every element id ≥ 1000 of the spec.
pub const PEN: u32 = 43823;

/// Template field length that announces a variable-length field (RFC 7011 §7).
pub const VARLEN: u16 = 65535;

/// RFC 5610 §3.1 abstract data types (the subset we use), with their
/// informationElementDataType codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `octetArray` (0): the spec's `raw`.
    OctetArray,
    /// `unsigned8` (1): the spec's `int8`.
    Unsigned8,
    /// `unsigned16` (2): the spec's `int16`.
    Unsigned16,
    /// `unsigned32` (3): the spec's `int32`.
    Unsigned32,
    /// `unsigned64` (4): the spec's `int64`.
    Unsigned64,
    /// `macAddress` (12).
    MacAddress,
    /// `string` (13): UTF-8, never split inside a character.
    String,
    /// `ipv4Address` (18).
    Ipv4Address,
    /// `ipv6Address` (19).
    Ipv6Address,
}

impl DataType {
    /// The informationElementDataType code of RFC 5610 §3.1.
    pub const fn code(self) -> u8 {
        match self {
            DataType::OctetArray => 0,
            DataType::Unsigned8 => 1,
            DataType::Unsigned16 => 2,
            DataType::Unsigned32 => 3,
            DataType::Unsigned64 => 4,
            DataType::MacAddress => 12,
            DataType::String => 13,
            DataType::Ipv4Address => 18,
            DataType::Ipv6Address => 19,
        }
    }

    /// Octets on the wire, `None` for variable length.
    pub const fn fixed_len(self) -> Option<u16> {
        match self {
            DataType::Unsigned8 => Some(1),
            DataType::Unsigned16 => Some(2),
            DataType::Unsigned32 | DataType::Ipv4Address => Some(4),
            DataType::Unsigned64 => Some(8),
            DataType::MacAddress => Some(6),
            DataType::Ipv6Address => Some(16),
            DataType::String | DataType::OctetArray => None,
        }
    }

    /// The RFC 7012 name (`unsigned8`, `ipv4Address`, …), as IPFIXcol2's
    /// element files spell it.
    pub const fn rfc_name(self) -> &'static str {
        match self {
            DataType::OctetArray => "octetArray",
            DataType::Unsigned8 => "unsigned8",
            DataType::Unsigned16 => "unsigned16",
            DataType::Unsigned32 => "unsigned32",
            DataType::Unsigned64 => "unsigned64",
            DataType::MacAddress => "macAddress",
            DataType::String => "string",
            DataType::Ipv4Address => "ipv4Address",
            DataType::Ipv6Address => "ipv6Address",
        }
    }

    /// The type name used by `ie_spec.py` (`int8` … `raw`).
    pub const fn spec_name(self) -> &'static str {
        match self {
            DataType::OctetArray => "raw",
            DataType::Unsigned8 => "int8",
            DataType::Unsigned16 => "int16",
            DataType::Unsigned32 => "int32",
            DataType::Unsigned64 => "int64",
            DataType::MacAddress => "mac",
            DataType::String => "string",
            DataType::Ipv4Address => "ipv4",
            DataType::Ipv6Address => "ipv6",
        }
    }
}

/// RFC 5610 §3.2 data type semantics (informationElementSemantics codes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// `default` (0): strings, octet arrays, addresses.
    Default,
    /// `quantity` (1): a measured amount (lengths, TTL).
    Quantity,
    /// `totalCounter` (2): a count since the Metering Process started.
    TotalCounter,
    /// `identifier` (4): ids, codes, enumerations, ports.
    Identifier,
    /// `flags` (5): bit masks.
    Flags,
}

impl Semantics {
    /// The informationElementSemantics code of RFC 5610 §3.2.
    pub const fn code(self) -> u8 {
        match self {
            Semantics::Default => 0,
            Semantics::Quantity => 1,
            Semantics::TotalCounter => 2,
            Semantics::Identifier => 4,
            Semantics::Flags => 5,
        }
    }

    /// The RFC 7012 name (`default`, `quantity`, …).
    pub const fn rfc_name(self) -> &'static str {
        match self {
            Semantics::Default => "default",
            Semantics::Quantity => "quantity",
            Semantics::TotalCounter => "totalCounter",
            Semantics::Identifier => "identifier",
            Semantics::Flags => "flags",
        }
    }
}

/// One information element: identity, name, type, meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ie {
    /// Element id (without the enterprise bit).
    pub id: u16,
    /// Private Enterprise Number; 0 for an IANA element.
    pub pen: u32,
    /// The name of the spec, as `ie_spec.py` spells it.
    pub name: &'static str,
    /// Abstract data type (RFC 5610).
    pub data_type: DataType,
    /// Data type semantics (RFC 5610).
    pub semantics: Semantics,
    /// One line of meaning, from the spec (sent as informationElementDescription).
    pub description: &'static str,
}

impl Ie {
    /// Template field length: the fixed size, or [`VARLEN`].
    pub const fn template_len(&self) -> u16 {
        match self.data_type.fixed_len() {
            Some(n) => n,
            None => VARLEN,
        }
    }

    /// True for enterprise-specific elements (enterprise bit set on the wire).
    pub const fn is_enterprise(&self) -> bool {
        self.pen != 0
    }

    /// Octets of this element's Field Specifier in a template record.
    pub const fn specifier_len(&self) -> usize {
        if self.is_enterprise() { 8 } else { 4 }
    }
}

const fn e(
    id: u16,
    name: &'static str,
    data_type: DataType,
    semantics: Semantics,
    description: &'static str,
) -> Ie {
    Ie {
        id,
        pen: PEN,
        name,
        data_type,
        semantics,
        description,
    }
}

const fn iana(
    id: u16,
    name: &'static str,
    data_type: DataType,
    semantics: Semantics,
    description: &'static str,
) -> Ie {
    Ie {
        id,
        pen: 0,
        name,
        data_type,
        semantics,
        description,
    }
}

use DataType::{
    Ipv4Address, Ipv6Address, MacAddress, OctetArray, String as Str, Unsigned8, Unsigned16,
    Unsigned32, Unsigned64,
};
use Semantics::{Default, Flags, Identifier, Quantity, TotalCounter};

// --- common / clickstream (spec §3, §4) ---------------------------------------
pub const TIME_STAMP: Ie = e(
    1001,
    "TIME_STAMP",
    Unsigned32,
    Default,
    "Unix time, seconds, of the packet that produced the record",
);
pub const LOGIN: Ie = e(
    1002,
    "LOGIN",
    Str,
    Default,
    "subscriber login of the subscriber-side address; empty when unknown",
);
pub const IP_SOURCE: Ie = e(
    1003,
    "IP_SOURCE",
    Ipv4Address,
    Default,
    "source of the packet that carried the data",
);
pub const IP_DESTINATION: Ie = e(
    1004,
    "IP_DESTINATION",
    Ipv4Address,
    Default,
    "destination of the packet that carried the data",
);
pub const IP_SOURCE_V6: Ie = e(
    1103,
    "IP_SOURCE_V6",
    Ipv6Address,
    Default,
    "IPv6 source of the packet that carried the data",
);
pub const IP_DESTINATION_V6: Ie = e(
    1104,
    "IP_DESTINATION_V6",
    Ipv6Address,
    Default,
    "IPv6 destination of the packet that carried the data",
);
pub const HOSTNAME: Ie = e(
    1005,
    "HOSTNAME",
    Str,
    Default,
    "host name: HTTP Host, certificate CNAME or TLS/QUIC SNI (see HOST_TYPE)",
);
pub const PATH: Ie = e(
    1006,
    "PATH",
    Str,
    Default,
    "HTTP request target (path and query)",
);
pub const REFER: Ie = e(1007, "REFER", Str, Default, "HTTP Referer header");
pub const USER_AGENT: Ie = e(1008, "USER_AGENT", Str, Default, "HTTP User-Agent header");
pub const COOKIE: Ie = e(1009, "COOKIE", Str, Default, "HTTP Cookie header");
pub const SESSION_ID: Ie = e(
    2000,
    "SESSION_ID",
    Unsigned64,
    Identifier,
    "transport session (flow) id, the same in both directions and every record of the flow",
);
pub const LOCKED: Ie = e(
    1010,
    "LOCKED",
    Unsigned64,
    Flags,
    "bit mask: 1 blocked by HTTPS, 2 HTTP redirect, 3 blocked by HTTP",
);
pub const HOST_TYPE: Ie = e(
    1011,
    "HOST_TYPE",
    Unsigned8,
    Identifier,
    "1 HTTP, 2 CNAME, 3 SNI, 4 QUIC",
);
pub const METHOD: Ie = e(
    1012,
    "METHOD",
    Unsigned8,
    Identifier,
    "1 GET, 2 POST, 3 PUT, 4 DELETE, 0 other",
);
pub const PORT_SOURCE: Ie = e(1013, "PORT_SOURCE", Unsigned16, Identifier, "source port");
pub const PORT_DESTINATION: Ie = e(
    1014,
    "PORT_DESTINATION",
    Unsigned16,
    Identifier,
    "destination port",
);
pub const BRIDGE_CHANNEL_NUM: Ie = e(
    2016,
    "BRIDGE_CHANNEL_NUM",
    Unsigned16,
    Identifier,
    "vchannel number, else the number of the bridge the packet crossed",
);
pub const CIPHER_SUITES_LEN: Ie = e(
    1024,
    "CipherSuitesLen",
    Unsigned16,
    Quantity,
    "size in octets of the ClientHello cipher_suites list",
);
pub const CIPHER_SUITES: Ie = e(
    1025,
    "CipherSuites",
    OctetArray,
    Default,
    "the ClientHello cipher suites, at most 16 values, 2 octets each",
);
pub const MPLS_LABELS: Ie = e(
    2017,
    "MPLS_LABELS",
    OctetArray,
    Default,
    "MPLS label stack entries, 4 octets each, top of stack first",
);
pub const TCP_SEQUENCE: Ie = e(
    2018,
    "TCP_SEQUENCE",
    Unsigned32,
    Identifier,
    "TCP sequence number of the segment that carried the data",
);
// --- HTTP reply (§5) -----------------------------------------------------------
pub const RESULT_CODE: Ie = e(
    1020,
    "RESULT_CODE",
    Unsigned32,
    Identifier,
    "result/status code",
);
pub const CONTENT_LENGTH: Ie = e(
    1021,
    "CONTENT_LENGTH",
    Unsigned64,
    Quantity,
    "HTTP Content-Length in octets, 0 when absent",
);
pub const CONTENT_TYPE: Ie = e(
    1022,
    "CONTENT_TYPE",
    Str,
    Default,
    "HTTP Content-Type header",
);
pub const LOCATION: Ie = e(1023, "LOCATION", Str, Default, "HTTP Location header");
// --- TLS reply (§6) --------------------------------------------------------------
pub const SSL_VERSION: Ie = e(
    1030,
    "SSL_VERSION",
    Unsigned16,
    Identifier,
    "negotiated TLS version (0x0304 for TLS 1.3)",
);
pub const CIPHER_SUITE: Ie = e(
    1031,
    "CIPHER_SUITE",
    Unsigned16,
    Identifier,
    "cipher suite chosen by the ServerHello",
);
pub const COMPRESSION_METHOD: Ie = e(
    1032,
    "COMPRESSION_METHOD",
    Unsigned8,
    Identifier,
    "compression method chosen by the ServerHello",
);
// --- SIP (§7) ------------------------------------------------------------------
pub const MSG_CODE: Ie = e(
    3000,
    "MSG_CODE",
    Str,
    Default,
    "SIP request method, or the status line's code and reason",
);
pub const STATUS_CODE: Ie = e(
    3001,
    "STATUS_CODE",
    Unsigned16,
    Identifier,
    "SIP status code, 0 for requests",
);
pub const URI: Ie = e(3002, "URI", Str, Default, "SIP request URI");
pub const FROM: Ie = e(3003, "FROM", Str, Default, "SIP From header");
pub const TO: Ie = e(3004, "TO", Str, Default, "SIP To header");
pub const CALLID: Ie = e(3005, "CALLID", Str, Default, "SIP Call-ID header");
pub const UAGENT: Ie = e(3006, "UAGENT", Str, Default, "SIP User-Agent header");
pub const CTYPE: Ie = e(3007, "CTYPE", Str, Default, "SIP Content-Type header");
pub const GATEWAYS: Ie = e(
    3008,
    "GATEWAYS",
    Str,
    Default,
    "SIP Via hosts, comma-separated",
);
// --- FTP -------------------------------------------------------------------------
pub const SERVER_NAME: Ie = e(3050, "SERVER_NAME", Str, Default, "FTP server host name");
pub const USER: Ie = e(3051, "USER", Str, Default, "FTP USER");
pub const PASSWORD: Ie = e(3052, "PASSWORD", Str, Default, "FTP PASS");
pub const MODE: Ie = e(
    3053,
    "MODE",
    Unsigned8,
    Identifier,
    "FTP data connection mode: 0 active, 1 passive",
);
// --- IM / XMPP -------------------------------------------------------------------
pub const IM_LOGIN: Ie = e(3100, "IM_LOGIN", Str, Default, "IM login (SASL PLAIN)");
pub const IM_PASSW: Ie = e(3101, "IM_PASSW", Str, Default, "IM password (SASL PLAIN)");
pub const IM_SCREEN_NAME: Ie = e(
    3102,
    "IM_SCREEN_NAME",
    Str,
    Default,
    "IM screen name (bound resource/JID)",
);
pub const IM_UIN: Ie = e(3103, "IM_UIN", Str, Default, "IM universal internet number");
pub const IM_PROTOCOL: Ie = e(
    3104,
    "IM_PROTOCOL",
    Unsigned8,
    Identifier,
    "0 ICQ, 7 XMPP, 106 Zello",
);
pub const IM_RECEIVERS: Ie = e(
    3105,
    "IM_RECEIVERS",
    Str,
    Default,
    "IM receivers (message stanzas' to)",
);
// --- Mail ------------------------------------------------------------------------
pub const MAIL_SENDER: Ie = e(3150, "MAIL_SENDER", Str, Default, "mail sender");
pub const MAIL_RECEIVER: Ie = e(3151, "MAIL_RECEIVER", Str, Default, "mail receivers");
pub const MAIL_CC: Ie = e(3152, "MAIL_CC", Str, Default, "mail Cc receivers");
pub const MAIL_SUBJECT: Ie = e(3153, "MAIL_SUBJECT", Str, Default, "mail subject");
pub const MAIL_SERVERS: Ie = e(3154, "MAIL_SERVERS", Str, Default, "mail servers");
pub const MAIL_REPLY: Ie = e(3155, "MAIL_REPLY", Str, Default, "mail server replies");
pub const EVENT: Ie = e(3156, "EVENT", Unsigned8, Identifier, "1 send, 2 receive");
pub const ATTACHMENT: Ie = e(
    3157,
    "ATTACHMENT",
    Unsigned8,
    Identifier,
    "1 when the message has an attachment",
);
pub const MAIL_PROTOCOL: Ie = e(
    3158,
    "MAIL_PROTOCOL",
    Unsigned8,
    Identifier,
    "0 SMTP, 1 POP3, 2 IMAP",
);
// --- Raw metadata ----------------------------------------------------------------
pub const FLW_DIR: Ie = e(
    2013,
    "FLW_DIR",
    Unsigned8,
    Identifier,
    "0 subscriber to internet, 1 internet to subscriber",
);
pub const DIR_DATA: Ie = e(
    2014,
    "DIR_DATA",
    Unsigned8,
    Identifier,
    "0 client to server, 1 server to client",
);
pub const VDPI_PROTO: Ie = e(
    2015,
    "VDPI_PROTO",
    Unsigned16,
    Identifier,
    "protocol as the DPI identified it",
);
pub const META_PROTO: Ie = e(
    2900,
    "META_PROTO",
    Unsigned16,
    Identifier,
    "3 SIP, 4 FTP, 5 SMTP, 6 POP3, 7 IMAP, 8 XMPP, 9 ICQ, 10 RSS, 11 NNTP, 12 H323, 13 ZELLO",
);
/// The source's table types RAW_DATA `string` (and `ie_spec.py` follows it):
/// the payload is written as UTF-8, invalid sequences replaced by U+FFFD.
pub const RAW_DATA: Ie = e(2901, "RAW_DATA", Str, Default, "the payload");
// --- DNS (§8) --------------------------------------------------------------------
pub const TRANSPORT: Ie = e(3200, "TRANSPORT", Unsigned8, Identifier, "0 UDP, 1 TCP");
pub const DOMAIN: Ie = e(
    3201,
    "DOMAIN",
    Str,
    Default,
    "owner name of the answer record (the question name when no answer)",
);
pub const RRCLASS: Ie = e(
    3202,
    "RRCLASS",
    Unsigned16,
    Identifier,
    "resource record class",
);
pub const RRTYPE: Ie = e(
    3203,
    "RRTYPE",
    Unsigned16,
    Identifier,
    "resource record type",
);
pub const TTL: Ie = e(
    3204,
    "TTL",
    Unsigned32,
    Quantity,
    "resource record TTL, seconds",
);
pub const RDATA: Ie = e(
    3205,
    "RDATA",
    OctetArray,
    Default,
    "resource record data, names inside written uncompressed",
);
// --- IANA elements (no enterprise number) ----------------------------------------
pub const PROTOCOL_IDENTIFIER: Ie = iana(
    4,
    "protocolIdentifier",
    Unsigned8,
    Identifier,
    "IP protocol number",
);
pub const TCP_CONTROL_BITS: Ie = iana(6, "tcpControlBits", Unsigned16, Flags, "TCP flags");
pub const SOURCE_TRANSPORT_PORT: Ie = iana(
    7,
    "sourceTransportPort",
    Unsigned16,
    Identifier,
    "source port",
);
pub const DESTINATION_TRANSPORT_PORT: Ie = iana(
    11,
    "destinationTransportPort",
    Unsigned16,
    Identifier,
    "destination port",
);
pub const SOURCE_MAC_ADDRESS: Ie = iana(
    56,
    "sourceMacAddress",
    MacAddress,
    Default,
    "source MAC address",
);
/// IANA 57 is `postDestinationMacAddress`; the source uses it as the
/// destination MAC of the packet, and collectors in the field rely on it.
pub const POST_DESTINATION_MAC_ADDRESS: Ie = iana(
    57,
    "postDestinationMacAddress",
    MacAddress,
    Default,
    "destination MAC address of the packet",
);
pub const VLAN_ID: Ie = iana(
    58,
    "vlanId",
    Unsigned16,
    Identifier,
    "outer 802.1Q/802.1ad tag id, 0 when absent",
);
pub const POST_VLAN_ID: Ie = iana(
    59,
    "postVlanId",
    Unsigned16,
    Identifier,
    "inner 802.1Q tag id, 0 when absent",
);

/// Every element of the spec, enterprise elements first in spec order.
pub static ELEMENTS: [Ie; 76] = [
    TIME_STAMP,
    LOGIN,
    IP_SOURCE,
    IP_DESTINATION,
    IP_SOURCE_V6,
    IP_DESTINATION_V6,
    HOSTNAME,
    PATH,
    REFER,
    USER_AGENT,
    COOKIE,
    SESSION_ID,
    LOCKED,
    HOST_TYPE,
    METHOD,
    PORT_SOURCE,
    PORT_DESTINATION,
    BRIDGE_CHANNEL_NUM,
    CIPHER_SUITES_LEN,
    CIPHER_SUITES,
    MPLS_LABELS,
    TCP_SEQUENCE,
    RESULT_CODE,
    CONTENT_LENGTH,
    CONTENT_TYPE,
    LOCATION,
    SSL_VERSION,
    CIPHER_SUITE,
    COMPRESSION_METHOD,
    MSG_CODE,
    STATUS_CODE,
    URI,
    FROM,
    TO,
    CALLID,
    UAGENT,
    CTYPE,
    GATEWAYS,
    SERVER_NAME,
    USER,
    PASSWORD,
    MODE,
    IM_LOGIN,
    IM_PASSW,
    IM_SCREEN_NAME,
    IM_UIN,
    IM_PROTOCOL,
    IM_RECEIVERS,
    MAIL_SENDER,
    MAIL_RECEIVER,
    MAIL_CC,
    MAIL_SUBJECT,
    MAIL_SERVERS,
    MAIL_REPLY,
    EVENT,
    ATTACHMENT,
    MAIL_PROTOCOL,
    FLW_DIR,
    DIR_DATA,
    VDPI_PROTO,
    META_PROTO,
    RAW_DATA,
    TRANSPORT,
    DOMAIN,
    RRCLASS,
    RRTYPE,
    TTL,
    RDATA,
    PROTOCOL_IDENTIFIER,
    TCP_CONTROL_BITS,
    SOURCE_TRANSPORT_PORT,
    DESTINATION_TRANSPORT_PORT,
    SOURCE_MAC_ADDRESS,
    POST_DESTINATION_MAC_ADDRESS,
    VLAN_ID,
    POST_VLAN_ID,
];

/// Iterates over every element of the spec.
pub fn all() -> impl Iterator<Item = &'static Ie> {
    ELEMENTS.iter()
}

/// Looks an element up by (id, enterprise number): the spec's and those of
/// our options templates.
pub fn lookup(id: u16, pen: u32) -> Option<&'static Ie> {
    all()
        .chain(&OPTIONS_ELEMENTS)
        .find(|ie| ie.id == id && ie.pen == pen)
}

/// Every enterprise element we send: the spec's, then those of our options
/// templates (what the RFC 5610 type records and the IPFIXcol2 file describe).
pub fn enterprise() -> impl Iterator<Item = &'static Ie> {
    all().chain(&OPTIONS_ELEMENTS).filter(|e| e.is_enterprise())
}

/// The IPFIXcol2 (libfds) element definition file of our enterprise
/// elements: `docs/ipfixcol2/metaprobe.xml`, kept equal to this table by a
/// test and printed by `metaprobe ipfixcol2-elements`. Copy it into libfds's
/// `user/elements/` directory (e.g. `/etc/libfds/user/elements/`).
pub fn ipfixcol2_elements_xml() -> String {
    use core::fmt::Write as _;
    let mut s = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!-- metaprobe's information elements (enterprise 43823) for IPFIXcol2 / libfds.\n",
        "     Generated from the element table (export/ipfix/src/ie.rs): do not edit;\n",
        "     `metaprobe ipfixcol2-elements` prints it. Install it in libfds's\n",
        "     user/elements/ directory (e.g. /etc/libfds/user/elements/metaprobe.xml). -->\n",
        "<ipfix-elements>\n",
    ));
    let _ = write!(
        s,
        "    <scope>\n        <pen>{PEN}</pen>\n        <name>metaprobe</name>\n        <biflow mode=\"none\"/>\n    </scope>\n"
    );
    let mut ours: Vec<&Ie> = enterprise().collect();
    ours.sort_by_key(|e| e.id);
    for e in ours {
        s.push('\n');
        if !e.description.is_empty() {
            // A comment may not hold "--".
            let _ = writeln!(s, "    <!-- {} -->", e.description.replace("--", "- -"));
        }
        let _ = write!(
            s,
            "    <element>\n        <id>{}</id>\n        <name>{}</name>\n        <dataType>{}</dataType>\n        <dataSemantics>{}</dataSemantics>\n        <status>current</status>\n    </element>\n",
            e.id,
            e.name,
            e.data_type.rfc_name(),
            e.semantics.rfc_name()
        );
    }
    s.push_str("</ipfix-elements>\n");
    s
}

// --- elements of the options templates (RFC 5610, RFC 7011 §4.3, counters) -----
/// informationElementId (303).
pub const INFORMATION_ELEMENT_ID: Ie =
    iana(303, "informationElementId", Unsigned16, Identifier, "");
/// informationElementDataType (339).
pub const INFORMATION_ELEMENT_DATA_TYPE: Ie =
    iana(339, "informationElementDataType", Unsigned8, Identifier, "");
/// informationElementDescription (340).
pub const INFORMATION_ELEMENT_DESCRIPTION: Ie =
    iana(340, "informationElementDescription", Str, Default, "");
/// informationElementName (341).
pub const INFORMATION_ELEMENT_NAME: Ie = iana(341, "informationElementName", Str, Default, "");
/// informationElementSemantics (344).
pub const INFORMATION_ELEMENT_SEMANTICS: Ie = iana(
    344,
    "informationElementSemantics",
    Unsigned8,
    Identifier,
    "",
);
/// informationElementUnits (345): none (0) for every element of ours.
pub const INFORMATION_ELEMENT_UNITS: Ie =
    iana(345, "informationElementUnits", Unsigned16, Identifier, "");
/// informationElementRangeBegin (342): 0 with RangeEnd 0, no range.
pub const INFORMATION_ELEMENT_RANGE_BEGIN: Ie = iana(
    342,
    "informationElementRangeBegin",
    Unsigned64,
    Quantity,
    "",
);
/// informationElementRangeEnd (343).
pub const INFORMATION_ELEMENT_RANGE_END: Ie =
    iana(343, "informationElementRangeEnd", Unsigned64, Quantity, "");
/// privateEnterpriseNumber (346).
pub const PRIVATE_ENTERPRISE_NUMBER: Ie =
    iana(346, "privateEnterpriseNumber", Unsigned32, Identifier, "");
/// exportingProcessId (144).
pub const EXPORTING_PROCESS_ID: Ie = iana(144, "exportingProcessId", Unsigned32, Identifier, "");
/// notSentFlowTotalCount (166): records dropped.
pub const NOT_SENT_FLOW_TOTAL_COUNT: Ie =
    iana(166, "notSentFlowTotalCount", Unsigned64, Quantity, "");
/// notSentPacketTotalCount (167).
pub const NOT_SENT_PACKET_TOTAL_COUNT: Ie =
    iana(167, "notSentPacketTotalCount", Unsigned64, Quantity, "");
/// notSentOctetTotalCount (168).
pub const NOT_SENT_OCTET_TOTAL_COUNT: Ie =
    iana(168, "notSentOctetTotalCount", Unsigned64, Quantity, "");
/// observationTimeSeconds (322): time first / last record dropped.
pub const OBSERVATION_TIME_SECONDS: Ie =
    iana(322, "observationTimeSeconds", Unsigned32, Default, "");

/// meteringProcessId (143): scope of the counter records; metaprobe's analysis
/// is one Metering Process, numbered as its exporting process (a new number
/// at each start, so a collector sees where the totals restart).
pub const METERING_PROCESS_ID: Ie = iana(143, "meteringProcessId", Unsigned32, Identifier, "");
/// No IANA element names a probe's own counter: these three carry one
/// counter of the final summary per record ([`crate::template::COUNTER_TEMPLATE`]).
pub const COUNTER_FAMILY: Ie = e(
    4000,
    "COUNTER_FAMILY",
    Str,
    Default,
    "family of a probe counter, as the final summary names its line (analysis, flows, decode-stops, ...)",
);
pub const COUNTER_NAME: Ie = e(
    4001,
    "COUNTER_NAME",
    Str,
    Default,
    "name of a probe counter within its family, as the final summary prints it (tls-malformed, ...)",
);
pub const COUNTER_VALUE: Ie = e(
    4002,
    "COUNTER_VALUE",
    Unsigned64,
    TotalCounter,
    "value of a probe counter since the probe started",
);

/// The elements of our options templates, for the decoder.
pub static OPTIONS_ELEMENTS: [Ie; 18] = [
    INFORMATION_ELEMENT_ID,
    INFORMATION_ELEMENT_DATA_TYPE,
    INFORMATION_ELEMENT_DESCRIPTION,
    INFORMATION_ELEMENT_NAME,
    INFORMATION_ELEMENT_SEMANTICS,
    INFORMATION_ELEMENT_UNITS,
    INFORMATION_ELEMENT_RANGE_BEGIN,
    INFORMATION_ELEMENT_RANGE_END,
    PRIVATE_ENTERPRISE_NUMBER,
    EXPORTING_PROCESS_ID,
    NOT_SENT_FLOW_TOTAL_COUNT,
    NOT_SENT_PACKET_TOTAL_COUNT,
    NOT_SENT_OCTET_TOTAL_COUNT,
    OBSERVATION_TIME_SECONDS,
    METERING_PROCESS_ID,
    COUNTER_FAMILY,
    COUNTER_NAME,
    COUNTER_VALUE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn table_has_no_duplicates_and_every_spec_id() {
        let keys: HashSet<(u16, u32)> = all().map(|ie| (ie.id, ie.pen)).collect();
        assert_eq!(keys.len(), all().count());
        let names: HashSet<&str> = all().map(|ie| ie.name).collect();
        assert_eq!(names.len(), all().count());
        for id in [4u16, 6, 7, 11, 56, 57, 58, 59] {
            assert!(lookup(id, 0).is_some(), "IANA {id}");
        }
        // Spec §2: every id >= 1000 is enterprise 43823, the others IANA.
        for ie in all() {
            assert_eq!(ie.id >= 1000, ie.pen == PEN, "{}", ie.name);
        }
        assert_eq!(all().count(), 76);
        // The options templates' elements are none of the spec's.
        let with_options: HashSet<(u16, u32)> = all()
            .chain(&OPTIONS_ELEMENTS)
            .map(|ie| (ie.id, ie.pen))
            .collect();
        assert_eq!(with_options.len(), 76 + OPTIONS_ELEMENTS.len());
        assert_eq!(lookup(4001, PEN), Some(&COUNTER_NAME));
    }

    /// The committed IPFIXcol2 element file is the table's: regenerate it
    /// with `metaprobe ipfixcol2-elements > docs/ipfixcol2/metaprobe.xml`.
    #[test]
    fn the_ipfixcol2_element_file_is_the_table() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/ipfixcol2/metaprobe.xml"
        );
        let committed = std::fs::read_to_string(path).unwrap();
        let xml = ipfixcol2_elements_xml();
        assert!(
            committed == xml,
            "{path} differs from the element table: regenerate it with `metaprobe ipfixcol2-elements > docs/ipfixcol2/metaprobe.xml`"
        );
        // Every enterprise element once, with libfds's names for its type.
        for e in enterprise() {
            let one = format!(
                "<id>{}</id>\n        <name>{}</name>\n        <dataType>{}</dataType>",
                e.id,
                e.name,
                e.data_type.rfc_name()
            );
            assert_eq!(xml.matches(&one).count(), 1, "{}", e.name);
        }
        assert_eq!(xml.matches("<element>").count(), enterprise().count());
        assert!(xml.contains("<name>COUNTER_VALUE</name>\n        <dataType>unsigned64</dataType>\n        <dataSemantics>totalCounter</dataSemantics>"));
        assert!(xml.contains("<pen>43823</pen>"));
        assert_eq!(xml.matches("<!--").count(), xml.matches("-->").count());
    }

    #[test]
    fn template_lengths_follow_the_types() {
        assert_eq!(LOGIN.template_len(), 65535);
        assert_eq!(IP_SOURCE_V6.template_len(), 16);
        assert_eq!(SOURCE_MAC_ADDRESS.template_len(), 6);
        assert_eq!(SESSION_ID.template_len(), 8);
        assert_eq!(TCP_SEQUENCE.pen, PEN);
        assert_eq!(RAW_DATA.data_type, DataType::String);
    }
}
