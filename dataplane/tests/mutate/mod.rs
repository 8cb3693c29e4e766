//! The mutator of the protocol fuzz tests (`sip_ftp_fuzz.rs`, `im_fuzz.rs`,
//! `mail_fuzz.rs`): a deterministic generator, byte-level mutations of a
//! seed with a protocol's tokens, and mutations of a whole connection.
#![allow(dead_code, clippy::indexing_slicing)]

use super::common::Dialog;

/// xorshift64: deterministic, so a campaign's failing input can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A copy of `seed` with 1 to 4 edits — a byte changed, one of `tokens`
/// inserted, a run deleted or repeated — and now and then cut short.
pub fn mutate(seed: &[u8], rng: &mut Rng, tokens: &[&[u8]]) -> Vec<u8> {
    let mut f = seed.to_vec();
    let r = rng.next();
    for _ in 0..(1 + r % 4) {
        let at = rng.below(f.len() + 1);
        match rng.below(4) {
            0 if at < f.len() => f[at] = rng.next() as u8,
            1 => {
                let t = tokens[rng.below(tokens.len())];
                f.splice(at..at, t.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(16)).min(f.len());
                f.drain(at.min(end)..end);
            }
            _ => {
                let end = (at + 1 + rng.below(64)).min(f.len());
                let run = f[at.min(end)..end].to_vec();
                f.splice(at..at, run);
            }
        }
    }
    if (r >> 8).is_multiple_of(4) {
        let keep = rng.below(f.len() + 1);
        f.truncate(keep);
    }
    f
}

/// A connection with 1 to 3 of its segments dropped, repeated or mutated.
pub fn mutate_dialog(dialog: &[(bool, Vec<u8>)], rng: &mut Rng, tokens: &[&[u8]]) -> Dialog {
    let mut d = dialog.to_vec();
    for _ in 0..1 + rng.below(3) {
        if d.is_empty() {
            break;
        }
        let i = rng.below(d.len());
        match rng.below(8) {
            0 => {
                d.remove(i);
            }
            1 => {
                let seg = d[i].clone();
                d.insert(i, seg);
            }
            _ => d[i].1 = mutate(&d[i].1, rng, tokens),
        }
    }
    d
}
