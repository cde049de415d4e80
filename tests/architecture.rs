//! The layering docs/architecture.md promises, checked on the source: no file imports,
//! directly or through others, a file that imports it (paths followed: `crate::…`,
//! `super::…`, grouped `{…}` imports, and a file's own child modules); the milter never
//! imports the SMTP relay nor the relay the milter; no module but the command line imports
//! the assembled `config`; `settings` and `metrics` import nothing of Hallpass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Every `.rs` file under src/ with its module path (`src/scan/extract/mod.rs` →
/// `["scan", "extract"]`, `src/lib.rs` → `[]`).
fn files() -> BTreeMap<PathBuf, (Vec<String>, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    let tests = Regex::new(r"(?s)#\[cfg\(test\)\]\s*mod tests \{.*").unwrap();
    paths
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut module: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(
                module.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                module.pop();
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // Unit tests may import anything.
            let text = tests.replace(&text, "").into_owned();
            (p, (module, text))
        })
        .collect()
}

/// Who imports whom, file to file.
fn edges() -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let files = files();
    let by_module: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|(p, (m, _))| (m.clone(), p.clone()))
        .collect();
    // The longest module path that is a file.
    let resolve = |parts: &[String]| -> Option<PathBuf> {
        (1..=parts.len())
            .rev()
            .find_map(|n| by_module.get(&parts[..n]).cloned())
    };
    let ident = Regex::new(r"^[a-z_][a-z0-9_]*$").unwrap();
    let path = Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)").unwrap();
    let group = Regex::new(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)*)::\{([^{}]*)\}").unwrap();
    let child = Regex::new(r"(?m)^\s*(?:pub(?:\([a-z]+\))? )?mod ([a-z_0-9]+);").unwrap();
    let mut out: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for (file, (module, text)) in &files {
        let parent = &module[..module.len().saturating_sub(1)];
        let base = |root: &str, rest: &str| -> Vec<String> {
            let mut v: Vec<String> = if root == "crate" {
                Vec::new()
            } else {
                parent.to_vec()
            };
            v.extend(
                rest.split("::")
                    .filter(|s| ident.is_match(s))
                    .map(String::from),
            );
            v
        };
        let mut to = BTreeSet::new();
        for c in path.captures_iter(text) {
            to.extend(resolve(&base(&c[1], &c[2])));
        }
        for c in group.captures_iter(text) {
            for item in c[3].split(',') {
                let mut parts = base(&c[1], &c[2]);
                parts.extend(
                    item.trim()
                        .split("::")
                        .filter(|s| ident.is_match(s) && *s != "self")
                        .map(String::from),
                );
                to.extend(resolve(&parts));
            }
        }
        for c in child.captures_iter(text) {
            let kid = &c[1];
            let uses = Regex::new(&format!(r"(?:^|[^:\w]){kid}((?:::[a-z_][a-z0-9_]*)+)")).unwrap();
            for u in uses.captures_iter(text) {
                let mut parts = module.clone();
                parts.push(kid.to_string());
                parts.extend(u[1].split("::").filter(|s| !s.is_empty()).map(String::from));
                to.extend(resolve(&parts));
            }
        }
        to.remove(file);
        out.insert(file.clone(), to);
    }
    out
}

/// The top-level module a file belongs to (`src/scan/mime.rs` → "scan").
fn top(p: &Path) -> String {
    let rel = p
        .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
        .unwrap();
    rel.components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

#[test]
fn no_file_imports_a_file_that_imports_it() {
    let edges = edges();
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a Path, usize>,
        low: BTreeMap<&'a Path, usize>,
        stack: Vec<&'a Path>,
        on: BTreeSet<&'a Path>,
        circles: Vec<Vec<PathBuf>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Path) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on.insert(v);
        for w in &s.edges[v] {
            let w = w.as_path();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut circle = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on.remove(w);
                circle.push(w.to_path_buf());
                if w == v {
                    break;
                }
            }
            if circle.len() > 1 {
                s.circles.push(circle);
            }
        }
    }
    let mut s = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        circles: Vec::new(),
    };
    for v in edges.keys() {
        if !s.index.contains_key(v.as_path()) {
            visit(&mut s, v);
        }
    }
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the import graph was read"
    );
    assert!(s.circles.is_empty(), "import circles: {:#?}", s.circles);
}

#[test]
fn the_layers_hold() {
    let edges = edges();
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in &edges {
        for to in tos {
            let (a, b) = (top(from), top(to));
            if a != b {
                imports.entry(a).or_default().insert(b);
            }
        }
    }
    let of = |m: &str| imports.get(m).cloned().unwrap_or_default();
    assert!(!of("milter").contains("smtp"), "{:?}", of("milter"));
    assert!(!of("smtp").contains("milter"), "{:?}", of("smtp"));
    assert!(of("settings").is_empty(), "{:?}", of("settings"));
    assert!(of("metrics").is_empty(), "{:?}", of("metrics"));
    assert!(of("dispatch").is_disjoint(&BTreeSet::from(["smtp".into(), "milter".into()])));
    let config_users: Vec<&String> = imports
        .iter()
        .filter(|(_, to)| to.contains("config"))
        .map(|(from, _)| from)
        .collect();
    assert!(
        config_users
            .iter()
            .all(|m| matches!(m.as_str(), "main" | "admin")),
        "only the command line imports the assembled config: {config_users:?}"
    );
    // The graph is real: the relay does use the dispatcher.
    assert!(of("smtp").contains("dispatch") && of("milter").contains("dispatch"));
}
