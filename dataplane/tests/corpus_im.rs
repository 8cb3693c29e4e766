//! The XMPP and OSCAR parsers on the corpus captures (`tests/fixtures`),
//! compared with tshark's rows (`<capture>.truth.tsv`), without the EAL:
//! each connection's segments (in the order they were sent, retransmissions
//! left out) fed to the grammar as the driver does.
//!
//! * XMPP: every message the clients send (`MESSAGE >`) is a message event
//!   with the row's `xmpp.to` as receiver, in order; the bound JID tshark
//!   shows (`xmpp.iq.bind.jid`) is the login event's screen name; the
//!   SUCCESS and FAILURE rows are one login event each (0 and 10).
//! * OSCAR: every SNAC tshark dissects (`aim.fnac.family`/`subtype`) is one
//!   the FLAP framing reads, in each direction; the own-info SNAC names
//!   the account tshark shows and the message SNAC its receiver.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Dialog, fixtures, tcp_dialogs};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::oscar::{
    CHANNEL_SNAC, FlapStream, ICBM_SEND, SELF_INFO, icbm_receiver, self_info, snac,
};
use metaprobe_dataplane::app::xmpp::{Event, XmppState};
use metaprobe_test_support::truth::{Row, read_tsv};

fn truth(capture: &str) -> Vec<Row> {
    read_tsv(&fixtures().join(format!("{capture}.truth.tsv")))
}

fn col<'a>(r: &'a Row, c: &str) -> &'a str {
    r.get(c).map_or("", String::as_str)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What the XMPP state machine makes of a connection: (login, JID, result)
/// and the receivers of the messages.
fn xmpp(dialog: &Dialog) -> (Vec<(String, String, u8)>, Vec<String>) {
    let mut st = XmppState::new();
    let (mut logins, mut messages) = (Vec::new(), Vec::new());
    let mut windows = [Vec::new(), Vec::new()];
    for (client, seg) in dialog {
        let w = &mut windows[usize::from(*client)];
        w.extend_from_slice(seg);
        let mut at = 0;
        loop {
            let step = if *client {
                st.client(&w[at..], 4096)
            } else {
                st.server(&w[at..], 4096)
            };
            at += step.consumed;
            match step.outcome {
                Outcome::Done(Event::Login(l)) => {
                    logins.push((text(l.login), text(l.screen_name), l.result.code()))
                }
                Outcome::Done(Event::Message(m)) => messages.push(text(m.receivers)),
                Outcome::Done(Event::Stanza) => {}
                other => {
                    assert!(matches!(other, Outcome::Incomplete), "{other:?}");
                    break;
                }
            }
        }
        w.drain(..at);
    }
    assert!(
        st.finish().is_none(),
        "every login of the corpus is answered"
    );
    (logins, messages)
}

#[test]
fn xmpp_messages_and_logins_are_tsharks() {
    const CAPTURE: &str = "xmpp_c2s_sasl_sessions.pcapng";
    let rows = truth(CAPTURE);
    let (mut logins, mut messages) = (Vec::new(), Vec::new());
    for d in tcp_dialogs(CAPTURE, 5222) {
        let (l, m) = xmpp(&d);
        logins.extend(l);
        messages.extend(m);
    }
    let sent: Vec<String> = rows
        .iter()
        .filter(|r| col(r, "_ws.col.Info").contains("MESSAGE >"))
        .map(|r| col(r, "xmpp.to").to_string())
        .collect();
    assert_eq!(sent.len(), 3);
    assert_eq!(messages, sent);
    let jids: Vec<&str> = rows
        .iter()
        .map(|r| col(r, "xmpp.iq.bind.jid"))
        .filter(|j| !j.is_empty())
        .collect();
    let answers = |what: &str| {
        rows.iter()
            .filter(|r| col(r, "_ws.col.Info").starts_with(what))
            .count()
    };
    assert_eq!((answers("SUCCESS"), answers("FAILURE")), (1, 1));
    // DIGEST-MD5's username is in the base64 of the RESPONSE rows (tshark does
    // not decode it): "tom" in both sessions.
    let mut want = vec![
        ("tom".to_string(), jids[0].to_string(), 0),
        ("tom".to_string(), String::new(), 10),
    ];
    want.sort();
    logins.sort();
    assert_eq!(logins, want);
}

#[test]
fn oscar_snacs_accounts_and_receivers_are_tsharks() {
    const CAPTURE: &str = "oscar_aim_icq_flap_port443.pcapng";
    let rows = truth(CAPTURE);
    // (from the client, family, subtype) → how many, tshark's and ours.
    let mut want: BTreeMap<(bool, String, String), usize> = BTreeMap::new();
    for r in &rows {
        let client = col(r, "tcp.dstport") == "443";
        let fam = col(r, "aim.fnac.family")
            .split('|')
            .filter(|f| !f.is_empty());
        for (f, s) in fam.zip(col(r, "aim.fnac.subtype").split('|')) {
            *want
                .entry((client, f.to_string(), s.to_string()))
                .or_default() += 1;
        }
    }
    let mut got: BTreeMap<(bool, String, String), usize> = BTreeMap::new();
    let mut named = Vec::new();
    for d in tcp_dialogs(CAPTURE, 443) {
        let mut flaps = [FlapStream::new(); 2];
        let mut windows = [Vec::new(), Vec::new()];
        for (client, seg) in &d {
            let (f, w) = (
                &mut flaps[usize::from(*client)],
                &mut windows[usize::from(*client)],
            );
            w.extend_from_slice(seg);
            let mut at = 0;
            loop {
                // The rest of a frame longer than PEEK, skipped by count.
                let skip = (f.pending() as usize).min(w.len() - at);
                at += skip;
                f.skipped(skip as u32);
                let step = f.next(&w[at..]);
                let Outcome::Done(frame) = step.outcome else {
                    assert!(matches!(step.outcome, Outcome::Incomplete));
                    break;
                };
                at += step.consumed;
                let Some(s) = snac(frame.data).filter(|_| frame.channel == CHANNEL_SNAC) else {
                    continue;
                };
                let key = |v: u16| format!("0x{v:04x}");
                *got.entry((*client, key(s.family), key(s.subtype)))
                    .or_default() += 1;
                match (*client, s.kind()) {
                    (false, SELF_INFO) => named.push(text(self_info(s.data).unwrap())),
                    (true, ICBM_SEND) => named.push(text(icbm_receiver(s.data).unwrap())),
                    _ => {}
                }
            }
            w.drain(..at);
        }
    }
    assert_eq!(got, want);
    assert_eq!(named, ["157901844", "461758769"]);
}
