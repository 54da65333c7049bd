//! The runtime table: which languages exist, their image, file and command.
//! Loaded from TOML (the built-in `runtimes.toml`, or `EXECBOX_RUNTIMES`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The table that ships inside the binary.
pub(crate) const BUILTIN: &str = include_str!("../runtimes.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// Canonical name, stored on sessions as requested by users.
    pub language: String,
    pub version: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// File extensions (without the dot) that mean this language.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Image the container runs.
    pub image: String,
    /// Judge0 CE 1.13.1 language ids that mean this runtime.
    #[serde(default)]
    pub judge0: Option<Judge0Language>,
    /// Directory under `images/` holding the Dockerfile that builds `image`.
    pub build: String,
    /// File name the submitted code is written to, inside `/work`. With a
    /// `main` rule, `{main}` in it (and in `compile` and `run`) is the name
    /// the code declares.
    pub file: String,
    /// The language's hello world (it prints `Hello, world!`): the
    /// playground's template; the suite runs it for every built-in
    /// language. Optional in a deployment's own table.
    #[serde(default)]
    pub hello: String,
    /// How the code names its entry point, for languages whose file must be
    /// named after it (Java's public class).
    #[serde(default)]
    pub main: Option<MainRule>,
    /// Compile command (argv, in `/work`), for languages with a compile
    /// stage; it runs with its own time and memory limits before `run`.
    #[serde(default)]
    pub compile: Option<Vec<String>>,
    /// Command run in `/work`, as argv.
    pub run: Vec<String>,
    /// Size of the `/work` tmpfs in MB when the default is too small
    /// (compilers' caches and outputs).
    #[serde(default)]
    pub work_mb: Option<u64>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The wall this runtime's sessions get instead of the deployment's
    /// (`EXECBOX_ISOLATION`): for a language that cannot run under gVisor.
    /// A loosening, so it says why (`isolation_reason`).
    #[serde(default)]
    pub isolation: Option<crate::model::Isolation>,
    #[serde(default)]
    pub isolation_reason: Option<String>,
    /// What the image holds beyond the language itself (documentation: the
    /// README's table shows it).
    #[serde(default)]
    pub libraries: Vec<String>,
    /// Start the interpreter before the code arrives, its script a FIFO fed
    /// when every file is written (see the launcher, `src/sandbox/launcher.rs`): its startup
    /// overlaps the transfer, and a warm container pays it before the
    /// session. Only for interpreters that read their script once, through
    /// open(), to its end, and accept a FIFO there (CPython, Node.js);
    /// ignored with a compile stage and in validation.
    #[serde(default)]
    pub prestart: bool,
    /// Extra file names that change how the interpreter starts (Node.js's
    /// `package.json`): a session that sends one runs without prestart (so
    /// never in a warm container), as the interpreter must see it at startup.
    #[serde(default)]
    pub prestart_unless: Vec<String>,
    /// How to validate a solution against a test suite in this language.
    #[serde(default)]
    pub(crate) validate: Option<Validate>,
    /// How to time a validated solution's test suite in one process.
    #[serde(default)]
    pub(crate) benchmark: Option<Benchmark>,
}

/// How the Judge0 API names a runtime.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Judge0Language {
    pub ids: Vec<u32>,
    pub name: String,
}

impl Runtime {
    /// Its language's name, then its aliases: every name a request may use.
    pub fn names(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.language).chain(&self.aliases)
    }

    /// The `--prestart` file of a plain run that brings these extra files,
    /// when this runtime has one.
    /// The main file's name and the commands for `code` (see [`MainRule`]).
    pub(crate) fn entry(&self, code: &str) -> Entry {
        let Some(rule) = &self.main else {
            return Entry { file: self.file.clone(), compile: self.compile.clone(), run: self.run.clone() };
        };
        let name = rule.name_in(code);
        let fill = |words: &[String]| words.iter().map(|w| w.replace("{main}", &name)).collect::<Vec<_>>();
        Entry {
            file: self.file.replace("{main}", &name),
            compile: self.compile.as_deref().map(fill),
            run: fill(&self.run),
        }
    }

    pub(crate) fn prestart_file<'a>(&self, mut extra_files: impl Iterator<Item = &'a str>) -> Option<&str> {
        let blocked = extra_files.any(|n| self.prestart_unless.iter().any(|u| u == n));
        (self.prestart && self.compile.is_none() && !blocked).then_some(self.file.as_str())
    }
}

