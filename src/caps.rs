//! Capability-aware start: a binary installed with file capabilities in its permitted
//! set only (`setcap cap_net_raw,cap_net_admin,cap_ipc_lock+p`, as the Docker image
//! does) starts as an unprivileged user with those capabilities permitted but not
//! effective; `metaprobe run` makes them effective before EAL starts (DPDK's
//! `net_af_packet` needs CAP_NET_RAW for its sockets and CAP_NET_ADMIN to restore the
//! interface flags when a port starts). Without the effective bit in the file, exec never
//! fails where the container's bounding set lacks one of them (it is then not permitted,
//! and DPDK says which operation was refused), so `metaprobe --version` and `collect`
//! run in any container. For root, or a binary without file capabilities, this changes
//! nothing.

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// capget (`set` false) or capset (`set` true) of this thread's three capability sets.
fn caps(set: bool, data: &mut [CapData; 2]) -> std::io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let nr = if set {
        libc::SYS_capset
    } else {
        libc::SYS_capget
    };
    // SAFETY: with a version-3 header both calls take two CapData words: capget writes
    // them, capset reads them.
    let ret = unsafe { libc::syscall(nr, &mut header as *mut CapHeader, data.as_mut_ptr()) };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Makes every permitted capability of this thread effective. Call it before any other
/// thread starts (capabilities are per thread; threads created later inherit them).
/// Returns the capabilities it raised, as a bit mask (0: nothing to do).
pub fn raise_permitted() -> std::io::Result<u64> {
    let mut data = [CapData::default(); 2];
    caps(false, &mut data)?;
    let raised = data
        .iter()
        .enumerate()
        .map(|(i, d)| u64::from(d.permitted & !d.effective) << (32 * i))
        .fold(0, |a, b| a | b);
    if raised == 0 {
        return Ok(0);
    }
    for d in &mut data {
        d.effective = d.permitted;
    }
    // Raising effective to permitted is always allowed.
    caps(true, &mut data)?;
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_is_idempotent_and_leaves_nothing_permitted_but_not_effective() {
        raise_permitted().expect("capget/capset on this thread");
        // A second call finds nothing left to raise.
        assert_eq!(raise_permitted().expect("second call"), 0);
    }
}
