//! The commands of a line protocol awaiting their replies (FTP, SMTP, POP3):
//! replies come in the order of the commands (RFC 959 §4.2, RFC 5321 §4.1,
//! RFC 1939 §3), so a ring of their kinds pairs each reply with its command.

/// The kinds of the commands awaiting replies, in order: a ring of `N`
/// kinds, then `untracked` further commands whose kinds were not kept (their
/// replies still take their place, so the order holds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending<V, const N: usize> {
    kinds: [V; N],
    head: u8,
    len: u8,
    untracked: u16,
}

impl<V: Copy + Default, const N: usize> Default for Pending<V, N> {
    fn default() -> Self {
        const { assert!(N > 0 && N <= u8::MAX as usize) };
        Pending {
            kinds: [V::default(); N],
            head: 0,
            len: 0,
            untracked: 0,
        }
    }
}

impl<V: Copy + Default, const N: usize> Pending<V, N> {
    /// A command was sent.
    #[expect(
        clippy::indexing_slicing,
        reason = "the index is taken modulo N, the array's length"
    )]
    pub fn push(&mut self, v: V) {
        let len = usize::from(self.len);
        if self.untracked > 0 || len == N {
            self.untracked = self.untracked.saturating_add(1);
            return;
        }
        self.kinds[(usize::from(self.head) + len) % N] = v;
        self.len += 1;
    }

    /// The oldest command awaiting a reply; the default when its kind was
    /// not kept.
    #[expect(
        clippy::indexing_slicing,
        reason = "head < N: it only ever moves modulo N"
    )]
    pub fn pop(&mut self) -> V {
        if self.len == 0 {
            self.untracked = self.untracked.saturating_sub(1);
            return V::default();
        }
        let v = self.kinds[usize::from(self.head)];
        // N fits a u8 (asserted in `default`).
        self.head = ((usize::from(self.head) + 1) % N) as u8;
        self.len -= 1;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_order_past_its_capacity() {
        let mut p = Pending::<u8, 16>::default();
        for v in 1..=20u8 {
            p.push(v);
        }
        let got: Vec<u8> = (0..21).map(|_| p.pop()).collect();
        let mut want: Vec<u8> = (1..=16).collect();
        want.extend([0; 5]);
        assert_eq!(got, want);
    }

    #[test]
    fn replies_before_commands_do_not_underflow() {
        let mut p = Pending::<u8, 2>::default();
        assert_eq!(p.pop(), 0);
        p.push(7);
        p.push(8);
        p.push(9);
        assert_eq!([p.pop(), p.pop(), p.pop(), p.pop()], [7, 8, 0, 0]);
        p.push(5);
        assert_eq!(p.pop(), 5);
    }
}
