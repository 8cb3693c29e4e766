//! Unit tests of the TLS handshake grammar, with real bytes.

use super::*;

/// A minimal ClientHello body: version, random, empty session id, two
/// suites, null compression, server_name "a.example".
fn hello_body() -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend([0x11; 32]);
    b.push(0);
    b.extend([0x00, 0x04, 0x13, 0x01, 0xc0, 0x2f]);
    b.extend([0x01, 0x00]);
    let name = b"a.example";
    let mut sni = vec![];
    sni.extend(((name.len() + 3) as u16).to_be_bytes());
    sni.push(0);
    sni.extend((name.len() as u16).to_be_bytes());
    sni.extend(name);
    let mut exts = vec![0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]; // ec_point_formats
    exts.extend([0x00, 0x00]);
    exts.extend((sni.len() as u16).to_be_bytes());
    exts.extend(sni);
    b.extend((exts.len() as u16).to_be_bytes());
    b.extend(exts);
    b
}

fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend(body);
    m
}

/// Wraps handshake bytes in records of at most `max` octets.
fn records(hs: &[u8], max: usize) -> Vec<u8> {
    let mut out = vec![];
    for chunk in hs.chunks(max) {
        out.extend([22, 3, 1]);
        out.extend((chunk.len() as u16).to_be_bytes());
        out.extend(chunk);
    }
    out
}

#[test]
fn client_hello_in_one_record() {
    let s = records(&message(1, &hello_body()), 16384);
    let ch = client_hello(&s).done().unwrap();
    assert_eq!(ch.server_name.unwrap().as_bytes(), b"a.example");
    assert_eq!(ch.cipher_suites_len, 4);
    assert_eq!(ch.cipher_suites().collect::<Vec<_>>(), [0x1301, 0xc02f]);
    assert_eq!(ch.legacy_version, 0x0303);
}

#[test]
fn every_prefix_is_incomplete_and_every_record_split_parses() {
    let hs = message(1, &hello_body());
    for max in [1, 2, 3, 7, 40, 16384] {
        let s = records(&hs, max);
        let full = client_hello(&s);
        assert_eq!(
            full.done().unwrap().server_name.unwrap().as_bytes(),
            b"a.example",
            "records of {max}"
        );
        for cut in 0..s.len() {
            assert_eq!(
                client_hello(&s[..cut]),
                Outcome::Incomplete,
                "records of {max}, cut {cut}"
            );
        }
    }
}

#[test]
fn not_tls_and_malformed() {
    assert_eq!(client_hello(b"GET / HTTP/1.1\r\n"), Outcome::NotThis);
    assert_eq!(client_hello(&[22, 3, 1, 0, 5, 2]), Outcome::NotThis);
    assert_eq!(client_hello(&[22, 2]), Outcome::NotThis);
    assert_eq!(client_hello(&[]), Outcome::Incomplete);
    // A cipher suite list that claims more than the message holds.
    let mut body = hello_body();
    body[35] = 0xff;
    let s = records(&message(1, &body), 16384);
    assert!(matches!(
        client_hello(&s),
        Outcome::Malformed(Malformed {
            reason: Reason::Overrun,
            ..
        })
    ));
    // An alert record in the middle of the message.
    let mut s = records(&message(1, &hello_body()), 30);
    s.truncate(35);
    s.extend([21, 3, 3, 0, 2, 2, 40]);
    assert!(matches!(
        client_hello(&s),
        Outcome::Malformed(Malformed {
            reason: Reason::Interleaved,
            ..
        })
    ));
}

#[test]
fn crypto_stream_client_hello() {
    let hs = message(1, &hello_body());
    assert_eq!(
        client_hello_crypto(&hs)
            .done()
            .unwrap()
            .server_name
            .unwrap()
            .as_bytes(),
        b"a.example"
    );
    assert_eq!(client_hello_crypto(&hs[..20]), Outcome::Incomplete);
    assert_eq!(client_hello_crypto(&[2, 0]), Outcome::NotThis);
}

fn server_hello_body(sv: Option<u16>) -> Vec<u8> {
    let mut b = vec![0x03, 0x03];
    b.extend([0x22; 32]);
    b.push(0);
    b.extend([0x13, 0x02, 0x00]);
    if let Some(v) = sv {
        b.extend([0x00, 0x06, 0x00, 0x2b, 0x00, 0x02]);
        b.extend(v.to_be_bytes());
    }
    b
}

#[test]
fn server_hello_versions() {
    let s = records(&message(2, &server_hello_body(Some(0x0304))), 16384);
    let sh = server_hello(&s).done().unwrap();
    assert_eq!(
        (sh.legacy_version, sh.version, sh.cipher_suite),
        (0x0303, 0x0304, 0x1302)
    );
    let f = server_flight(&s).done().unwrap();
    assert_eq!(f.certificate, Certificate::Encrypted);
    let s = records(&message(2, &server_hello_body(None)), 16384);
    assert_eq!(server_hello(&s).done().unwrap().version, 0x0303);
    // TLS 1.2 without more bytes: the certificate may still come.
    assert_eq!(server_flight(&s), Outcome::Incomplete);
    // ... then ChangeCipherSpec: a resumed session, no certificate.
    let mut r = s.clone();
    r.extend([20, 3, 3, 0, 1, 1]);
    assert_eq!(
        server_flight(&r).done().unwrap().certificate,
        Certificate::Absent
    );
}

#[test]
fn bmp_common_name() {
    // SEQUENCE { SEQUENCE { INTEGER 1, SEQ{}, SEQ{}, SEQ{}, subject } }
    let cn = [0x00, b'a', 0x04, 0x3f]; // "aп"
    let mut atv = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x1e, cn.len() as u8];
    atv.extend(cn);
    let mut seq = vec![0x30, atv.len() as u8];
    seq.extend(atv);
    let mut set = vec![0x31, seq.len() as u8];
    set.extend(seq);
    let mut subject = vec![0x30, set.len() as u8];
    subject.extend(set);
    let mut tbs_body = vec![0x02, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00, 0x30, 0x00];
    tbs_body.extend(subject);
    let mut tbs = vec![0x30, tbs_body.len() as u8];
    tbs.extend(tbs_body);
    let mut cert = vec![0x30, 0x81, tbs.len() as u8];
    cert.extend(tbs);
    let mut list = (cert.len() as u32).to_be_bytes()[1..].to_vec();
    list.extend(&cert);
    let mut certmsg = (list.len() as u32).to_be_bytes()[1..].to_vec();
    certmsg.extend(list);
    let mut hs = message(2, &server_hello_body(None));
    hs.extend(message(11, &certmsg));
    let s = records(&hs, 16384);
    let f = server_flight(&s).done().unwrap();
    assert_eq!(
        f.certificate.common_name().unwrap().as_bytes(),
        "aп".as_bytes()
    );
}
