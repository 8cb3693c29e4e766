//! SIGINT/SIGTERM ask for a clean stop; a second one ends the process at once.
//! SIGHUP asks for the log files to be reopened (logrotate's convention) and never
//! stops the probe.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);
static REOPEN_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(signal: libc::c_int) {
    if STOP_REQUESTED.swap(true, Ordering::SeqCst) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + signal) };
    }
}

extern "C" fn on_hangup(_: libc::c_int) {
    REOPEN_REQUESTED.store(true, Ordering::SeqCst);
}

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP.
pub fn install() -> std::io::Result<()> {
    let handlers: [(libc::c_int, extern "C" fn(libc::c_int)); 3] = [
        (libc::SIGINT, on_stop),
        (libc::SIGTERM, on_stop),
        (libc::SIGHUP, on_hangup),
    ];
    for (signal, handler) in handlers {
        // SAFETY: a zeroed sigaction with a handler that only touches an atomic
        // (async-signal-safe) and an empty mask is a valid argument.
        let ret = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut())
        };
        if ret != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn stop_requested() -> bool {
    STOP_REQUESTED.load(Ordering::SeqCst)
}

/// True once after SIGHUP: the request is taken (several SIGHUPs before a look are one).
pub fn take_reopen_request() -> bool {
    REOPEN_REQUESTED.swap(false, Ordering::SeqCst)
}
