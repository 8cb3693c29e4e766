//! Unit tests of the HTTP grammar, with real bytes.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use super::*;

/// A request's fields, owned.
#[derive(Debug, PartialEq, Eq)]
struct Req {
    method: u8,
    token: String,
    host: String,
    path: String,
    referer: String,
    user_agent: String,
    cookie: String,
    flags: Flags,
}

fn s(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn req(r: &Request) -> Req {
    Req {
        method: r.method_code(),
        token: s(r.method_token),
        host: s(r.host),
        path: s(r.path),
        referer: s(r.referer),
        user_agent: s(r.user_agent),
        cookie: s(r.cookie.first()),
        flags: r.flags,
    }
}

/// (status, content length, content type, location, flags)
type Rep = (u16, u64, String, String, Flags);

fn rep(r: &Reply) -> Rep {
    (
        r.status,
        r.content_length,
        s(r.content_type),
        s(r.location),
        r.flags,
    )
}

/// Plays the caller: a growing buffer of one direction, fed in `pieces`;
/// consumed bytes are dropped. Returns the messages and the last status.
fn drive<T>(
    pieces: &[&[u8]],
    cap: usize,
    mut call: impl FnMut(&[u8], usize) -> (usize, Status<T>),
) -> (Vec<T>, Status<()>) {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut last = Outcome::Incomplete;
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            let (consumed, status) = call(&buf, cap);
            assert!(consumed <= buf.len());
            buf.drain(..consumed);
            match status {
                Outcome::Done(t) => out.push(t),
                Outcome::Incomplete => {
                    last = Outcome::Incomplete;
                    break;
                }
                Outcome::NotThis => {
                    last = Outcome::NotThis;
                    break;
                }
                Outcome::Malformed(m) => {
                    last = Outcome::Malformed(m);
                    break;
                }
            }
        }
    }
    (out, last)
}

fn requests(st: &mut HttpState, pieces: &[&[u8]], cap: usize) -> (Vec<Req>, Status<()>) {
    drive(pieces, cap, |b, cap| {
        let step = st.requests(b, cap);
        (step.consumed, step.status.map(|r| req(&r)))
    })
}

fn replies(st: &mut HttpState, pieces: &[&[u8]], cap: usize) -> (Vec<Rep>, Status<()>) {
    drive(pieces, cap, |b, cap| {
        let step = st.replies(b, cap);
        (step.consumed, step.status.map(|r| rep(&r)))
    })
}

/// Every split of `stream` into one-octet pieces.
fn octets(stream: &[u8]) -> Vec<&[u8]> {
    stream.chunks(1).collect()
}

const GET: &[u8] = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\n\
Referer: http://r.example/\r\nCookie: k=v; k2=v2\r\nAccept: */*\r\n\r\n";

#[test]
fn a_get_gives_every_field() {
    let mut st = HttpState::new();
    let step = st.requests(GET, 4096);
    assert_eq!(step.consumed, GET.len());
    let r = step.status.done().unwrap();
    assert_eq!(r.start, 0);
    assert_eq!(r.method, Method::Get);
    assert_eq!(r.method_code(), 1);
    assert_eq!(r.target, b"/a?b=1");
    assert_eq!(r.path, b"/a?b=1");
    assert_eq!(r.host, b"example.com");
    assert_eq!(r.user_agent, b"curl/8");
    assert_eq!(r.referer, b"http://r.example/");
    assert_eq!(r.cookie.lines(), [&b"k=v; k2=v2"[..]]);
    assert_eq!(r.version, Some(1));
    assert_eq!(r.flags, Flags::NONE);
    assert_eq!(st.want(Direction::Requests), Want::Head);
    assert_eq!(st.requests(&[], 4096).status, Outcome::Incomplete);
}

#[test]
fn methods_map_to_the_spec_codes() {
    for (m, code) in [
        ("GET", 1),
        ("POST", 2),
        ("PUT", 3),
        ("DELETE", 4),
        ("HEAD", 0),
        ("PROPFIND", 0),
        ("MKCOL", 0),
        ("get", 0),
    ] {
        let head = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
        let r = HttpState::new()
            .requests(head.as_bytes(), 4096)
            .status
            .done();
        assert_eq!(r.unwrap().method_code(), code, "{m}");
    }
}

#[test]
fn a_head_split_anywhere_gives_the_same_request() {
    let whole = requests(&mut HttpState::new(), &[GET], 4096).0;
    assert_eq!(whole.len(), 1);
    let (one_by_one, last) = requests(&mut HttpState::new(), &octets(GET), 4096);
    assert_eq!(one_by_one, whole);
    assert_eq!(last, Outcome::Incomplete);
    for cut in 1..GET.len() {
        let (a, b) = GET.split_at(cut);
        assert_eq!(requests(&mut HttpState::new(), &[a, b], 4096).0, whole);
    }
}

