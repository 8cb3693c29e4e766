//! `metaprobe man --out-dir DIR` (hidden, for packaging): the man pages, made from the
//! same clap definitions as `--help` so they cannot drift from it. `metaprobe.1` has the
//! sections an operator looks for (signals, files, exit status); each subcommand gets its
//! own page, `metaprobe-run.1`, ….

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;

use crate::Cli;

/// The sections of `metaprobe.1` after its subcommands, in roff.
const OPERATOR_SECTIONS: &str = r#".SH SIGNALS
.TP
\fBSIGINT\fR, \fBSIGTERM\fR
Stop cleanly: the workers finish their burst, the ports are stopped and closed, the
records still held are exported, the final statistics are printed and the exit status
is 0. A second signal ends the process at once.
.TP
\fBSIGHUP\fR
Reopen the log files (\fIfastdpi_alert.log\fR, \fIfastdpi_stat.log\fR, the DNS text
log), as logrotate expects: a file moved away is created again at once, and lines
written before the signal stay in the moved file. The probe goes on; an alert line and
the \fBfinal logs\fR counter say the logs were reopened.
.SH FILES
.TP
\fI/etc/metaprobe/metaprobe.toml\fR
The configuration the packaged service runs with (every key: the commented example in
\fI/usr/share/doc/metaprobe/examples/metaprobe.toml\fR). Check it with
\fBmetaprobe check\-config \-c\fR \fIFILE\fR.
.TP
\fI/var/log/metaprobe/fastdpi_alert.log\fR
Alerts of the export side (collectors lost and back, skipped records, DNS text log
failures); in the directory of the \fBlog_dir\fR key.
.TP
\fI/var/log/metaprobe/fastdpi_stat.log\fR
The export statistics, with \fBdbg_log_mask = 0x80\fR, every \fBnetflow_timeout\fR seconds.
.TP
\fI/var/log/metaprobe/dns.log\fR
The DNS text log (\fBajb_save_dns = 1\fR, path \fBajb_dns_path\fR).
.SH EXIT STATUS
0 after a clean stop (signal or \fB\-\-idle\-exit\fR), 1 when the configuration, EAL, a
port or a collector socket cannot be set up (the message names the key or the port), or
when a worker failed.
.SH SEE ALSO
\fBmetaprobe\-run\fR(1), \fBmetaprobe\-check\-config\fR(1), \fBmetaprobe\-collect\fR(1),
\fBdpdk\-testpmd\fR(1)
"#;

/// Writes `metaprobe.1` and a page per visible subcommand into `dir`; the paths written.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let fail = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let path = Man::new(sub.clone())
            .generate_to(dir)
            .map_err(|e| fail(dir, e))?;
        written.push(path);
    }
    let man = Man::new(cmd);
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(page)?;
        man.render_name_section(page)?;
        man.render_synopsis_section(page)?;
        man.render_description_section(page)?;
        man.render_options_section(page)?;
        man.render_subcommands_section(page)?;
        page.write_all(OPERATOR_SECTIONS.as_bytes())?;
        man.render_version_section(page)
    };
    let path = dir.join(man.get_filename());
    render(&mut page)
        .and_then(|()| std::fs::write(&path, &page))
        .map_err(|e| fail(&path, e))?;
    written.insert(0, path);
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_visible_command_has_a_page() {
        let dir = std::env::temp_dir().join(format!("metaprobe-man-{}", std::process::id()));
        let pages = write_pages(&dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "metaprobe.1",
                "metaprobe-run.1",
                "metaprobe-collect.1",
                "metaprobe-ipfixcol2-elements.1",
                "metaprobe-clickhouse-schema.1",
                "metaprobe-check-config.1"
            ]
        );
        let top = std::fs::read_to_string(dir.join("metaprobe.1")).unwrap();
        for needle in [
            ".TH metaprobe 1",
            ".SH SYNOPSIS",
            ".SH SIGNALS",
            "SIGHUP",
            ".SH FILES",
            "check\\-config",
        ] {
            assert!(top.contains(needle), "{needle:?} not in\n{top}");
        }
        assert!(
            !top.contains("\\fBman\\fR"),
            "the hidden command is not listed"
        );
        let run = std::fs::read_to_string(dir.join("metaprobe-run.1")).unwrap();
        assert!(run.contains("idle\\-exit"), "{run}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
