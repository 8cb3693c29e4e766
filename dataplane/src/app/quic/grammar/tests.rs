//! Unit tests of the QUIC Initial grammar, with real bytes.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Expands the derivation RFC 9001 §A.1 and RFC 9369 §A.1 print, and
/// checks the packet protection keys against them.
fn raw_keys(version: u32, side: Side, dcid: &[u8]) -> ([u8; 16], [u8; 12], [u8; 16]) {
    let (salt, kl, il, hl): (&[u8], &[u8], &[u8], &[u8]) = if version == VERSION_1 {
        (&SALT_V1, b"quic key", b"quic iv", b"quic hp")
    } else {
        (&SALT_V2, b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
    };
    let (_, initial) = Hkdf::<Sha256>::extract(Some(salt), dcid);
    let mut secret = [0u8; 32];
    let label: &[u8] = if side == Side::Client {
        b"client in"
    } else {
        b"server in"
    };
    expand_label(&initial, label, &mut secret).unwrap();
    let s = Hkdf::<Sha256>::from_prk(&secret).unwrap();
    let (mut k, mut iv, mut hp) = ([0; 16], [0; 12], [0; 16]);
    expand_label(&s, kl, &mut k).unwrap();
    expand_label(&s, il, &mut iv).unwrap();
    expand_label(&s, hl, &mut hp).unwrap();
    (k, iv, hp)
}

#[test]
fn rfc9001_a1_client_keys() {
    let (k, iv, hp) = raw_keys(VERSION_1, Side::Client, &hex("8394c8f03e515708"));
    assert_eq!(k.to_vec(), hex("1f369613dd76d5467730efcbe3b1a22d"));
    assert_eq!(iv.to_vec(), hex("fa044b2f42a3fd3b46fb255c"));
    assert_eq!(hp.to_vec(), hex("9f50449e04a0e810283a1e9933adedd2"));
    let (k, iv, hp) = raw_keys(VERSION_1, Side::Server, &hex("8394c8f03e515708"));
    assert_eq!(k.to_vec(), hex("cf3a5331653c364c88f0f379b6067e37"));
    assert_eq!(iv.to_vec(), hex("0ac1493ca1905853b0bba03e"));
    assert_eq!(hp.to_vec(), hex("c206b8d9b9f0f37644430b490eeaa314"));
}

#[test]
fn rfc9369_a1_client_keys() {
    let (k, iv, hp) = raw_keys(VERSION_2, Side::Client, &hex("8394c8f03e515708"));
    assert_eq!(k.to_vec(), hex("8b1a0bc121284290a29e0971b5cd045d"));
    assert_eq!(iv.to_vec(), hex("91f73e2351d8fa91660e909f"));
    assert_eq!(hp.to_vec(), hex("45b95e15235d6f45a6b19cbcb0294ba9"));
}

#[test]
fn packet_numbers() {
    // RFC 9000 §A.3 example.
    assert_eq!(
        decode_packet_number(Some(0xa82f30ea), 0x9b32, 16),
        0xa82f9b32
    );
    assert_eq!(decode_packet_number(None, 0, 8), 0);
    assert_eq!(decode_packet_number(Some(1), 2, 8), 2);
}

#[test]
fn garbage_is_not_initial() {
    let mut s = QuicInitialState::new();
    assert_eq!(s.on_client_datagram(&[]), Outcome::NotThis);
    assert_eq!(s.on_client_datagram(&[0x40, 1, 2, 3]), Outcome::NotThis);
    assert_eq!(
        s.on_client_datagram(&[0xc0, 0, 0, 0, 1, 21]),
        Outcome::Malformed(QuicError::CidLength)
    );
    assert_eq!(
        s.on_client_datagram(&[0xc0, 0, 0, 0, 1, 8, 1, 2]),
        Outcome::Malformed(QuicError::Header)
    );
    assert_eq!(s.connections(), 0);
}

#[test]
fn crypto_coverage_in_any_order() {
    let mut s = QuicInitialState::new();
    assert_eq!(s.crypto.store(100, &[1; 50]), 0);
    assert_eq!(s.try_hello(), Outcome::Incomplete);
    assert_eq!(s.crypto.contiguous, 0);
    s.crypto.store(0, &[1; 63]);
    s.crypto.store(63, &[1; 37]);
    assert!(s.crypto.advance());
    assert_eq!(s.crypto.contiguous, 150);
    assert!(!s.crypto.advance());
    assert_eq!(s.crypto.store(CRYPTO_CAP as u64 - 10, &[1; 20]), 10);
    assert_eq!(s.crypto.store(u64::MAX - 5, &[1; 3]), 3);
}

// ---- the server side, on the corpus captures' server Initials ----------

/// UDP payloads of a fixture capture, split by side: (client, server); the
/// server is the side with port 443.
fn capture(name: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    use pcap_file::DataLink;
    use pcap_file::pcap::PcapReader;
    use pcap_file::pcapng::{Block, PcapNgReader};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let file = std::fs::File::open(&path).unwrap();
    let mut frames: Vec<(DataLink, Vec<u8>)> = Vec::new();
    if name.ends_with(".pcapng") {
        let mut r = PcapNgReader::new(file).unwrap();
        let mut links = Vec::new();
        while let Some(block) = r.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(idb) => links.push(idb.linktype),
                Block::EnhancedPacket(epb) => {
                    frames.push((links[epb.interface_id as usize], epb.data.into_owned()))
                }
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(file).unwrap();
        let link = r.header().datalink;
        while let Some(p) = r.next_packet() {
            frames.push((link, p.unwrap().data.into_owned()));
        }
    }
    let (mut client, mut server) = (Vec::new(), Vec::new());
    for (link, data) in frames {
        let p = if link == DataLink::ETHERNET {
            crate::wire::decode(&data)
        } else {
            crate::wire::decode_ip(&data)
        };
        if p.udp().is_none() {
            continue;
        }
        let payload = p.payload(&data).to_vec();
        match p.ports() {
            Some((443, _)) => server.push(payload),
            Some(_) => client.push(payload),
            None => {}
        }
    }
    (client, server)
}

/// The state after the client's ClientHello of `client`.
fn after_client_hello(client: &[Vec<u8>]) -> QuicInitialState {
    let mut s = QuicInitialState::new();
    let done = client
        .iter()
        .filter(|d| matches!(s.on_client_datagram(d), Outcome::Done(_)))
        .count();
    assert_eq!(done, 1);
    s
}

fn hello_1_3(suite: u16) -> ServerHello {
    ServerHello {
        legacy_version: 0x0303,
        version: 0x0304,
        cipher_suite: suite,
        compression_method: 0,
        hello_retry_request: false,
    }
}

#[test]
fn server_hello_in_a_coalesced_server_initial() {
    // Chrome, ClientHello over two Initials; the server's first datagram is an
    // Initial with ACK only, its second Initial (ACK, CRYPTO) + Handshake.
    let (client, server) = capture("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let mut s = after_client_hello(&client);
    assert_eq!(s.on_server_datagram(&server[0]), Outcome::Incomplete);
    assert!(!s.server_finished());
    assert_eq!(
        s.on_server_datagram(&server[1]),
        Outcome::Done(hello_1_3(0x1302))
    );
    assert!(s.server_finished());
    assert_eq!(s.server_cid(), hex("e4fee65805a1f90581ba5f52c8be595c50"));
    // Retransmissions are not decrypted again; Handshake-only datagrams are no Initial.
    assert_eq!(s.on_server_datagram(&server[1]), Outcome::NotThis);
    for d in &server[2..] {
        assert_eq!(s.on_server_datagram(d), Outcome::NotThis);
    }
    assert_eq!(s.connections(), 1);
    assert_eq!(s.dropped_octets(), 0);
    // The client's later Initials carry the server's connection id: known.
    assert_eq!(s.on_client_datagram(&client[0]), Outcome::NotThis);
}

#[test]
fn server_hello_after_two_ack_only_server_initials() {
    let (client, server) = capture("quic_v1_firefox_ch_2initials_mlkem.pcap");
    let mut s = after_client_hello(&client);
    assert_eq!(s.on_server_datagram(&server[0]), Outcome::Incomplete);
    assert_eq!(s.on_server_datagram(&server[1]), Outcome::Incomplete);
    assert_eq!(
        s.on_server_datagram(&server[2]),
        Outcome::Done(hello_1_3(0x1301))
    );
    assert_eq!(s.server_cid(), hex("e942fad183b691ec"));

    let (client, server) = capture("quic_v1_chrome_meet_1initial.pcapng");
    let mut s = after_client_hello(&client);
    assert_eq!(
        s.on_server_datagram(&server[0]),
        Outcome::Done(hello_1_3(0x1301))
    );
}

#[test]
fn server_initials_of_no_or_another_connection() {
    let (chrome_c, chrome_s) = capture("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let (_, firefox_s) = capture("quic_v1_firefox_ch_2initials_mlkem.pcap");
    // No client Initial yet: no keys.
    let mut s = QuicInitialState::new();
    assert_eq!(
        s.on_server_datagram(&chrome_s[1]),
        Outcome::Malformed(QuicError::NoConnection)
    );
    // Keys of another connection: not decrypted, the state is unchanged.
    let mut s = after_client_hello(&chrome_c);
    assert_eq!(
        s.on_server_datagram(&firefox_s[2]),
        Outcome::Malformed(QuicError::Decrypt)
    );
    assert_eq!(s.server_cid(), []);
    assert!(matches!(
        s.on_server_datagram(&chrome_s[1]),
        Outcome::Done(_)
    ));
    // A new connection on the 5-tuple forgets the server side.
    s.reset();
    assert_eq!(
        s.on_server_datagram(&chrome_s[1]),
        Outcome::Malformed(QuicError::NoConnection)
    );
    let mut s = after_client_hello(&chrome_c);
    assert!(matches!(
        s.on_server_datagram(&chrome_s[1]),
        Outcome::Done(_)
    ));
}

#[test]
fn server_crypto_before_the_client_hello_is_dropped() {
    let (client, server) = capture("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let mut s = QuicInitialState::new();
    assert_eq!(s.on_client_datagram(&client[1]), Outcome::Incomplete);
    // The buffer is the client's: the server's 90 CRYPTO octets are dropped.
    assert_eq!(s.on_server_datagram(&server[1]), Outcome::Incomplete);
    assert_eq!(s.dropped_octets(), 90);
    assert!(matches!(s.on_client_datagram(&client[0]), Outcome::Done(_)));
    // The server's retransmission completes it.
    assert_eq!(
        s.on_server_datagram(&server[1]),
        Outcome::Done(hello_1_3(0x1302))
    );
}

/// Seals a server Initial of `version` for the connection whose client's
/// first DCID is `odcid` (2-octet packet number).
fn seal_server(version: u32, odcid: &[u8], scid: &[u8], pn: u16, frames: &[u8]) -> Vec<u8> {
    let keys = InitialKeys::derive(version, Side::Server, odcid).unwrap();
    let ty: u8 = if version == VERSION_1 { 0 } else { 1 };
    let mut p = vec![0xc1 | (ty << 4)];
    p.extend(version.to_be_bytes());
    p.push(4);
    p.extend([9, 9, 9, 9]); // DCID: the client's SCID
    p.push(u8::try_from(scid.len()).unwrap());
    p.extend(scid);
    p.push(0); // token
    let mut payload = frames.to_vec();
    payload.resize(payload.len().max(32), 0);
    let len = 2 + payload.len() + TAG_LEN;
    p.extend((0x4000 | u16::try_from(len).unwrap()).to_be_bytes());
    let pn_offset = p.len();
    p.extend(pn.to_be_bytes());
    let mut nonce = keys.iv;
    for (n, b) in nonce.iter_mut().skip(4).zip(u64::from(pn).to_be_bytes()) {
        *n ^= b;
    }
    let tag = keys
        .aead
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &p, &mut payload)
        .unwrap();
    p.extend(payload);
    p.extend(tag);
    let mut mask = GenericArray::clone_from_slice(&p[pn_offset + 4..pn_offset + 20]);
    keys.hp.encrypt_block(&mut mask);
    p[0] ^= mask[0] & 0x0f;
    p[pn_offset] ^= mask[1];
    p[pn_offset + 1] ^= mask[2];
    p
}

fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06, 0x40 | (offset >> 8) as u8, offset as u8];
    f.extend([0x40 | (data.len() >> 8) as u8, data.len() as u8]);
    f.extend(data);
    f
}

/// A TLS 1.3 ServerHello with an X25519MLKEM768 key share (1120 octets).
fn mlkem_server_hello() -> Vec<u8> {
    let mut ext = vec![0x00, 0x33, 0x04, 0x64, 0x11, 0xec, 0x04, 0x60];
    ext.extend((0..1120).map(|i| i as u8));
    ext.extend([0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]);
    let mut body = vec![0x03, 0x03];
    body.extend([0x5a; 32]);
    body.extend([0x00, 0x13, 0x02, 0x00]);
    body.extend(u16::try_from(ext.len()).unwrap().to_be_bytes());
    body.extend(ext);
    let mut m = vec![0x02, 0x00];
    m.extend(u16::try_from(body.len()).unwrap().to_be_bytes());
    m.extend(body);
    m
}

#[test]
fn post_quantum_server_hello_over_two_server_initials_out_of_order() {
    let (client, _) = capture("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let odcid = hex("2c8bb3cb5c59afd7");
    let sh = mlkem_server_hello();
    assert_eq!(sh.len(), 1178);
    // Version 1; then a server that answers the v1 ClientHello in v2
    // (compatible version negotiation): keys of the server's version.
    for version in [VERSION_1, VERSION_2] {
        let mut s = after_client_hello(&client);
        let scid = [0xab; 8];
        let second = seal_server(version, &odcid, &scid, 1, &crypto_frame(600, &sh[600..]));
        let ack = [0x02, 0x01, 0x00, 0x00, 0x01];
        let first = seal_server(
            version,
            &odcid,
            &scid,
            0,
            &[&ack[..], &crypto_frame(0, &sh[..600])].concat(),
        );
        assert_eq!(s.on_server_datagram(&second), Outcome::Incomplete);
        assert_eq!(
            s.on_server_datagram(&first),
            Outcome::Done(hello_1_3(0x1302))
        );
        assert_eq!(s.server_cid(), scid);
        assert_eq!(s.on_server_datagram(&first), Outcome::NotThis);
    }
    // A server stream that is not a ServerHello: given up once, then seen.
    let mut s = after_client_hello(&client);
    let bad = seal_server(
        VERSION_1,
        &odcid,
        &[1],
        0,
        &crypto_frame(0, &[8, 0, 0, 2, 0, 0]),
    );
    assert_eq!(
        s.on_server_datagram(&bad),
        Outcome::Malformed(QuicError::NotServerHello)
    );
    assert!(s.server_finished());
    assert_eq!(s.on_server_datagram(&bad), Outcome::NotThis);
    // A frame not allowed in an Initial (STREAM).
    let mut s = after_client_hello(&client);
    let stream = seal_server(VERSION_1, &odcid, &[1], 0, &[0x08, 0x00, 0x01, 0xff]);
    assert_eq!(
        s.on_server_datagram(&stream),
        Outcome::Malformed(QuicError::Frame)
    );
    assert!(!s.server_finished());
}

#[test]
fn state_size() {
    // One CRYPTO buffer for both sides and its bitmap (6912 octets), the
    // client's keyed ciphers (1456 on x86-64), and under 256 octets more:
    // the server's key material (44), ids, packet numbers, flags (8544 in all).
    let size = core::mem::size_of::<QuicInitialState>();
    let rest = size - core::mem::size_of::<InitialKeys>() - CRYPTO_CAP - 8 * WORDS;
    assert!(rest < 256, "{size}");
}
