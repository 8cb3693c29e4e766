//! The per-worker pool of connection states a protocol parses in (FTP, mail,
//! XMPP): too big for the flow table, so a flow holds a slot index, taken at
//! its first payload and given back when the connection is over.

use super::{Close, Cx};
use crate::counters::AppCount;

/// Where a flow's connection is parsed: the per-flow half of a [`SlotPool`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConnSlot {
    /// The first payload is still to come.
    #[default]
    Fresh,
    /// Parsed in this slot of the worker's pool.
    Held(u32),
    /// Not parsed (no free slot, or gone TLS): its raw records are still made.
    Unparsed,
}

/// A fixed pool (sized at start) of connection states `T`, each with the
/// FINs its connection saw.
pub struct SlotPool<T> {
    slots: Box<[Slot<T>]>,
    free: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
struct Slot<T> {
    conn: T,
    /// Each end ([`crate::flow::Endpoint::index`]) sent its FIN.
    fin: [bool; 2],
}

impl<T: Copy> SlotPool<T> {
    /// `n` slots, each holding `idle` until taken.
    pub fn new(n: u32, idle: T) -> SlotPool<T> {
        let idle = Slot {
            conn: idle,
            fin: [false; 2],
        };
        SlotPool {
            slots: vec![idle; n as usize].into_boxed_slice(),
            free: (0..n).rev().collect(),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// The slot of a flow's connection: a fresh connection takes one, set to
    /// `fresh()`; with none free it is left unparsed, counted as `exhausted`.
    pub fn slot(
        &mut self,
        held: &mut ConnSlot,
        fresh: impl FnOnce() -> T,
        cx: &Cx<'_>,
        exhausted: AppCount,
    ) -> Option<u32> {
        match *held {
            ConnSlot::Held(slot) => Some(slot),
            ConnSlot::Unparsed => None,
            ConnSlot::Fresh => {
                let Some(slot) = self.free.pop() else {
                    cx.count(exhausted);
                    *held = ConnSlot::Unparsed;
                    return None;
                };
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = Slot {
                        conn: fresh(),
                        fin: [false; 2],
                    };
                }
                *held = ConnSlot::Held(slot);
                Some(slot)
            }
        }
    }

    pub fn get(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize).map(|s| &s.conn)
    }

    pub fn get_mut(&mut self, slot: u32) -> Option<&mut T> {
        self.slots.get_mut(slot as usize).map(|s| &mut s.conn)
    }

    /// A FIN or RST of the flow: the slot whose connection it ends (a RST, or
    /// the FIN of the second end), which the caller finishes and gives back;
    /// the flow is unparsed from here. (A closed flow stays in the table a
    /// while longer: its slot should not.)
    pub fn closed(&mut self, held: &mut ConnSlot, how: Close) -> Option<u32> {
        let ConnSlot::Held(slot) = *held else {
            return None;
        };
        let s = self.slots.get_mut(slot as usize)?;
        if let Some(fin) = s.fin.get_mut(how.end) {
            *fin = true;
        }
        if !how.reset && s.fin != [true; 2] {
            return None;
        }
        *held = ConnSlot::Unparsed;
        Some(slot)
    }

    /// The slot's connection is over: the slot is free again.
    pub fn give_back(&mut self, slot: u32) {
        self.free.push(slot);
    }
}