/// What a language's code is run as: its main file's name and its commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub file: String,
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
}

/// Where the code declares the name its file must have: the first match of
/// `pattern`'s group 1 (an identifier), else `default`; in lower case when
/// the language's files are named so (Ada's GNAT: `hello_world.adb` for
/// `procedure Hello_World`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MainRule {
    pattern: String,
    default: String,
    #[serde(default)]
    lowercase: bool,
    #[serde(skip)]
    compiled: Option<regex::Regex>,
}

impl MainRule {
    fn name_in<'a>(&'a self, code: &'a str) -> std::borrow::Cow<'a, str> {
        let name = self
            .compiled
            .as_ref()
            .and_then(|re| re.captures(code))
            .and_then(|c| c.get(1))
            .map(|m| m.as_str())
            .filter(|n| is_identifier(n))
            .unwrap_or(&self.default);
        if self.lowercase {
            name.to_ascii_lowercase().into()
        } else {
            name.into()
        }
    }
}

/// A plain identifier: what a `{main}` may be, so that file names and
/// arguments made of it stay plain.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 100
}

/// Benchmark mode: harness files added to the validation's, an optional
/// compile command replacing the validation's (to build the harness too),
/// and the harness command. Templates and commands may use `{runs}`,
/// `{warmup}` and `{test_names}`; the harness writes one duration in
/// nanoseconds per timed run, a line each, to `output`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Benchmark {
    #[serde(default)]
    pub files: Vec<TemplateFile>,
    #[serde(default)]
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    pub output: String,
}

/// The values a template may name.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Vars<'a> {
    pub solution: &'a str,
    pub tests: &'a str,
    pub runs: u64,
    pub warmup: u64,
    /// Test functions the tests declare, comma-separated (where the
    /// language needs them listed).
    pub test_names: &'a str,
}

/// Expands `{solution}`, `{tests}`, `{runs}`, `{warmup}` and `{test_names}`
/// in one pass, so a solution that contains "{tests}" is not expanded.
pub(crate) fn render(template: &str, v: &Vars<'_>) -> String {
    let (runs, warmup) = (v.runs.to_string(), v.warmup.to_string());
    let table: [(&str, &str); 5] = [
        ("{solution}", v.solution),
        ("{tests}", v.tests),
        ("{runs}", &runs),
        ("{warmup}", &warmup),
        ("{test_names}", v.test_names),
    ];
    let mut out = String::with_capacity(template.len() + v.solution.len() + v.tests.len());
    let mut rest = template;
    'scan: while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        for (key, value) in table {
            if let Some(t) = tail.strip_prefix(key) {
                out.push_str(value);
                rest = t;
                continue 'scan;
            }
        }
        out.push('{');
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// Validation: which files to write (templates over `{solution}` and
/// `{tests}`), how to compile and run the language's test framework, and
/// where its machine-readable report is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Validate {
    pub files: Vec<TemplateFile>,
    #[serde(default)]
    pub compile: Option<Vec<String>>,
    pub run: Vec<String>,
    /// The report file the framework writes, inside `/work`.
    pub report: String,
    /// The runner writes its report on stdout (taken into `report`).
    #[serde(default)]
    pub report_from_stdout: bool,
    /// `junit` (XML), `tap`, `libtest` (Rust's --logfile) or `gotest` (`go test -v`).
    pub format: crate::model::ReportFormat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateFile {
    pub name: String,
    pub content: String,
}

impl TemplateFile {
    pub(crate) fn render(&self, v: &Vars<'_>) -> String {
        render(&self.content, v)
    }
}

#[derive(Debug, Deserialize)]
struct File {
    runtime: Vec<Runtime>,
}

/// What one worker's engine can run: the runtimes whose image it has, and
/// every name (language and aliases, lower case) of those it has not, which
/// its claims leave to other workers. A language no runtime knows is not
/// refused: any worker claims it, to end it as an invalid request.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Runnable {
    pub languages: Vec<String>,
    /// Every name (lower case) of the runtimes whose image is missing...
    pub refused: Vec<String>,
    /// ...and, for each, its runtime's language.
    pub refused_runtime: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Runtimes {
    list: Vec<Runtime>,
}