#[test]
fn pipelined_requests_and_bodies_are_all_found() {
    let stream: &[u8] = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello=world\
PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
5;ext=1\r\nGET /\r\n0\r\nX-Trailer: GET /no HTTP/1.1\r\n\r\n\
\r\nDELETE /4 HTTP/1.0\r\nHost: b\r\n\r\n";
    let paths = |v: &[Req]| {
        v.iter()
            .map(|r| (r.method, r.path.clone()))
            .collect::<Vec<_>>()
    };
    let want = vec![
        (1, "/1".to_string()),
        (2, "/2".to_string()),
        (3, "/3".to_string()),
        (4, "/4".to_string()),
    ];
    let (all, last) = requests(&mut HttpState::new(), &[stream], 4096);
    assert_eq!(paths(&all), want);
    assert_eq!(last, Outcome::Incomplete);
    let (all, _) = requests(&mut HttpState::new(), &octets(stream), 4096);
    assert_eq!(paths(&all), want);
    // The start of each request in the bytes it was parsed from.
    let mut st = HttpState::new();
    let mut at = 0;
    let mut starts = vec![];
    loop {
        let step = st.requests(&stream[at..], 4096);
        if let Outcome::Done(r) = step.status {
            starts.push(at + r.start);
        } else {
            break;
        }
        at += step.consumed;
    }
    let found: Vec<usize> = [&b"GET /1"[..], b"POST", b"PUT", b"DELETE"]
        .iter()
        .map(|m| stream.windows(m.len()).position(|w| w == *m).unwrap())
        .collect();
    assert_eq!(starts, found);
}

#[test]
fn bodies_can_be_skipped_by_count() {
    let mut st = HttpState::new();
    let head = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n";
    let step = st.requests(head, 4096);
    assert_eq!(step.consumed, head.len());
    assert_eq!(st.want(Direction::Requests), Want::Skip(1_000_000));
    st.skipped(Direction::Requests, 999_990);
    assert_eq!(st.want(Direction::Requests), Want::Skip(10));
    // The last 10 body octets arrive with the next request.
    let next = b"0123456789GET /n HTTP/1.1\r\n\r\n";
    let step = st.requests(next, 4096);
    assert_eq!(step.consumed, next.len());
    let r = step.status.done().unwrap();
    assert_eq!((r.start, r.path), (10, &b"/n"[..]));

    // Chunk data is skipped by count too; the size lines are framing.
    let mut st = HttpState::new();
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    st.replies(head, 4096);
    assert_eq!(st.want(Direction::Replies), Want::Framing);
    assert_eq!(st.replies(b"1F4000\r\n", 4096).consumed, 8);
    assert_eq!(st.want(Direction::Replies), Want::Skip(0x1F4000));
    st.skipped(Direction::Replies, u64::MAX);
    assert_eq!(st.want(Direction::Replies), Want::Framing);
    let tail = b"\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
    let step = st.replies(tail, 4096);
    assert_eq!(step.consumed, tail.len());
    assert_eq!(step.status.done().unwrap().status, 204);
}

#[test]
fn replies_follow_the_rfc_body_rules() {
    let mut st = HttpState::new();
    let reqs: &[u8] = b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n\
GET /d HTTP/1.1\r\n\r\nPOST /e HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n\
GET /f HTTP/1.1\r\n\r\n";
    assert_eq!(requests(&mut st, &[reqs], 4096).0.len(), 6);
    let reps: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc\
HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n\
HTTP/1.1 301 Moved\r\nLocation: http://x/\r\nTransfer-Encoding: chunked\r\n\r\n\
a\r\n0123456789\r\n0\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\
HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>HTTP/1.1 200 OK\r\n\r\n";
    let want: Vec<Rep> = vec![
        (200, 3, "text/plain".into(), "".into(), Flags::NONE),
        (200, 500, "".into(), "".into(), Flags::NONE), // HEAD: no body
        (304, 7, "".into(), "".into(), Flags::NONE),   // 304: no body
        (301, 0, "".into(), "http://x/".into(), Flags::NONE),
        (100, 0, "".into(), "".into(), Flags::NONE),
        (201, 2, "".into(), "".into(), Flags::NONE),
        (200, 0, "text/html".into(), "".into(), Flags::NONE), // to the end
    ];
    let mut whole = st;
    assert_eq!(replies(&mut whole, &[reps], 4096).0, want);
    assert_eq!(whole.want(Direction::Replies), Want::Skip(u64::MAX));
    let mut split = st;
    assert_eq!(replies(&mut split, &octets(reps), 4096).0, want);
}

