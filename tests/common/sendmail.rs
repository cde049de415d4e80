//! A private Sendmail for end-to-end tests: Debian's `sendmail-bin` and `sendmail-cf`,
//! unpacked (not installed: the package conflicts with the Postfix the other tests use) into
//! the directory `HALLPASS_TEST_SENDMAIL` names (`.ci/run` does it; required under CI). Its
//! `sendmail.cf` is built with m4 from a `sendmail.mc` carrying the `INPUT_MAIL_FILTER` line
//! of docs/sendmail.md; it listens on a loopback port and relays to a recording sink.
//!
//! Sendmail wants a fully qualified name for its own host and resolves names at start; so it
//! runs in namespaces of its own (`unshare --uts --mount`): hostname
//! `sendmail-test.localdomain`, and private `/etc/hosts`, `/etc/nsswitch.conf` (files only)
//! and `/etc/resolv.conf` (a nameserver on loopback) bind-mounted over the machine's. Nothing
//! leaves 127.0.0.1 and the machine's own files are untouched.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Where the unpacked packages are; `None` (with a note) outside CI when not set.
pub fn root() -> Option<PathBuf> {
    match std::env::var("HALLPASS_TEST_SENDMAIL") {
        Ok(r) => Some(PathBuf::from(r)),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("CI must run the Sendmail tests: set HALLPASS_TEST_SENDMAIL (see .ci/run)")
        }
        Err(_) => {
            eprintln!("HALLPASS_TEST_SENDMAIL not set: Sendmail not tested here");
            None
        }
    }
}

pub struct Sendmail {
    root: PathBuf,
    dir: PathBuf,
    child: Child,
}

/// The milter line of docs/sendmail.md, with the port Hallpass's milter listens on.
pub fn documented_milter_line(milter_port: u16) -> String {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/sendmail.md"))
            .unwrap();
    let line = doc
        .lines()
        .find(|l| l.starts_with("INPUT_MAIL_FILTER("))
        .expect("docs/sendmail.md has the INPUT_MAIL_FILTER line");
    line.replace("inet:10029@", &format!("inet:{milter_port}@"))
}

impl Sendmail {
    /// Builds `sendmail.cf` under `dir` and starts the daemon on `smtpd`, relaying
    /// everything to `[127.0.0.1]:sink`, with `milter` (an `INPUT_MAIL_FILTER` line) in its
    /// `sendmail.mc`. Returns once it accepts connections.
    pub fn start(root: &Path, dir: &Path, smtpd: u16, sink: u16, milter: &str) -> Sendmail {
        use std::os::unix::fs::PermissionsExt;
        let queue = dir.join("queue");
        std::fs::create_dir_all(&queue).unwrap();
        std::fs::set_permissions(&queue, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(dir.join("statistics"), "").unwrap();
        std::fs::write(
            dir.join("hosts"),
            "127.0.0.1 sendmail-test.localdomain sendmail-test localhost\n",
        )
        .unwrap();
        std::fs::write(dir.join("nsswitch.conf"), "hosts: files\n").unwrap();
        std::fs::write(dir.join("resolv.conf"), "nameserver 127.0.0.1\n").unwrap();
        std::fs::write(dir.join("service.switch"), "hosts files\naliases files\n").unwrap();
        let d = dir.display();
        let mc = format!(
            "divert(-1)
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
VERSIONID(`hallpass end-to-end test')dnl
OSTYPE(`linux')dnl
define(`confDONT_BLAME_SENDMAIL', `GroupWritableDirPathSafe,TrustStickyBit,NonRootSafeAddr')dnl
define(`QUEUE_DIR', `{d}/queue')dnl
define(`confPID_FILE', `{d}/sendmail.pid')dnl
define(`STATUS_FILE', `{d}/statistics')dnl
define(`confSERVICE_SWITCH_FILE', `{d}/service.switch')dnl
define(`ALIAS_FILE', `')dnl
define(`confHOST_STATUS_DIRECTORY', `')dnl
define(`confRUN_AS_USER', `root')dnl
define(`confDOMAIN_NAME', `sendmail-test.localdomain')dnl
define(`confTO_IDENT', `0')dnl
define(`confDONT_PROBE_INTERFACES', `True')dnl
define(`confDELIVERY_MODE', `background')dnl
define(`SMART_HOST', `relay:[127.0.0.1]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {sink}')dnl
define(`ESMTP_MAILER_ARGS', `TCP $h {sink}')dnl
define(`SMTP_MAILER_ARGS', `TCP $h {sink}')dnl
FEATURE(`nocanonify')dnl
FEATURE(`nouucp', `reject')dnl
FEATURE(`no_default_msa')dnl
FEATURE(`accept_unresolvable_domains')dnl
FEATURE(`accept_unqualified_senders')dnl
DAEMON_OPTIONS(`Port={smtpd}, Addr=127.0.0.1, Name=MTA')dnl
{milter}
MAILER(`smtp')dnl
",
            cf = root.join("usr/share/sendmail/cf").display(),
        );
        std::fs::write(dir.join("sendmail.mc"), &mc).unwrap();
        let out = Command::new("m4")
            .arg(dir.join("sendmail.mc"))
            .output()
            .expect("m4 is installed");
        assert!(
            out.status.success(),
            "m4: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(dir.join("sendmail.cf"), &out.stdout).unwrap();
        let child = command(root, dir, &["-bD"])
            .stdout(std::fs::File::create(dir.join("sendmail.log")).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("unshare (util-linux) is installed");
        super::postfix::wait_port(smtpd);
        Sendmail {
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            child,
        }
    }

    /// `sendmail -C <this cf> args…` in this Sendmail's namespaces.
    pub fn command(&self, args: &[&str]) -> Command {
        command(&self.root, &self.dir, args)
    }

    /// The queue as `sendmail -bp` lists it (`-qQ` added: the quarantined messages).
    pub fn queue(&self, quarantined: bool) -> String {
        let mut args = vec!["-bp"];
        if quarantined {
            args.push("-qQ");
        }
        let out = self.command(&args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Sendmail {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// `sendmail -C dir/sendmail.cf args…` from `root`, in namespaces of its own (see above).
fn command(root: &Path, dir: &Path, args: &[&str]) -> Command {
    let d = dir.display();
    let script = format!(
        "mount --bind {d}/hosts /etc/hosts && mount --bind {d}/nsswitch.conf /etc/nsswitch.conf \
         && mount --bind {d}/resolv.conf /etc/resolv.conf && hostname sendmail-test.localdomain \
         && exec \"$0\" -C {d}/sendmail.cf \"$@\""
    );
    let mut c = Command::new("unshare");
    c.args(["--uts", "--mount", "sh", "-c", &script])
        .arg(root.join("usr/libexec/sendmail/sendmail"))
        .args(args);
    c
}
