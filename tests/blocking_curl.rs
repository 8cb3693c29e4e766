//! Blocking as a real client sees it: curl in namespace `a` (192.0.2.1),
//! an HTTP server (python's http.server) and an HTTPS server (openssl
//! s_server) in namespace `b` (192.0.2.2), metaprobe bridging the two veth
//! pairs over `net_af_packet` in namespace `br` with `blocked.example`
//! listed. `curl http://blocked.example/` gets the 302 and its Location;
//! `curl https://blocked.example/` fails at once with a reset; the same
//! servers under an unlisted name answer normally. A SIGHUP with a bad
//! list keeps the one in use; one with a new list blocks by it.

mod common;

use std::ffi::OsString;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    Running, TestDir, bridged_hosts, dpdk_lock, eal_base, require_tool, run_args_idle, run_cmd,
    toml_string, write_config,
};

const REDIRECT: &str = "http://stop.example.net/blocked";
const SERVER: &str = "192.0.2.2";

/// A server process in a namespace, killed (by its pid) when dropped.
struct Server(Child);

impl Server {
    fn start(ns: &str, program: &str, args: &[&str], dir: &std::path::Path) -> Server {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped()) // s_server exits on EOF on stdin: keep it open
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program} in {ns}: {e}"));
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl ARGS` in namespace `ns`, with `host` resolved to the server; its
/// output and how long it took.
fn curl(ns: &str, host: &str, port: u16, args: &[&str]) -> (Output, Duration) {
    let resolve = format!("{host}:{port}:{SERVER}");
    let start = Instant::now();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "curl",
            "-sS",
            "--max-time",
            "10",
            "--resolve",
        ])
        .arg(&resolve)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("curl runs");
    (out, start.elapsed())
}

/// Waits up to 30 s for `done`.
fn wait_until(what: &str, running: &Running, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what}\n{}",
            running.describe_so_far()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn curl_sees_the_redirect_and_the_reset_and_unlisted_hosts_work() {
    for (tool, package) in [
        ("curl", "curl"),
        ("openssl", "openssl"),
        ("python3", "python3"),
    ] {
        require_tool(tool, package);
    }
    let ns = bridged_hosts();
    let (a, b, br) = (ns.name("a"), ns.name("b"), ns.name("br"));

    let dir = TestDir::new("block-curl");
    let site = dir.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "hello from the server\n").unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    run_cmd(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=server",
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
        ],
    );
    let _http = Server::start(
        b,
        "python3",
        &["-m", "http.server", "80", "--bind", SERVER],
        &site,
    );
    let _https = Server::start(
        b,
        "openssl",
        &[
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            "443",
            "-cert",
            &cert.to_string_lossy(),
            "-key",
            &key.to_string_lossy(),
        ],
        &site,
    );

    let list = dir.join("blocked.txt");
    std::fs::write(&list, "blocked.example\n").unwrap();
    let config = write_config(
        &dir,
        0,
        1,
        &format!(
            "block_list = {}\nblock_redirect_url = {}\n",
            toml_string(&list.to_string_lossy()),
            toml_string(REDIRECT)
        ),
    );
    let mut eal = eal_base(&dir, &["-l", "0-1"]);
    eal.push("--vdev=net_af_packet0,iface=bra".into());
    eal.push("--vdev=net_af_packet1,iface=brb".into());
    let args = run_args_idle(&config, None, eal);
    let prefix: Vec<OsString> = ["ip", "netns", "exec", br].map(OsString::from).to_vec();

    let _guard = dpdk_lock();
    let mut running = Running::spawn_with_prefix(&prefix, &args);
    running.wait_for_stdout("worker 0 on lcore", Duration::from_secs(60));

    // An unlisted name over HTTP works (retried while the servers and the
    // neighbour tables settle).
    let mut open = None;
    for _ in 0..30 {
        let (out, _) = curl(a, "open.example", 80, &["http://open.example/"]);
        if out.status.success() {
            open = Some(out);
            break;
        }
        thread::sleep(Duration::from_millis(300));
    }
    let open = open.unwrap_or_else(|| {
        panic!(
            "open.example over HTTP never answered\n{}",
            running.describe_so_far()
        )
    });
    assert_eq!(text(&open.stdout), "hello from the server\n");

    // The listed name over HTTP: the probe's 302, with the Location.
    let (redirect, _) = curl(
        a,
        "blocked.example",
        80,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            "http://blocked.example/",
        ],
    );
    assert!(redirect.status.success(), "{}", text(&redirect.stderr));
    assert_eq!(text(&redirect.stdout), format!("302 {REDIRECT}"));

    // The listed name over HTTPS: reset at once, not a timeout.
    let (reset, took) = curl(
        a,
        "blocked.example",
        443,
        &["-k", "https://blocked.example/"],
    );
    assert!(!reset.status.success(), "{}", text(&reset.stdout));
    let why = text(&reset.stderr);
    assert!(
        why.contains("reset by peer"),
        "curl should see a reset: {why}"
    );
    assert!(
        took < Duration::from_secs(3),
        "the reset took {took:?}: {why}"
    );

    // An unlisted name over HTTPS works.
    let (tls, _) = curl(a, "open.example", 443, &["-k", "https://open.example/"]);
    assert!(tls.status.success(), "{}", text(&tls.stderr));
    assert!(
        text(&tls.stdout).contains("s_server"),
        "{}",
        text(&tls.stdout)
    );

    // A bad list on SIGHUP: an alert, the list in use stays.
    std::fs::write(&list, "open.example\nhttp://bad.example/\n").unwrap();
    running.signal(libc::SIGHUP);
    let alert = dir.join("log").join("fastdpi_alert.log");
    wait_until("the refused reload is an alert", &running, || {
        std::fs::read_to_string(&alert).is_ok_and(|t| {
            t.contains("[BLOCK][") && t.contains("the previous list (1 patterns) stays")
        })
    });
    let (still, _) = curl(a, "open.example", 80, &["http://open.example/"]);
    assert_eq!(text(&still.stdout), "hello from the server\n");

    // A good list on SIGHUP: now the other name is blocked and the first one free.
    std::fs::write(&list, "open.example\n").unwrap();
    running.signal(libc::SIGHUP);
    wait_until("the new list", &running, || {
        running
            .stdout_so_far()
            .contains("block list (SIGHUP): 1 patterns loaded")
    });
    // Workers take a new list at their next housekeeping (every millisecond).
    thread::sleep(Duration::from_millis(100));
    let (moved, _) = curl(
        a,
        "open.example",
        80,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://open.example/",
        ],
    );
    assert_eq!(text(&moved.stdout), "302");
    let (freed, _) = curl(a, "blocked.example", 80, &["http://blocked.example/"]);
    assert_eq!(text(&freed.stdout), "hello from the server\n");

    running.signal(libc::SIGTERM);
    let out = running.wait(common::RUN_TIMEOUT);
    out.assert_success();
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("final analysis:"))
        .unwrap_or_else(|| panic!("no final analysis\n{}", out.describe()));
    for (name, n) in [("block-http-redirected", 2), ("block-tls-reset", 1)] {
        assert!(
            line.contains(&format!(" {name} {n} ")) || line.ends_with(&format!(" {name} {n}")),
            "{name} {n}: {line}"
        );
    }
}