#[test]
fn the_reply_knows_its_request_method() {
    let mut st = HttpState::new();
    requests(
        &mut st,
        &[b"HEAD / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\n\r\n"],
        4096,
    );
    let interim = st.replies(b"HTTP/1.1 100 Continue\r\n\r\n", 4096);
    assert_eq!(interim.status.done().unwrap().request, Some(Method::Head));
    let r = st.replies(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 4096);
    let r = r.status.done().unwrap();
    assert!(!r.is_informational());
    assert_eq!((r.request, r.content_length), (Some(Method::Head), 9));
    let r = st.replies(b"HTTP/1.1 200 OK\r\n\r\n", 4096);
    assert_eq!(r.status.done().unwrap().request, Some(Method::Post));
    let r = HttpState::new().replies(b"HTTP/1.1 200 OK\r\n\r\n", 4096);
    assert_eq!(r.status.done().unwrap().request, None);
}

#[test]
fn more_pipelined_requests_than_remembered_are_flagged() {
    let mut st = HttpState::new();
    let mut stream = Vec::new();
    for _ in 0..PENDING_CAP + 2 {
        stream.extend_from_slice(b"HEAD / HTTP/1.1\r\n\r\n");
    }
    let (all, _) = requests(&mut st, &[&stream], 4096);
    assert_eq!(all.len(), PENDING_CAP + 2);
    let full: Vec<bool> = all
        .iter()
        .map(|r| r.flags.contains(Flags::PENDING_FULL))
        .collect();
    assert!(full[..PENDING_CAP].iter().all(|f| !f));
    assert!(full[PENDING_CAP..].iter().all(|f| *f));
}

#[test]
fn connect_holds_the_client_until_the_reply_decides() {
    let mut st = HttpState::new();
    let connect = b"CONNECT example.com:443 HTTP/1.1\r\n\r\n\x16\x03\x01";
    let step = st.requests(connect, 4096);
    let r = step.status.done().unwrap();
    assert_eq!((r.method_code(), r.host), (0, &b"example.com:443"[..]));
    assert_eq!(st.want(Direction::Requests), Want::Hold);
    let held = &connect[step.consumed..];
    assert_eq!(st.requests(held, 4096), Step::new(0, Outcome::Incomplete));
    // Refused: the client's next bytes are HTTP again.
    let mut refused = st;
    refused.replies(
        b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n",
        4096,
    );
    assert_eq!(refused.want(Direction::Requests), Want::Head);
    // Accepted: both directions are a tunnel.
    st.replies(b"HTTP/1.1 200 Connection established\r\n\r\n", 4096);
    assert_eq!(st.want(Direction::Requests), Want::Nothing);
    assert_eq!(st.want(Direction::Replies), Want::Nothing);
    assert_eq!(st.requests(held, 4096).status, Outcome::NotThis);
    assert_eq!(st.replies(b"\x16\x03\x03", 4096).status, Outcome::NotThis);
}

