//! Records the git commit and the DPDK version of the build for
//! `metaprobe --version`. (DPDK itself is found and bound by `ffi/build.rs`.)

use std::process::Command;

fn main() {
    let commit = first_line_of("git", &["rev-parse", "--short=12", "HEAD"]);
    let dpdk = first_line_of("pkg-config", &["--modversion", "libdpdk"]);
    println!("cargo:rustc-env=METAPROBE_GIT_COMMIT={commit}");
    println!("cargo:rustc-env=METAPROBE_DPDK_VERSION={dpdk}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

fn first_line_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
