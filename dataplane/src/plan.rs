//! Start-up arithmetic: how many queues each port gets, which worker serves
//! which queues, and how large the mbuf pool must be.

use crate::forward::BURST_SIZE;

/// What a port's driver can do, as far as planning is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortCaps {
    pub port: u16,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    /// The driver spreads flows over RX queues by a hash (RSS).
    pub rss: bool,
}

/// Why the queue plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// `queues_per_port` asks for more queues than `port` has.
    TooManyQueues {
        port: u16,
        requested: u16,
        available: u16,
    },
    /// Several queues were asked for, but `port` cannot spread flows over them.
    NoRss {
        port: u16,
        requested: u16,
    },
    NoWorkers,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::TooManyQueues {
                port,
                requested,
                available,
            } => write!(
                f,
                "queues_per_port = {requested}, but port {port} has only {available} RX/TX queue pairs"
            ),
            PlanError::NoRss { port, requested } => write!(
                f,
                "queues_per_port = {requested}, but port {port} does not support RSS, so only one queue would receive; use 1 (or 0 = automatic)"
            ),
            PlanError::NoWorkers => {
                write!(
                    f,
                    "no worker lcore: give EAL at least two lcores (e.g. -l 0-1); the first one is the main lcore"
                )
            }
        }
    }
}

impl std::error::Error for PlanError {}

/// Chooses the number of RX/TX queues of every port.
///
/// `requested` 0 means automatic: one queue per worker share of a bridge where
/// every port supports RSS and has the queues, else one queue.
pub fn queues_per_port(
    requested: u16,
    workers: usize,
    bridges: usize,
    caps: &[PortCaps],
) -> Result<u16, PlanError> {
    if workers == 0 {
        return Err(PlanError::NoWorkers);
    }
    let port_limit = |c: &PortCaps| c.max_rx_queues.min(c.max_tx_queues).max(1);
    if requested == 0 {
        if caps.iter().any(|c| !c.rss) {
            return Ok(1);
        }
        let share = (workers / bridges.max(1)).max(1);
        let limit = caps.iter().map(port_limit).min().unwrap_or(1);
        return Ok(u16::try_from(share).unwrap_or(u16::MAX).min(limit));
    }
    for c in caps {
        if requested > port_limit(c) {
            return Err(PlanError::TooManyQueues {
                port: c.port,
                requested,
                available: port_limit(c),
            });
        }
        if requested > 1 && !c.rss {
            return Err(PlanError::NoRss {
                port: c.port,
                requested,
            });
        }
    }
    Ok(requested)
}

/// One queue index of one bridge: the unit of work a worker takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSetId {
    /// Index into the configuration's `bridges`.
    pub bridge: usize,
    pub queue: u16,
}

/// Deals the queue sets of all bridges round-robin to at most `workers` workers.
/// Workers that would get nothing are left out of the result.
pub fn assign_queue_sets(bridges: usize, queues: u16, workers: usize) -> Vec<Vec<QueueSetId>> {
    let sets: Vec<QueueSetId> = (0..bridges)
        .flat_map(|bridge| (0..queues).map(move |queue| QueueSetId { bridge, queue }))
        .collect();
    let used = workers.min(sets.len());
    let mut plan = vec![Vec::new(); used];
    for (i, set) in sets.into_iter().enumerate() {
        if let Some(worker) = plan.get_mut(i % used.max(1)) {
            worker.push(set);
        }
    }
    plan
}

/// The mbuf pool size that keeps every RX ring fillable: twice the descriptors
/// of all rings (RX rings full while as many packets wait in TX rings), plus a
/// burst in flight per worker and every lcore's mempool cache; rounded up to
/// 2^k - 1, the size DPDK's ring-backed pools use best.
pub fn mempool_size(
    ports: usize,
    queues: u16,
    rx_descriptors: u16,
    tx_descriptors: u16,
    lcores: usize,
    cache: u32,
) -> u32 {
    let descriptors =
        ports as u64 * u64::from(queues) * (u64::from(rx_descriptors) + u64::from(tx_descriptors));
    let in_flight = lcores as u64 * BURST_SIZE as u64;
    let caches = lcores as u64 * u64::from(cache);
    let needed = 2 * descriptors + in_flight + caches;
    let rounded = (needed + 1).next_power_of_two() - 1;
    u32::try_from(rounded).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(port: u16, queues: u16, rss: bool) -> PortCaps {
        PortCaps {
            port,
            max_rx_queues: queues,
            max_tx_queues: queues,
            rss,
        }
    }

    #[test]
    fn single_queue_virtual_devices_get_one_queue() {
        // net_pcap: 16 queues but no RSS.
        assert_eq!(
            queues_per_port(0, 4, 1, &[caps(0, 16, false), caps(1, 16, false)]),
            Ok(1)
        );
    }

    #[test]
    fn rss_ports_get_a_queue_per_worker_of_their_bridge() {
        let c = [
            caps(0, 8, true),
            caps(1, 8, true),
            caps(2, 8, true),
            caps(3, 8, true),
        ];
        assert_eq!(queues_per_port(0, 4, 1, &c[..2]), Ok(4));
        assert_eq!(queues_per_port(0, 4, 2, &c), Ok(2));
        assert_eq!(queues_per_port(0, 1, 2, &c), Ok(1));
        // Limited by the port with the fewest queues.
        assert_eq!(
            queues_per_port(0, 16, 1, &[caps(0, 8, true), caps(1, 2, true)]),
            Ok(2)
        );
    }

    #[test]
    fn explicit_queue_counts_are_checked_against_the_ports() {
        let c = [caps(0, 4, true), caps(1, 2, true)];
        assert_eq!(queues_per_port(2, 2, 1, &c), Ok(2));
        assert_eq!(
            queues_per_port(4, 4, 1, &c),
            Err(PlanError::TooManyQueues {
                port: 1,
                requested: 4,
                available: 2
            })
        );
        assert_eq!(
            queues_per_port(2, 2, 1, &[caps(0, 4, true), caps(1, 4, false)]),
            Err(PlanError::NoRss {
                port: 1,
                requested: 2
            })
        );
        assert_eq!(queues_per_port(1, 0, 1, &c), Err(PlanError::NoWorkers));
        assert!(
            PlanError::NoRss {
                port: 1,
                requested: 2
            }
            .to_string()
            .contains("port 1")
        );
    }

    #[test]
    fn queue_sets_are_dealt_round_robin() {
        let plan = assign_queue_sets(2, 2, 3);
        let ids = |v: &[(usize, u16)]| {
            v.iter()
                .map(|&(bridge, queue)| QueueSetId { bridge, queue })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            plan,
            vec![ids(&[(0, 0), (1, 1)]), ids(&[(0, 1)]), ids(&[(1, 0)])]
        );
    }

    #[test]
    fn surplus_workers_get_nothing_and_one_worker_takes_all() {
        assert_eq!(assign_queue_sets(1, 1, 4).len(), 1);
        let plan = assign_queue_sets(3, 1, 1);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].len(), 3);
    }

    #[test]
    fn the_pool_covers_twice_all_rings() {
        // 2 ports x 1 queue x (1024 + 1024) = 4096 descriptors; 2 lcores, cache 256.
        let n = mempool_size(2, 1, 1024, 1024, 2, 256);
        assert!(u64::from(n) >= 2 * 4096 + 2 * 32 + 2 * 256);
        assert_eq!(n, 16383);
        assert_eq!((n + 1).count_ones(), 1);
    }
}