#[test]
fn switching_protocols_ends_both_directions() {
    let mut st = HttpState::new();
    st.requests(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 4096);
    let r = st.replies(b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05", 4096);
    assert_eq!(r.status.done().unwrap().status, 101);
    assert_eq!(st.want(Direction::Requests), Want::Nothing);
    assert_eq!(st.replies(b"\x81\x05", 4096).status, Outcome::NotThis);
}

#[test]
fn several_cookie_lines_are_all_kept() {
    let head = b"GET / HTTP/1.1\r\nCookie: a=1\r\nHost: h\r\ncookie: b=2\r\nCookie:\r\n\r\n";
    let r = HttpState::new().requests(head, 4096).status.done().unwrap();
    assert_eq!(r.cookie.lines(), [&b"a=1"[..], b"b=2"]);
    assert_eq!(r.cookie.joined_len(), "a=1; b=2".len());
    assert_eq!(r.flags, Flags::NONE);
    let mut head = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=COOKIE_LINES {
        head.extend_from_slice(format!("Cookie: c{i}=1\r\n").as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    let r = HttpState::new()
        .requests(&head, 4096)
        .status
        .done()
        .unwrap();
    assert_eq!(r.cookie.lines().len(), COOKIE_LINES);
    assert_eq!(r.flags, Flags::TRUNCATED);
}

#[test]
fn an_absolute_form_target_gives_host_and_path() {
    let head = b"GET http://user@proxy.example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n";
    let r = HttpState::new().requests(head, 4096).status.done().unwrap();
    assert_eq!(r.host, b"proxy.example:8080");
    assert_eq!(r.path, b"/p/q?x=1");
    assert_eq!(r.target, b"http://user@proxy.example:8080/p/q?x=1");
    let r = HttpState::new()
        .requests(b"GET HTTP://h.example HTTP/1.1\r\n\r\n", 4096)
        .status
        .done()
        .unwrap();
    assert_eq!((r.host, r.path), (&b"h.example"[..], &b"/"[..]));
}

#[test]
fn a_head_longer_than_the_cap_is_truncated_on_a_utf8_boundary() {
    // "é" is C3 A9: the cap falls between the two octets.
    let mut head =
        b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nCookie: ab\xc3\xa9".to_vec();
    let cap = head.len() - 1;
    head.extend_from_slice(b"cd\r\nUser-Agent: later\r\n\r\nbodyGET /next HTTP/1.1\r\n\r\n");
    let mut st = HttpState::new();
    let step = st.requests(&head, cap);
    assert_eq!(step.consumed, cap);
    let r = step.status.done().unwrap();
    assert!(r.flags.contains(Flags::TRUNCATED));
    assert_eq!(r.cookie.lines(), [&b"ab"[..]]);
    assert_eq!((r.host, r.user_agent), (&b"h"[..], &b""[..]));
    assert_eq!(st.want(Direction::Requests), Want::Framing);
    // The rest of the head is skipped, the body by its length, and the
    // next request is found.
    let step = st.requests(&head[cap..], 4096);
    let r = step.status.done().unwrap();
    assert_eq!(r.path, b"/next");
    assert_eq!(step.consumed, head.len() - cap);
}

#[test]
fn a_request_line_longer_than_the_cap_keeps_the_path_it_has() {
    let mut head = b"GET /".to_vec();
    head.extend(std::iter::repeat_n(b'a', 100));
    head.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    let (all, _) = requests(&mut HttpState::new(), &octets(&head), 50);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].path.len(), 46);
    assert!(all[0].flags.contains(Flags::TRUNCATED));
    assert_eq!(all[1].path, "/2");
}

#[test]
fn heads_httparse_refuses_are_read_lax() {
    // More headers than the array holds.
    let mut head = b"GET /many HTTP/1.1\r\n".to_vec();
    for i in 0..MAX_HEADERS + 5 {
        head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
    }
    head.extend_from_slice(b"Host: late.example\r\nCookie: c=1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    let (all, _) = requests(&mut HttpState::new(), &[&head], 8192);
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[0].host.as_str(), all[0].cookie.as_str()),
        ("late.example", "c=1")
    );
    assert!(all[0].flags.contains(Flags::LAX));
    // A Latin-1 target (not UTF-8).
    let head = b"GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n";
    let r = HttpState::new().requests(head, 4096).status.done().unwrap();
    assert_eq!((r.path, r.flags), (&b"/caf\xe9"[..], Flags::LAX));
}

#[test]
fn bad_framing_is_flagged() {
    let mut st = HttpState::new();
    let r = st.requests(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 4096);
    assert!(r.status.done().unwrap().flags.contains(Flags::BAD_FRAMING));
    assert_eq!(st.want(Direction::Requests), Want::Nothing);
    let mut st = HttpState::new();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
    let r = st.replies(head, 4096).status.done().unwrap();
    assert_eq!((r.content_length, r.flags), (0, Flags::BAD_FRAMING));
    assert_eq!(st.want(Direction::Replies), Want::Skip(u64::MAX));
    // Equal repeated values are one length.
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n";
    let r = HttpState::new().replies(head, 4096).status.done().unwrap();
    assert_eq!((r.content_length, r.flags), (5, Flags::NONE));
}

#[test]
fn a_broken_chunk_is_malformed_where_it_breaks() {
    let mut st = HttpState::new();
    st.replies(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        4096,
    );
    let step = st.replies(b"3\r\nabcX", 4096);
    assert_eq!(
        step.status,
        Outcome::Malformed(Malformed {
            reason: Reason::ChunkDelimiter,
            offset: 6
        })
    );
    assert_eq!(st.want(Direction::Replies), Want::Nothing);
    let mut st = HttpState::new();
    st.replies(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        4096,
    );
    let step = st.replies(b"fffffffffffffffff\r\n", 4096);
    assert_eq!(
        step.status,
        Outcome::Malformed(Malformed {
            reason: Reason::ChunkSize,
            offset: 16
        })
    );
}

