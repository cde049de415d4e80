//! Scanner speed (issue "scanner and policy"):
//! - a 20 KB text message against a 2,000-pupil roster (messages/s, one core);
//! - plain-text throughput with 2,000 and 1,000,000 pupils (MB/s), beside ripgrep's
//!   `rg -i -F -f forenames.txt` over the same text, when `rg` is installed.
//!
//! Run: `cargo bench --bench scan`. The text is English prose with school words and a few
//! pupil names; the big roster has tens of thousands of distinct forenames.

use std::process::Command;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hallpass::config::Config;
use hallpass::directory::Directory;
use hallpass::scan::{Envelope, Scanner};
use hallpass::synth::{Rng, RosterSpec, roster_csv};

const WORDS: &[&str] = &[
    "the",
    "pupils",
    "will",
    "be",
    "in",
    "the",
    "hall",
    "after",
    "lunch",
    "and",
    "we",
    "need",
    "to",
    "check",
    "their",
    "homework",
    "planners",
    "before",
    "the",
    "trip",
    "on",
    "Friday",
    "please",
    "remind",
    "your",
    "tutor",
    "group",
    "that",
    "reports",
    "are",
    "due",
    "next",
    "week",
    "thanks",
    "for",
    "covering",
    "period",
    "three",
    "science",
    "maths",
    "English",
    "assessment",
    "results",
    "parents",
    "evening",
    "is",
    "booked",
    "for",
    "Thursday",
    "grace",
    "young",
    "people",
    "hope",
    "may",
    "mark",
    "rose",
    "hill",
    "wood",
    "room",
    "twelve",
    "coursework",
    "deadline",
    "moderation",
    "Kind",
    "regards",
    "Head",
    "of",
    "Year",
    "8",
    "12/03/2027",
    "a",
    "an",
    "with",
    "about",
];

fn prose(bytes: usize, names: &[(String, String)], seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut s = String::with_capacity(bytes + 64);
    let mut n = 0;
    while s.len() < bytes {
        n += 1;
        if n % 400 == 0 && !names.is_empty() {
            let (f, l) = &names[rng.below(names.len())];
            s.push_str(f);
            s.push(' ');
            s.push_str(l);
        } else {
            s.push_str(WORDS[rng.below(WORDS.len())]);
        }
        s.push(if n % 14 == 0 { '\n' } else { ' ' });
    }
    s
}

struct Fixture {
    scanner: Scanner,
    names: Vec<(String, String)>,
    forenames: Vec<String>,
}

fn fixture(pupils: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let csv = roster_csv(&RosterSpec {
        pupils,
        seed: 7,
        la: 881,
        estab: 4000,
        pupil_domain: "pupils.bench.example.sch.uk",
        varied: pupils > 10_000,
    });
    let mut names = Vec::new();
    let mut forenames = std::collections::BTreeSet::new();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    for (i, r) in rdr.records().enumerate() {
        let r = r.unwrap();
        forenames.insert(r[4].to_string());
        if i % (pupils / 200).max(1) == 0 {
            names.push((r[4].to_string(), r[3].to_string()));
        }
    }
    std::fs::write(dir.path().join("pupils.csv"), csv).unwrap();
    let toml = "[trust]\nname = \"Bench\"\n[[school]]\nid = \"b\"\nname = \"Bench School\"\n\
                domains = [\"bench.example.sch.uk\"]\npupil_domains = [\"pupils.bench.example.sch.uk\"]\n\
                roster = \"pupils.csv\"\ndpl = \"dpo@bench.example.sch.uk\"\n";
    let path = dir.path().join("hallpass.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let directory = Directory::load(&config.site).unwrap();
    let scanner = Scanner::new(config.site.clone(), &config.scan, Arc::new(directory)).unwrap();
    Fixture {
        scanner,
        names,
        forenames: forenames.into_iter().collect(),
    }
}

fn message(body: &str) -> Vec<u8> {
    format!(
        "From: teacher@bench.example.sch.uk\r\nTo: someone@example.com\r\nSubject: Year 8 update\r\n\
         Date: Wed, 25 Nov 2026 10:15:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    )
    .into_bytes()
}

fn envelope() -> Envelope {
    Envelope {
        mail_from: "teacher@bench.example.sch.uk".into(),
        rcpt_to: vec!["someone@example.com".into()],
    }
}

fn bench(c: &mut Criterion) {
    let now: chrono::DateTime<chrono::Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
    let small = fixture(2_000);

    let mut g = c.benchmark_group("message_20k");
    let msg = message(&prose(20 * 1024, &small.names, 1));
    g.throughput(Throughput::Elements(1));
    g.bench_function("2k_pupils", |b| {
        b.iter(|| small.scanner.scan(&msg, &envelope(), now))
    });
    // What Postfix's smtp-source sends (benches/relay.sh): lines of a digit and X's.
    let filler: String = (0..256)
        .map(|i| format!("{}{}\n", i % 10, "X".repeat(78)))
        .collect();
    let msg = message(&filler);
    g.bench_function("smtp_source_filler", |b| {
        b.iter(|| small.scanner.scan(&msg, &envelope(), now))
    });
    g.finish();

    let rg = Command::new("rg").arg("--version").output().is_ok();
    let work = tempfile::tempdir().unwrap();
    for (label, fx) in [("2k_pupils", Some(&small)), ("1m_pupils", None)] {
        let big;
        let fx = match fx {
            Some(f) => f,
            None => {
                big = fixture(1_000_000);
                &big
            }
        };
        let text = prose(16 << 20, &fx.names, 2);
        let msg = message(&text);
        let mut g = c.benchmark_group(format!("throughput_{label}"));
        g.sample_size(10);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("hallpass_scan", |b| {
            b.iter(|| fx.scanner.scan(&msg, &envelope(), now))
        });
        if rg {
            let tp = work.path().join(format!("{label}.txt"));
            let fp = work.path().join(format!("{label}-forenames.txt"));
            std::fs::write(&tp, &text).unwrap();
            std::fs::write(&fp, fx.forenames.join("\n")).unwrap();
            g.bench_function("ripgrep_forenames", |b| {
                b.iter(|| {
                    let out = Command::new("rg")
                        .arg("-i")
                        .arg("-F")
                        .arg("-c")
                        .arg("-f")
                        .arg(&fp)
                        .arg(&tp)
                        .output()
                        .unwrap();
                    assert!(out.status.success());
                    out
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
