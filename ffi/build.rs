//! Binds the system's DPDK (Debian 12: 22.11 LTS) found through pkg-config.
//!
//! Link flags come from the `pkg-config` crate (a shared build: the binary gets
//! `NEEDED librte_eal.so.23`, and EAL then loads every PMD plugin from its
//! driver directory at init, so `--vdev=net_pcap…` works with no `-d`).
//! Compile flags come from pkg-config's raw `--cflags`: the crate drops
//! `-include rte_config.h` and `-march=…`, without which DPDK's inline SSE
//! code does not compile.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const MIN_DPDK: &str = "22.11";

fn main() {
    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let csrc = manifest.join("csrc");

    pkg_config::Config::new()
        .atleast_version(MIN_DPDK)
        .probe("libdpdk")
        .unwrap_or_else(|e| {
            panic!(
                "DPDK >= {MIN_DPDK} not found through pkg-config ({e}).\n\
                 On Debian 12: apt-get install dpdk libdpdk-dev dpdk-dev libclang-dev clang pkg-config"
            )
        });

    let cflags = raw_cflags();

    bindgen::Builder::default()
        .header(csrc.join("wrapper.h").to_string_lossy())
        .clang_args(&cflags)
        .clang_arg(format!("-I{}", csrc.display()))
        .allowlist_function("rte_.*|shim_.*")
        .allowlist_type("rte_.*")
        .allowlist_var("RTE_.*|rte_.*")
        // Packed structs with aligned or bitfield members that bindgen cannot lay out.
        .opaque_type("rte_gtp_psc_generic_hdr")
        .opaque_type("rte_arp_.*")
        .derive_default(true)
        .wrap_unsafe_ops(true)
        .generate_comments(false)
        .layout_tests(false)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()))
        .generate()
        .expect("bindgen over DPDK headers failed")
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");

    let mut shim = cc::Build::new();
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.include(&csrc)
        .opt_level(3)
        .warnings(true)
        .file(csrc.join("shim.c"))
        .compile("metaprobe_shim");
    println!("cargo:rerun-if-changed={}", csrc.display());
}

fn raw_cflags() -> Vec<String> {
    let output = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("cannot run pkg-config");
    assert!(
        output.status.success(),
        "pkg-config --cflags libdpdk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("pkg-config printed non-UTF-8 cflags")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
