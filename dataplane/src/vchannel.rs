//! vchannels: the outer VLAN ids of a bridge that give BRIDGE_CHANNEL_NUM (spec
//! §3, element 2016) a vchannel number; every other packet carries its bridge's
//! number.

use crate::wire::VlanTag;

/// VLAN ids a tag can carry (12 bits).
const VLAN_IDS: usize = 4096;

/// One bridge's vchannels: the channel of every VLAN id, or `None`.
type BridgeChannels = Box<[Option<u16>; VLAN_IDS]>;

/// The BRIDGE_CHANNEL_NUM of a packet from its bridge and outer VLAN: one array
/// read per packet (8 KiB per bridge that has vchannels, none for the others).
#[derive(Debug, Default, Clone)]
pub struct Channels {
    /// By bridge number; shorter than the bridge list when the last bridges have none.
    bridges: Vec<Option<BridgeChannels>>,
}

impl Channels {
    /// The table of `vchannels` entries `(bridge, VLAN id ranges, channel)`, the
    /// ranges inclusive (validated by the configuration: a VLAN id of a bridge is
    /// in one entry; a later entry would win).
    pub fn new<'a>(entries: impl IntoIterator<Item = (u16, &'a [(u16, u16)], u16)>) -> Channels {
        let mut bridges: Vec<Option<BridgeChannels>> = Vec::new();
        for (bridge, vlans, channel) in entries {
            let b = usize::from(bridge);
            if bridges.len() <= b {
                bridges.resize_with(b + 1, || None);
            }
            let Some(slot) = bridges.get_mut(b) else {
                continue;
            };
            let table = slot.get_or_insert_with(|| Box::new([None; VLAN_IDS]));
            for &(lo, hi) in vlans {
                for vlan in lo..=hi {
                    if let Some(c) = table.get_mut(usize::from(vlan)) {
                        *c = Some(channel);
                    }
                }
            }
        }
        Channels { bridges }
    }

    /// BRIDGE_CHANNEL_NUM of a packet of `bridge` whose outer tag is `outer`.
    #[inline]
    pub fn of(&self, bridge: u16, outer: Option<VlanTag>) -> u16 {
        let (Some(Some(table)), Some(tag)) = (self.bridges.get(usize::from(bridge)), outer) else {
            return bridge;
        };
        table
            .get(usize::from(tag.id.value()))
            .copied()
            .flatten()
            .unwrap_or(bridge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decode;

    fn outer(vlan: u16) -> Option<VlanTag> {
        // An 802.1Q frame with `vlan`, decoded, gives the tag as the analysis sees it.
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&vlan.to_be_bytes());
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        decode(&f).vlan.outer
    }

    #[test]
    fn listed_vlans_carry_their_channel_and_others_the_bridge() {
        let c = Channels::new([
            (1, &[(100, 199), (300, 300)][..], 7),
            (1, &[(200, 200)][..], 8),
        ]);
        assert_eq!(c.of(1, outer(100)), 7);
        assert_eq!(c.of(1, outer(199)), 7);
        assert_eq!(c.of(1, outer(300)), 7);
        assert_eq!(c.of(1, outer(200)), 8);
        assert_eq!(c.of(1, outer(201)), 1, "an unlisted VLAN: the bridge");
        assert_eq!(c.of(1, None), 1, "untagged: the bridge");
        assert_eq!(c.of(0, outer(100)), 0, "a bridge without vchannels");
        assert_eq!(c.of(5, outer(100)), 5, "a bridge past the table");
        assert_eq!(Channels::default().of(3, outer(100)), 3);
    }
}