impl Runtimes {
    pub fn builtin() -> Runtimes {
        Runtimes::parse(BUILTIN).expect("the built-in runtimes.toml is valid")
    }

    /// A table of one runtime.
    pub(crate) fn of(rt: Runtime) -> Runtimes {
        Runtimes { list: vec![rt] }
    }

    pub fn load(path: Option<&Path>) -> anyhow::Result<Runtimes> {
        match path {
            None => Ok(Runtimes::builtin()),
            Some(p) => {
                let text =
                    std::fs::read_to_string(p).with_context(|| format!("cannot read runtime table {}", p.display()))?;
                Runtimes::parse(&text).with_context(|| format!("runtime table {}", p.display()))
            }
        }
    }

    pub(crate) fn parse(text: &str) -> anyhow::Result<Runtimes> {
        let mut file: File = toml::from_str(text)?;
        for rt in &mut file.runtime {
            if let Some(rule) = &mut rt.main {
                let re = regex::Regex::new(&rule.pattern)
                    .with_context(|| format!("runtime {}: main pattern {:?}", rt.language, rule.pattern))?;
                if re.captures_len() < 2 || !is_identifier(&rule.default) {
                    bail!("runtime {}: main needs a pattern with a group and an identifier as default", rt.language);
                }
                rule.compiled = Some(re);
            }
        }
        let mut seen = std::collections::HashSet::new();
        let mut judge0_ids = std::collections::HashSet::new();
        for rt in &file.runtime {
            if rt.run.is_empty() || rt.compile.as_ref().is_some_and(|c| c.is_empty()) {
                bail!("runtime {}: `run` (and `compile`, when given) must name a command", rt.language);
            }
            if rt.compile.iter().flatten().chain(&rt.run).any(|a| a == "--") {
                bail!("runtime {}: `--` cannot be a command argument (it separates compile from run)", rt.language);
            }
            if !crate::model::request::is_safe_name(&rt.entry("").file) {
                bail!("runtime {}: file name {:?} is not a plain relative name", rt.language, rt.file);
            }
            if rt.isolation.is_some() && rt.isolation_reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                bail!(
                    "runtime {}: `isolation` overrides the deployment's wall; say why in `isolation_reason`",
                    rt.language
                );
            }
            if let Some(v) = &rt.validate {
                if v.run.is_empty() || v.files.is_empty() {
                    bail!("runtime {}: validate needs `files` and `run`", rt.language);
                }
                if let Some(f) = v.files.iter().find(|f| !crate::model::request::is_safe_name(&f.name)) {
                    bail!("runtime {}: validate file name {:?} is not a plain relative name", rt.language, f.name);
                }
            }
            if rt.benchmark.is_some() && rt.validate.is_none() {
                bail!("runtime {}: benchmark needs validate (solutions are validated first)", rt.language);
            }
            if let Some(f) =
                rt.benchmark.iter().flat_map(|b| &b.files).find(|f| !crate::model::request::is_safe_name(&f.name))
            {
                bail!("runtime {}: benchmark file name {:?} is not a plain relative name", rt.language, f.name);
            }
            for name in rt.names() {
                if !seen.insert(name.to_ascii_lowercase()) {
                    bail!("language name or alias {name:?} is used twice");
                }
            }
            for id in rt.judge0.iter().flat_map(|j| &j.ids) {
                if !judge0_ids.insert(*id) {
                    bail!("Judge0 language id {id} is used twice");
                }
            }
        }
        Ok(Runtimes { list: file.runtime })
    }

    /// Finds a runtime by name or alias, ignoring case and surrounding space.
    pub fn resolve(&self, name: &str) -> Option<&Runtime> {
        let name = name.trim();
        self.list.iter().find(|rt| {
            rt.language.eq_ignore_ascii_case(name) || rt.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
        })
    }

    /// The runtime a Judge0 language id means.
    pub(crate) fn by_judge0_id(&self, id: i64) -> Option<&Runtime> {
        self.list.iter().find(|rt| rt.judge0.as_ref().is_some_and(|j| j.ids.iter().any(|&i| i as i64 == id)))
    }

    /// The runtime whose `extensions` include the file's extension.
    pub(crate) fn for_file(&self, path: &Path) -> Option<&Runtime> {
        let ext = path.extension()?.to_str()?;
        self.list.iter().find(|rt| rt.extensions.iter().any(|e| e.eq_ignore_ascii_case(ext)))
    }

    /// Which runtimes an engine can run, given which images it has.
    pub(crate) fn runnable(&self, has_image: impl Fn(&str) -> bool) -> Runnable {
        let mut r = Runnable::default();
        for rt in &self.list {
            if has_image(&rt.image) {
                r.languages.push(rt.language.clone());
            } else {
                for name in rt.names() {
                    r.refused.push(name.to_lowercase());
                    r.refused_runtime.push(rt.language.clone());
                }
            }
        }
        r
    }

    pub fn all(&self) -> &[Runtime] {
        &self.list
    }

    /// "python (py, python3), node (javascript, js, nodejs)" for error messages.
    pub(crate) fn describe(&self) -> String {
        self.list
            .iter()
            .map(|rt| {
                if rt.aliases.is_empty() {
                    rt.language.clone()
                } else {
                    format!("{} ({})", rt.language, rt.aliases.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The README's language table: one row per runtime, from this table
    /// (a test keeps the README's copy current).
    pub fn markdown_table(&self) -> String {
        let code = |words: &[String]| format!("`{}`", shell_words::join(words));
        let mut md = String::from(
            "| language | aliases | version | image | main file | compile | run | preinstalled |\n|---|---|---|---|---|---|---|---|\n",
        );
        for rt in &self.list {
            let aliases = if rt.aliases.is_empty() {
                "—".to_string()
            } else {
                rt.aliases.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            };
            let compile = rt.compile.as_deref().map_or("—".to_string(), code);
            let libraries = if rt.libraries.is_empty() { "—".to_string() } else { rt.libraries.join(", ") };
            md.push_str(&format!(
                "| `{}` | {aliases} | {} | `{}` | `{}` | {compile} | {} | {libraries} |\n",
                rt.language,
                rt.version,
                rt.image,
                rt.file,
                code(&rt.run)
            ));
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_runs_the_runtimes_it_has_images_for_and_refuses_the_others_by_every_name() {
        let rts = Runtimes::builtin();
        let all = rts.runnable(|_| true);
        assert_eq!(all.languages.len(), rts.all().len());
        assert!(all.refused.is_empty());
        // The JVM image missing: Java, Kotlin, Groovy and Clojure under every
        // name they answer to; nothing else.
        let no_jvm = rts.runnable(|image| image != "execbox/java:17");
        for name in ["java", "kotlin", "kt", "groovy", "gvy", "clojure", "clj"] {
            assert!(no_jvm.refused.contains(&name.to_string()), "{name}: {no_jvm:?}");
        }
        assert!(!no_jvm.languages.contains(&"java".to_string()));
        assert!(no_jvm.languages.contains(&"python".to_string()));
        assert!(!no_jvm.refused.contains(&"python".to_string()));
        let jvm = rts.all().iter().filter(|rt| rt.image == "execbox/java:17").count();
        assert_eq!(no_jvm.languages.len(), rts.all().len() - jvm);
        // Nothing present: every name of every runtime, lower case.
        let none = rts.runnable(|_| false);
        assert!(none.languages.is_empty());
        assert!(none.refused.iter().all(|n| *n == n.to_lowercase()));
        assert!(none.refused.contains(&"c#".to_string()) && none.refused.contains(&"py".to_string()));
        let runtime_of = |name: &str| none.refused.iter().position(|n| n == name).map(|i| &none.refused_runtime[i]);
        assert_eq!(runtime_of("c#").map(String::as_str), Some("csharp"));
        assert_eq!(runtime_of("py").map(String::as_str), Some("python"));
        assert_eq!(none.refused.len(), none.refused_runtime.len());
    }

    #[test]
    fn java_files_are_named_after_the_public_class() {
        let rts = Runtimes::builtin();
        let java = rts.resolve("java").unwrap();
        let hello = java.entry(
            "import java.util.*;\n\npublic final class HelloWorld {\n  public static void main(String[] a) {}\n}\n",
        );
        assert_eq!(hello.file, "HelloWorld.java");
        assert_eq!(hello.run.last().unwrap(), "HelloWorld");
        assert_eq!(hello.compile.unwrap().last().unwrap(), "HelloWorld.java");
        for code in ["class Helper {}", "// public class Nope\nclass X {}", ""] {
            let e = java.entry(code);
            assert_eq!((e.file.as_str(), e.run.last().unwrap().as_str()), ("Main.java", "Main"), "{code:?}");
        }
        // Ada's file is the main procedure's name in lower case.
        let ada = rts.resolve("ada").unwrap();
        let table = [
            ("with Ada.Text_IO;\nprocedure Hello_World is\nbegin\n   null;\nend Hello_World;", "hello_world.adb"),
            ("PROCEDURE Test IS BEGIN null; END;", "test.adb"),
            ("-- no procedure", "main.adb"),
        ];
        for (code, file) in table {
            let e = ada.entry(code);
            assert_eq!(e.file, file, "{code:?}");
            assert_eq!(e.compile.unwrap().last().unwrap(), file);
        }
        // Without a rule, the table's names as they are.
        let py = rts.resolve("python").unwrap().entry("public class X {}");
        assert_eq!(py.file, "main.py");
    }

    /// The README's table between its markers is `markdown_table`'s
    /// (`EXECBOX_UPDATE_README=1` rewrites it).
    #[test]
    fn the_readme_language_table_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let (start, end) = ("<!-- languages: generated from runtimes.toml -->\n", "<!-- /languages -->");
        let from = readme.find(start).expect("the README's table start marker") + start.len();
        let to = readme[from..].find(end).expect("the README's table end marker") + from;
        let table = Runtimes::builtin().markdown_table();
        if std::env::var_os("EXECBOX_UPDATE_README").is_some() {
            std::fs::write(path, format!("{}{table}{}", &readme[..from], &readme[to..])).unwrap();
            return;
        }
        assert_eq!(&readme[from..to], table, "README.md's language table is stale: run with EXECBOX_UPDATE_README=1");
    }

    /// Piston's names of languages not offered here resolve to nothing, not
    /// to another language (Piston's `fs` is F#, not Forth).
    #[test]
    fn names_of_languages_not_offered_resolve_to_none() {
        let rts = Runtimes::builtin();
        for name in ["fs", "fsharp", "f#", "fsx", "vb", "basic", "jl", "julia", "zig", "swift", "dart", "scala", "st"] {
            assert!(rts.resolve(name).is_none(), "{name} resolves to {:?}", rts.resolve(name).map(|r| &r.language));
        }
    }

    #[test]
    fn every_builtin_runtime_has_a_hello_world() {
        // What it prints is checked by running it (tests/it/languages.rs).
        for rt in Runtimes::builtin().all() {
            assert!(!rt.hello.trim().is_empty(), "{} has no hello world", rt.language);
        }
    }

    #[test]
    fn pistons_names_and_aliases_resolve() {
        let rts = Runtimes::builtin();
        let table = [
            ("c++", "cpp"),
            ("cpp", "cpp"),
            ("g++", "cpp"),
            ("c", "c"),
            ("gcc", "c"),
            ("cs", "csharp"),
            ("csharp", "csharp"),
            ("c#", "csharp"),
            ("mono", "csharp"),
            ("kt", "kotlin"),
            ("kotlin", "kotlin"),
            ("rb", "ruby"),
            ("ruby", "ruby"),
            ("bash", "bash"),
            ("sh", "bash"),
            ("dash", "dash"),
            ("awk", "awk"),
            ("gawk", "awk"),
            ("f90", "fortran"),
            ("fortran", "fortran"),
            ("d", "d"),
            ("gdc", "d"),
            ("cl", "lisp"),
            ("lisp", "lisp"),
            ("sbcl", "lisp"),
            ("hs", "haskell"),
            ("haskell", "haskell"),
            ("ml", "ocaml"),
            ("ocaml", "ocaml"),
            ("exs", "elixir"),
            ("elixir", "elixir"),
            ("erl", "erlang"),
            ("erlang", "erlang"),
            ("rkt", "racket"),
            ("racket", "racket"),
            ("scheme", "scheme"),
            ("guile", "scheme"),
            ("pp", "pascal"),
            ("pascal", "pascal"),
            ("fpc", "pascal"),
            ("ll", "llvm_ir"),
            ("llvm_ir", "llvm_ir"),
            ("sql", "sqlite3"),
            ("sqlite", "sqlite3"),
            ("sqlite3", "sqlite3"),
            ("verilog", "iverilog"),
            ("iverilog", "iverilog"),
            ("bf", "brainfuck"),
            ("brainfuck", "brainfuck"),
            ("r", "rscript"),
            ("rscript", "rscript"),
            ("octave", "octave"),
            ("matlab", "octave"),
            ("cob", "cobol"),
            ("cobol", "cobol"),
            ("raku", "raku"),
            ("perl6", "raku"),
            ("nasm", "nasm"),
            ("nasm64", "nasm64"),
            ("crystal", "crystal"),
            ("cr", "crystal"),
            ("groovy", "groovy"),
            ("clojure", "clojure"),
            ("clj", "clojure"),
            ("java", "java"),
            ("go", "go"),
            ("rust", "rust"),
            ("rs", "rust"),
            ("ts", "typescript"),
            ("typescript", "typescript"),
            ("js", "node"),
            ("javascript", "node"),
            ("py", "python"),
            ("python", "python"),
            ("pypy", "pypy3"),
            ("coffeescript", "coffeescript"),
            ("coffee", "coffeescript"),
            ("el", "emacs"),
            ("emacs", "emacs"),
            ("prolog", "prolog"),
            ("forth", "forth"),
            ("lua", "lua"),
            ("perl", "perl"),
            ("pl", "perl"),
            ("php", "php"),
            ("tcl", "tcl"),
            ("nim", "nim"),
            ("ada", "ada"),
        ];
        for (name, lang) in table {
            assert_eq!(rts.resolve(name).map(|r| r.language.as_str()), Some(lang), "{name}");
        }
    }

    #[test]
    fn builtin_table_resolves_names_and_aliases() {
        let rts = Runtimes::builtin();
        for (name, lang) in [
            ("python", "python"),
            ("PY", "python"),
            (" python3 ", "python"),
            ("node", "node"),
            ("js", "node"),
            ("javascript", "node"),
            ("nodejs", "node"),
        ] {
            assert_eq!(rts.resolve(name).map(|r| r.language.as_str()), Some(lang), "{name}");
        }
        assert!(rts.resolve("intercal").is_none());
        assert_eq!(rts.for_file(Path::new("dir/hello.py")).unwrap().language, "python");
        assert_eq!(rts.for_file(Path::new("x.MJS")).unwrap().language, "node");
        assert!(rts.for_file(Path::new("Makefile")).is_none());
        assert!(rts.resolve("").is_none());
        assert!(rts.describe().contains("python (py, python3)"));
    }

    #[test]
    fn templates_expand_once() {
        let v = Vars { solution: "a {tests} b", tests: "T", runs: 100, warmup: 10, test_names: "A, B" };
        assert_eq!(
            render("{solution}\n--\n{tests}{x}{runs}/{warmup} [{test_names}]", &v),
            "a {tests} b\n--\nT{x}100/10 [A, B]"
        );
    }

    #[test]
    fn bad_tables_are_refused() {
        let dup = "[[runtime]]\nlanguage='a'\nversion='1'\naliases=['b']\nimage='i'\nbuild='x'\nfile='m'\nrun=['x']\n\
                   [[runtime]]\nlanguage='B'\nversion='1'\nimage='i'\nbuild='x'\nfile='m'\nrun=['x']\n";
        assert!(Runtimes::parse(dup).is_err());
        let escape = "[[runtime]]\nlanguage='a'\nversion='1'\nimage='i'\nbuild='x'\nfile='../m'\nrun=['x']\n";
        assert!(Runtimes::parse(escape).is_err());
        // A runtime's own wall needs its reason; an unknown wall is refused.
        let plain = "[[runtime]]\nlanguage='a'\nversion='1'\nimage='i'\nbuild='x'\nfile='m'\nrun=['x']\n";
        let err = Runtimes::parse(&format!("{plain}isolation='runc'\n")).unwrap_err().to_string();
        assert!(err.contains("isolation_reason"), "{err}");
        assert!(Runtimes::parse(&format!("{plain}isolation='vm'\nisolation_reason='r'\n")).is_err());
        let own = Runtimes::parse(&format!("{plain}isolation='runc'\nisolation_reason='needs io_uring'\n")).unwrap();
        assert_eq!(own.all()[0].isolation, Some(crate::model::Isolation::Runc));
    }
}
