//! The systemd unit: `systemd-analyze verify` accepts it (with ExecStart pointing at the
//! binary just built) and `systemd-analyze security` rates its exposure at 2.0 or better.

use std::process::Command;

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string("systemd/hallpass.service")
        .unwrap()
        .replace("/usr/local/bin/hallpass", env!("CARGO_BIN_EXE_hallpass"));
    let path = dir.join("hallpass.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn unit_verifies_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let path = unit_for_this_build(tmp.path());
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian package systemd) is installed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("hallpass.service"),
        "warnings about the unit: {stderr}"
    );
}

#[test]
fn unit_exposure_is_at_most_two() {
    let tmp = tempfile::tempdir().unwrap();
    let path = unit_for_this_build(tmp.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for hallpass.service: ")
                .nth(1)
        })
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}"));
    assert!(score <= 2.0, "exposure {score}:\n{text}");
}