#[test]
fn garbage_is_not_http() {
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HELO mail.example\r\n",
        b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET / HTTP/1.1\rX",
        b"\x00\x00\x00\x00",
    ] {
        assert_eq!(request_start(junk), Outcome::NotThis, "{junk:?}");
        let (all, last) = requests(&mut HttpState::new(), &[junk], 4096);
        assert!(all.is_empty(), "{junk:?}");
        assert!(is_not_http(last), "{junk:?}");
    }
    let (all, last) = replies(&mut HttpState::new(), &[b"\x16\x03\x03\x00\x5a\x02"], 4096);
    assert!(all.is_empty());
    assert!(is_not_http(last));
    assert!(is_not_http(
        replies(&mut HttpState::new(), &[b"ICY 200 OK\r\n\r\n"], 4096).1
    ));
}

fn is_not_http(s: Status<()>) -> bool {
    matches!(
        s,
        Outcome::Malformed(Malformed {
            reason: Reason::NotHttp,
            ..
        })
    )
}

#[test]
fn the_detector_accepts_request_lines() {
    let done = |b: &[u8]| request_start(b) == Outcome::Done(());
    assert!(done(b"GET / HTTP/1.1\r\nHost: a\r\n"));
    assert!(done(b"PROPFIND /webdav HTTP/1.1\r\n"));
    assert!(done(b"OPTIONS * HTTP/1.0\n"));
    assert!(done(b"GET http://a/ HTTP/1.1\r\n"));
    // A request line longer than the detector waits for.
    let mut long = b"GET /".to_vec();
    long.resize(LINE_DECIDE, b'a');
    assert!(done(&long));
    for refused in [
        &b"GET  / HTTP/1.1\r\n"[..],
        b"get / HTTP/1.1\r\n",
        b"DESCRIBE rtsp://a/ RTSP/1.0\r\n",
        b"GET / HTTP/1.1\rX",
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n",
    ] {
        assert_eq!(request_start(refused), Outcome::NotThis, "{refused:?}");
    }
}

#[test]
fn sip_request_lines_are_never_http_however_long() {
    for start in [&b"INVITE sip:"[..], b"REGISTER SIPS:", b"MESSAGE tel:"] {
        let mut line = start.to_vec();
        line.resize(2 * LINE_DECIDE, b'a');
        assert_eq!(request_start(&line), Outcome::NotThis, "{start:?}");
        line.extend_from_slice(b" SIP/2.0\r\n");
        assert_eq!(request_start(&line), Outcome::NotThis, "{start:?}");
    }
    // A target cut inside the scheme still waits; other absolute targets are HTTP's.
    assert_eq!(request_start(b"INVITE si"), Outcome::Incomplete);
    let mut proxy = b"GET http://siphon.example/".to_vec();
    proxy.resize(LINE_DECIDE, b'a');
    assert_eq!(request_start(&proxy), Outcome::Done(()));
}

#[test]
fn the_detector_waits_on_every_prefix_of_a_request_line() {
    let line = b"DELETE /a/b?c=d HTTP/1.1\r\n";
    for cut in 1..line.len() {
        assert_eq!(
            request_start(&line[..cut]),
            Outcome::Incomplete,
            "cut {cut}"
        );
    }
    assert_eq!(request_start(line), Outcome::Done(()));
    // A prefix that can no longer be a request line is refused at once.
    assert_eq!(request_start(b"GE?"), Outcome::NotThis);
    assert_eq!(request_start(b"GET ?"), Outcome::NotThis);
}

#[test]
fn utf8_prefix_cuts_only_incomplete_sequences() {
    assert_eq!(utf8_prefix(b"abc"), b"abc");
    assert_eq!(utf8_prefix(b"a\xc3\xa9"), b"a\xc3\xa9");
    assert_eq!(utf8_prefix(b"a\xc3"), b"a");
    assert_eq!(utf8_prefix(b"a\xe2\x82"), b"a");
    assert_eq!(utf8_prefix(b"a\xe2\x82\xac"), b"a\xe2\x82\xac");
    assert_eq!(utf8_prefix(b"a\xf0\x9f\x98"), b"a");
    assert_eq!(utf8_prefix(b"\x80\x80"), b"\x80\x80");
    assert_eq!(utf8_prefix(b""), b"");
}

#[test]
fn the_state_is_small() {
    assert!(core::mem::size_of::<HttpState>() <= 40);
    assert_eq!(core::mem::size_of::<Phase>(), 16);
}
