//! ARCHITECTURE.md's dependency rules, checked: every `crate::` path in a
//! module's source names a module its layer may use.

use std::collections::BTreeSet;
use std::path::Path;

/// The crate's root items every layer may use (helpers in `lib.rs`).
const ROOT: &[&str] = &["error_chain", "embedded"];

/// Each top-level module and the modules it may use, bottom up.
fn allowed(module: &str) -> Option<&'static [&'static str]> {
    const VOCABULARY: &[&str] = &["model", "config", "runtimes", "metrics"];
    Some(match module {
        "model" | "config" | "runtimes" | "metrics" => VOCABULARY,
        "output" | "validate" => VOCABULARY,
        "sandbox" => &["model", "config", "runtimes", "metrics", "output", "validate"],
        "db" => &["model", "config", "runtimes", "metrics", "output"],
        // The Data API's client reads into the database layer's rows.
        "rest" => &["model", "config", "runtimes", "metrics", "db"],
        "exec" => &["model", "config", "runtimes", "metrics", "output", "validate", "sandbox", "db"],
        "worker" => &["model", "config", "runtimes", "metrics", "output", "validate", "sandbox", "db", "exec"],
        "api" => &["model", "config", "runtimes", "metrics", "output", "validate", "db"],
        // A node: the API and a worker side by side.
        "server" => &["model", "config", "runtimes", "metrics", "api", "worker"],
        // Tooling on top: anything.
        "cli" | "dev" | "doctor" | "images" | "bench" | "dependency_rules" => return None,
        _ => panic!("src/{module} is in no layer of ARCHITECTURE.md's dependency rules"),
    })
}

/// Inside `sandbox`, the run's driver and the warm pool sit on top: the
/// modules below them (the engine, the launcher protocol, the policy, the
/// stages, the state machine, the walls) never use them.
const SANDBOX_TOP: &[&str] = &["run", "warm"];

/// The top-level modules a source text names through `crate::`: `crate::db`
/// and each first name of `crate::{db::x, model}`.
fn used(source: &str) -> BTreeSet<String> {
    named(source, "crate::")
}

/// The first names after `prefix` in a source text: `prefix` + `a::x` and
/// each of `prefix` + `{a::x, b}`.
fn named(source: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for (i, _) in source.match_indices(prefix) {
        let rest = &source[i + prefix.len()..];
        // `$crate::` in a macro is the crate too.
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        start = false;
                        out.insert(ident(&group[j..]));
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut broken = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        let module = match rel.components().next().unwrap().as_os_str().to_str().unwrap() {
            "lib.rs" | "main.rs" => continue,
            m => m.trim_end_matches(".rs").to_string(),
        };
        let Some(may) = allowed(&module) else { continue };
        for used in used(&std::fs::read_to_string(&file).unwrap()) {
            if used != module && !may.contains(&used.as_str()) && !ROOT.contains(&used.as_str()) {
                broken.push(format!("{} uses crate::{used}", rel.display()));
            }
        }
    }
    assert!(broken.is_empty(), "imports the dependency rules forbid:\n{}", broken.join("\n"));
}

#[test]
fn the_sandbox_below_its_driver_and_pool_uses_neither() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sandbox");
    // What `sandbox/mod.rs` re-exports, by the module it comes from.
    let root = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    let mut from = std::collections::BTreeMap::new();
    for line in root.lines().filter(|l| l.contains("use ") && !l.trim_start().starts_with("//")) {
        let module: String = line.split("use ").nth(1).unwrap().chars().take_while(|c| *c != ':').collect();
        for name in named(line, &format!("{module}::")) {
            from.insert(name, module.clone());
        }
    }
    let mut files = Vec::new();
    sources(&dir, &mut files);
    let mut broken = Vec::new();
    for file in files {
        // `run/read.rs` is part of `run`.
        let first = file.strip_prefix(&dir).unwrap().components().next().unwrap();
        let module = first.as_os_str().to_str().unwrap().trim_end_matches(".rs").to_string();
        if module == "mod" || SANDBOX_TOP.contains(&module.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        for name in named(&source, "super::").into_iter().chain(named(&source, "crate::sandbox::")) {
            let origin = from.get(&name).unwrap_or(&name);
            if SANDBOX_TOP.contains(&origin.as_str()) {
                broken.push(format!("sandbox/{module}.rs uses {name} (from sandbox::{origin})"));
            }
        }
    }
    assert!(broken.is_empty(), "the sandbox's lower modules use its top:\n{}", broken.join("\n"));
}

#[test]
fn paths_are_read_as_written() {
    let cases: &[(&str, &[&str])] = &[
        ("use crate::db::queue;", &["db"]),
        ("use crate::{db::{self, queue}, model::Request};", &["db", "model"]),
        ("crate::sandbox::Engine::connect(x)", &["sandbox"]),
        ("$crate::model::UnknownValue", &["model"]),
        ("use crate::{\n    api,\n    exec::{a, b},\n};", &["api", "exec"]),
        ("no paths at all", &[]),
    ];
    for (text, want) in cases {
        let got: Vec<String> = used(text).into_iter().collect();
        assert_eq!(got, *want, "{text}");
    }
}
