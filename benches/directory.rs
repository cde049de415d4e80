//! Directory load speed: parse and index a generated 100,000-pupil SIMS-style roster.
//! (The 1,000,000-pupil time and memory figures come from `benches/roster-load.sh`.)

use criterion::{Criterion, criterion_group, criterion_main};
use hallpass::config::Config;
use hallpass::directory::Directory;
use hallpass::synth::{RosterSpec, roster_csv};

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let csv = roster_csv(&RosterSpec {
        pupils: 100_000,
        seed: 42,
        la: 881,
        estab: 4000,
        pupil_domain: "pupils.big.example.sch.uk",
        varied: true,
    });
    std::fs::write(dir.path().join("pupils.csv"), csv).unwrap();
    let toml = "[trust]\nname = \"Bench\"\n[[school]]\nid = \"big\"\nname = \"Big\"\n\
                domains = [\"big.example.sch.uk\"]\nroster = \"pupils.csv\"\ndpl = \"dpo@big.example.sch.uk\"\n";
    let path = dir.path().join("hallpass.toml");
    std::fs::write(&path, toml).unwrap();
    let config = Config::load(&path).unwrap();
    let mut g = c.benchmark_group("directory");
    g.sample_size(10);
    g.bench_function("load_100k_pupils", |b| {
        b.iter(|| {
            let d = Directory::load(&config.site).unwrap();
            assert_eq!(d.pupils.len(), 100_000);
            d
        })
    });
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
