//! The SMTP, POP3 and IMAP parsers on the corpus captures and mkpcap's SMTP
//! sessions (`tests/fixtures`), compared with tshark's truth
//! (`<capture>.mail_records.tsv`, see `fixtures/mail_tsv.py`): every message
//! tshark sees sent or retrieved is a record with the same sender,
//! receivers, Cc, Subject and EVENT (recall 1.0), nothing else is one, and
//! the records do not depend on how the segments are cut. The sessions that
//! upgrade to TLS stop there.
//!
//! The test plays the driver: each direction's unconsumed octets are kept
//! and given again with what follows, the two directions in the order their
//! segments were sent (`mail_common::drive`).
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;
mod mail_common;

use common::fixtures;
use mail_common::{MAIL_CAPTURES, Rec, STARTTLS_CAPTURES, drive, mail_conns};
use metaprobe_test_support::truth::read_tsv_unescaped;

/// The records a capture's truth expects, with the connection's client address.
fn truth(name: &str) -> Vec<(String, Rec)> {
    read_tsv_unescaped(&fixtures().join(format!("{name}.mail_records.tsv")))
        .into_iter()
        .map(|row| {
            let rec = Rec {
                sent: row["event"] == "1",
                code: row["result_code"].parse().unwrap(),
                from: row["sender"].clone(),
                to: row["receiver"].clone(),
                cc: row["cc"].clone(),
                subject: row["subject"].clone(),
                attachment: false,
            };
            // The client: the sender of a message sent, the receiver of one retrieved.
            let client = if rec.sent { &row["src"] } else { &row["dst"] };
            (client.clone(), rec)
        })
        .collect()
}

/// Every connection's records, with the address of the end that sent the message.
fn records(name: &str, chunks: &mut impl FnMut() -> usize) -> Vec<(String, Rec)> {
    let mut out = Vec::new();
    for c in mail_conns(name) {
        for mut r in drive(c.kind, &c.dialog, chunks).records {
            // The attachment flag has no tshark column (unit tests check it).
            r.attachment = false;
            let client = c.client.to_string();
            out.push((client, r));
        }
    }
    out
}

#[test]
fn every_message_tshark_sees_is_a_record_with_its_fields() {
    let mut total = 0;
    for name in MAIL_CAPTURES {
        let want = truth(name);
        let got = records(name, &mut || usize::MAX);
        assert_eq!(got, want, "{name}");
        total += got.len();
    }
    // 1 + 1 SMTP, 4 POP3 RETR, 1 IMAP FETCH, 40 generated SMTP messages.
    assert_eq!(total, 47);
}

#[test]
fn records_do_not_depend_on_segmentation() {
    for name in MAIL_CAPTURES {
        let whole = records(name, &mut || usize::MAX);
        for size in [1, 2, 3, 7, 64, 500] {
            assert_eq!(
                records(name, &mut || size),
                whole,
                "{name}: pieces of {size}"
            );
        }
        let mut x = 0x9e37_79b9_u64;
        let mut random = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % 300) as usize
        };
        assert_eq!(records(name, &mut random), whole, "{name}: random pieces");
    }
}

#[test]
fn sessions_that_upgrade_stop_at_the_upgrade() {
    for name in STARTTLS_CAPTURES {
        let conns = mail_conns(name);
        assert_eq!(conns.len(), 1, "{name}");
        let seen = drive(conns[0].kind, &conns[0].dialog, &mut || usize::MAX);
        assert!(seen.tls, "{name}: the upgrade was seen");
        assert!(seen.records.is_empty(), "{name}");
        assert_eq!(seen.given_up, 0, "{name}: TLS octets are not read as lines");
    }
}
