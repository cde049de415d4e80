//! Every sample message in samples/messages/ through the real `hallpass scan --json`, compared
//! with the expected result beside it: each recipient's action, the set of finding kinds, and
//! (where the expectation says so) that the scan was incomplete.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// The samples are judged at a fixed time (a Wednesday morning in term).
const NOW: &str = "2026-11-25T10:00:00Z";

fn scan(eml: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_hallpass"))
        .args([
            "scan",
            "--config",
            "samples/hallpass.toml",
            "--json",
            "--now",
            NOW,
        ])
        .arg(eml)
        .output()
        .expect("run hallpass");
    assert!(
        out.status.success(),
        "{}: exit {:?}: {}",
        eml.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

#[test]
fn sample_corpus_matches_expected_results() {
    let dir = Path::new("samples/messages");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 60, "only {} sample messages", names.len());
    let mut failures = Vec::new();
    for eml in &names {
        let expected_path = eml.with_extension("expected.json");
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display())),
        )
        .unwrap();
        let got = scan(eml);
        let got_rcpts: BTreeMap<String, String> = got["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["address"].as_str().unwrap().to_string(),
                    r["action"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want_rcpts: BTreeMap<String, String> = expected["recipients"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let got_kinds: BTreeSet<String> = got["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect();
        let want_kinds: BTreeSet<String> = expected["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let want_complete = expected
            .get("complete")
            .and_then(|c| c.as_bool())
            .unwrap_or(true);
        let got_complete = got["complete"].as_bool().unwrap();
        if got_rcpts != want_rcpts || got_kinds != want_kinds || got_complete != want_complete {
            failures.push(format!(
                "{}:\n  recipients want {want_rcpts:?}\n             got  {got_rcpts:?}\n  kinds want {want_kinds:?}\n        got  {got_kinds:?}\n  complete want {want_complete} got {got_complete}\n  reasons: {}",
                eml.display(),
                serde_json::to_string(&got["recipients"]).unwrap()
            ));
        }
        // Names are never printed in full.
        let text = serde_json::to_string(&got).unwrap();
        for name in [
            "Leah Walker",
            "Grace Wood",
            "Chidi Okafor",
            "Tom Clark",
            "B201439623222",
        ] {
            assert!(
                !text.contains(name),
                "{}: output shows {name:?} unmasked",
                eml.display()
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} samples differ:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}
