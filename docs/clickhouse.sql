-- ClickHouse tables for metaprobe's records: one per record kind, for the rows of
-- `metaprobe collect --format clickhouse --out-dir DIR` (DIR/<table>.ndjson, JSONEachRow).
-- Generated from the element table (export/ipfix/src/collect/clickhouse.rs): do not
-- edit; `metaprobe clickhouse-schema` prints it. Load, with clickhouse-client:
--   clickhouse-client --multiquery < docs/clickhouse.sql
--   for f in DIR/*.ndjson; do
--     clickhouse-client --query "INSERT INTO metaprobe.$(basename "$f" .ndjson) FORMAT JSONEachRow" < "$f"
--   done
-- or with clickhouse-local / chdb:
--   INSERT INTO metaprobe.dns SELECT * FROM file('DIR/dns.ndjson', 'JSONEachRow');
-- A row carries the columns of its record; the others (the other address family's)
-- take their defaults. Add a TTL to keep what the law asks, e.g.
--   ALTER TABLE metaprobe.clickstream MODIFY TTL TIME_STAMP + INTERVAL 180 DAY;

CREATE DATABASE IF NOT EXISTS metaprobe;

-- clickstream requests: HTTP requests, TLS/QUIC server names (spec §4)
CREATE TABLE IF NOT EXISTS metaprobe.clickstream
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `HOSTNAME` String COMMENT 'host name: HTTP Host, certificate CNAME or TLS/QUIC SNI (see HOST_TYPE)',
    `PATH` String COMMENT 'HTTP request target (path and query)',
    `REFER` String COMMENT 'HTTP Referer header',
    `USER_AGENT` String COMMENT 'HTTP User-Agent header',
    `COOKIE` String COMMENT 'HTTP Cookie header',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `LOCKED` UInt64 COMMENT 'bit mask: 1 blocked by HTTPS, 2 HTTP redirect, 3 blocked by HTTP',
    `HOST_TYPE` UInt8 COMMENT '1 HTTP, 2 CNAME, 3 SNI, 4 QUIC',
    `METHOD` UInt8 COMMENT '1 GET, 2 POST, 3 PUT, 4 DELETE, 0 other',
    `PORT_SOURCE` UInt16 COMMENT 'source port',
    `PORT_DESTINATION` UInt16 COMMENT 'destination port',
    `BRIDGE_CHANNEL_NUM` UInt16 COMMENT 'vchannel number, else the number of the bridge the packet crossed',
    `CipherSuitesLen` UInt16 COMMENT 'size in octets of the ClientHello cipher_suites list',
    `CipherSuites` LowCardinality(String) COMMENT 'the ClientHello cipher suites, at most 16 values, 2 octets each',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    `TCP_SEQUENCE` UInt32 COMMENT 'TCP sequence number of the segment that carried the data',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4,
    PROJECTION by_host (SELECT * ORDER BY (HOSTNAME, TIME_STAMP))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- HTTP replies (spec §5, http_parse_reply = 1)
CREATE TABLE IF NOT EXISTS metaprobe.http_reply
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `RESULT_CODE` UInt32 COMMENT 'result/status code',
    `CONTENT_LENGTH` UInt64 COMMENT 'HTTP Content-Length in octets, 0 when absent',
    `CONTENT_TYPE` LowCardinality(String) COMMENT 'HTTP Content-Type header',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `LOCATION` String COMMENT 'HTTP Location header',
    `BRIDGE_CHANNEL_NUM` UInt16 COMMENT 'vchannel number, else the number of the bridge the packet crossed',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- TLS replies: version, cipher suite, certificate name (spec §6)
CREATE TABLE IF NOT EXISTS metaprobe.tls_reply
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `SSL_VERSION` UInt16 COMMENT 'negotiated TLS version (0x0304 for TLS 1.3)',
    `CIPHER_SUITE` UInt16 COMMENT 'cipher suite chosen by the ServerHello',
    `COMPRESSION_METHOD` UInt8 COMMENT 'compression method chosen by the ServerHello',
    `BRIDGE_CHANNEL_NUM` UInt16 COMMENT 'vchannel number, else the number of the bridge the packet crossed',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    `HOST_TYPE` UInt8 COMMENT '1 HTTP, 2 CNAME, 3 SNI, 4 QUIC',
    `HOSTNAME` String COMMENT 'host name: HTTP Host, certificate CNAME or TLS/QUIC SNI (see HOST_TYPE)',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4,
    PROJECTION by_host (SELECT * ORDER BY (HOSTNAME, TIME_STAMP))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- SIP messages (spec §7)
CREATE TABLE IF NOT EXISTS metaprobe.sip
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `MSG_CODE` LowCardinality(String) COMMENT 'SIP request method, or the status line\'s code and reason',
    `STATUS_CODE` UInt16 COMMENT 'SIP status code, 0 for requests',
    `URI` String COMMENT 'SIP request URI',
    `FROM` String COMMENT 'SIP From header',
    `TO` String COMMENT 'SIP To header',
    `CALLID` String COMMENT 'SIP Call-ID header',
    `UAGENT` LowCardinality(String) COMMENT 'SIP User-Agent header',
    `CTYPE` LowCardinality(String) COMMENT 'SIP Content-Type header',
    `GATEWAYS` String COMMENT 'SIP Via hosts, comma-separated',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- FTP logins and data-connection modes (spec §7)
CREATE TABLE IF NOT EXISTS metaprobe.ftp
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `SERVER_NAME` LowCardinality(String) COMMENT 'FTP server host name',
    `USER` String COMMENT 'FTP USER',
    `PASSWORD` String COMMENT 'FTP PASS',
    `MODE` UInt8 COMMENT 'FTP data connection mode: 0 active, 1 passive',
    `RESULT_CODE` UInt32 COMMENT 'result/status code',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- instant messenger metadata (spec §7)
CREATE TABLE IF NOT EXISTS metaprobe.im
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `IM_LOGIN` String COMMENT 'IM login (SASL PLAIN)',
    `IM_PASSW` String COMMENT 'IM password (SASL PLAIN)',
    `IM_SCREEN_NAME` String COMMENT 'IM screen name (bound resource/JID)',
    `IM_UIN` String COMMENT 'IM universal internet number',
    `IM_PROTOCOL` UInt8 COMMENT '0 ICQ, 7 XMPP, 106 Zello',
    `IM_RECEIVERS` String COMMENT 'IM receivers (message stanzas\' to)',
    `RESULT_CODE` UInt32 COMMENT 'result/status code',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- mail messages: SMTP, POP3, IMAP (spec §7)
CREATE TABLE IF NOT EXISTS metaprobe.mail
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `MAIL_SENDER` String COMMENT 'mail sender',
    `MAIL_RECEIVER` String COMMENT 'mail receivers',
    `MAIL_CC` String COMMENT 'mail Cc receivers',
    `MAIL_SUBJECT` String COMMENT 'mail subject',
    `MAIL_SERVERS` String COMMENT 'mail servers',
    `MAIL_REPLY` String COMMENT 'mail server replies',
    `EVENT` UInt8 COMMENT '1 send, 2 receive',
    `ATTACHMENT` UInt8 COMMENT '1 when the message has an attachment',
    `MAIL_PROTOCOL` UInt8 COMMENT '0 SMTP, 1 POP3, 2 IMAP',
    `RESULT_CODE` UInt32 COMMENT 'result/status code',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- raw metadata (spec §7)
CREATE TABLE IF NOT EXISTS metaprobe.raw_meta
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `FLW_DIR` UInt8 COMMENT '0 subscriber to internet, 1 internet to subscriber',
    `DIR_DATA` UInt8 COMMENT '0 client to server, 1 server to client',
    `VDPI_PROTO` UInt16 COMMENT 'protocol as the DPI identified it',
    `META_PROTO` UInt16 COMMENT '3 SIP, 4 FTP, 5 SMTP, 6 POP3, 7 IMAP, 8 XMPP, 9 ICQ, 10 RSS, 11 NNTP, 12 H323, 13 ZELLO',
    `RAW_DATA` String COMMENT 'the payload',
    `protocolIdentifier` UInt8 COMMENT 'IP protocol number',
    `sourceTransportPort` UInt16 COMMENT 'source port',
    `destinationTransportPort` UInt16 COMMENT 'destination port',
    `tcpControlBits` UInt16 COMMENT 'TCP flags',
    `TCP_SEQUENCE` UInt32 COMMENT 'TCP sequence number of the segment that carried the data',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- DNS answers, one row per answer RR (spec §8)
CREATE TABLE IF NOT EXISTS metaprobe.dns
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `TIME_STAMP` DateTime('UTC') COMMENT 'Unix time, seconds, of the packet that produced the record',
    `LOGIN` String COMMENT 'subscriber login of the subscriber-side address; empty when unknown',
    `IP_SOURCE` IPv4 COMMENT 'source of the packet that carried the data',
    `IP_DESTINATION` IPv4 COMMENT 'destination of the packet that carried the data',
    `IP_SOURCE_V6` IPv6 COMMENT 'IPv6 source of the packet that carried the data',
    `IP_DESTINATION_V6` IPv6 COMMENT 'IPv6 destination of the packet that carried the data',
    `PORT_SOURCE` UInt16 COMMENT 'source port',
    `PORT_DESTINATION` UInt16 COMMENT 'destination port',
    `SESSION_ID` UInt64 COMMENT 'transport session (flow) id, the same in both directions and every record of the flow',
    `TRANSPORT` UInt8 COMMENT '0 UDP, 1 TCP',
    `DOMAIN` String COMMENT 'owner name of the answer record (the question name when no answer)',
    `RRCLASS` UInt16 COMMENT 'resource record class',
    `RRTYPE` UInt16 COMMENT 'resource record type',
    `TTL` UInt32 COMMENT 'resource record TTL, seconds',
    `RDATA` String COMMENT 'resource record data, names inside written uncompressed',
    `vlanId` UInt16 COMMENT 'outer 802.1Q/802.1ad tag id, 0 when absent',
    `postVlanId` UInt16 COMMENT 'inner 802.1Q tag id, 0 when absent',
    `sourceMacAddress` LowCardinality(String) COMMENT 'source MAC address',
    `postDestinationMacAddress` LowCardinality(String) COMMENT 'destination MAC address of the packet',
    `MPLS_LABELS` LowCardinality(String) COMMENT 'MPLS label stack entries, 4 octets each, top of stack first',
    `BRIDGE_CHANNEL_NUM` UInt16 COMMENT 'vchannel number, else the number of the bridge the packet crossed',
    IP_SRC IPv6 ALIAS if(IP_SOURCE_V6 = toIPv6('::'), CAST(IP_SOURCE AS IPv6), IP_SOURCE_V6) COMMENT 'IP_SOURCE or IP_SOURCE_V6; IPv4 as ::ffff:a.b.c.d',
    IP_DST IPv6 ALIAS if(IP_DESTINATION_V6 = toIPv6('::'), CAST(IP_DESTINATION AS IPv6), IP_DESTINATION_V6) COMMENT 'IP_DESTINATION or IP_DESTINATION_V6; IPv4 as ::ffff:a.b.c.d',
    INDEX session_id SESSION_ID TYPE bloom_filter GRANULARITY 4,
    PROJECTION by_host (SELECT * ORDER BY (DOMAIN, TIME_STAMP))
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(TIME_STAMP)
ORDER BY (LOGIN, TIME_STAMP);

-- RFC 7011 §4.3 reliability statistics: records the exporter could not send
CREATE TABLE IF NOT EXISTS metaprobe.reliability
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `exportingProcessId` UInt32,
    `notSentFlowTotalCount` UInt64,
    `notSentPacketTotalCount` UInt64,
    `notSentOctetTotalCount` UInt64,
    `observationTimeSeconds` DateTime('UTC'),
    `observationTimeSeconds#2` DateTime('UTC')
)
ENGINE = MergeTree
ORDER BY (exportingProcessId, export_time);

-- the probe's counters (final summary names), a row per counter and report
CREATE TABLE IF NOT EXISTS metaprobe.counter
(
    kind LowCardinality(String) COMMENT 'record kind: the table name, with _v6 for the IPv6 template',
    template_id UInt16 COMMENT 'IPFIX template id',
    export_time DateTime('UTC') COMMENT 'export time of the IPFIX message',
    `meteringProcessId` UInt32,
    `COUNTER_FAMILY` String COMMENT 'family of a probe counter, as the final summary names its line (analysis, flows, decode-stops, ...)',
    `COUNTER_NAME` String COMMENT 'name of a probe counter within its family, as the final summary prints it (tls-malformed, ...)',
    `COUNTER_VALUE` UInt64 COMMENT 'value of a probe counter since the probe started'
)
ENGINE = MergeTree
ORDER BY (COUNTER_FAMILY, COUNTER_NAME, export_time);

-- Spec §10: clickstream, HTTP reply and TLS reply records joined by SESSION_ID.
-- SELECT
--     c.SESSION_ID AS SESSION_ID,
--     c.TIME_STAMP AS TIME_STAMP,
--     c.LOGIN AS LOGIN,
--     c.HOST_TYPE AS HOST_TYPE,
--     c.HOSTNAME AS HOSTNAME,
--     c.PATH AS PATH,
--     h.RESULT_CODE AS RESULT_CODE,
--     h.CONTENT_TYPE AS CONTENT_TYPE,
--     h.LOCATION AS LOCATION,
--     t.SSL_VERSION AS SSL_VERSION,
--     t.CIPHER_SUITE AS CIPHER_SUITE,
--     t.HOSTNAME AS CERT_NAME
-- FROM metaprobe.clickstream AS c
-- LEFT JOIN metaprobe.http_reply AS h ON h.SESSION_ID = c.SESSION_ID
-- LEFT JOIN metaprobe.tls_reply AS t ON t.SESSION_ID = c.SESSION_ID
-- ORDER BY SESSION_ID, TIME_STAMP, PATH, RESULT_CODE, LOCATION
