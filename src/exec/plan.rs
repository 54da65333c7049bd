//! A validated request turned into what the sandbox runs: the files, the
//! launcher's command line, the stages' limits and the container's spec.
//! Pure: a function of the request, the runtime table's entry and the
//! server's limits.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::Limits;
use crate::model::cases::{ValidCases, ValidChecker};
use crate::model::request::File;
use crate::model::{Isolation, ReportFormat, ValidMode, ValidRequest};
use crate::runtimes::{Runtime, Vars};
use crate::sandbox::launcher::{Launch, Report};
use crate::sandbox::policy::ContainerSpec;
use crate::sandbox::{StageLimits, Stages};

/// What one session runs.
#[derive(Debug)]
pub(super) struct Plan<'a> {
    pub(super) runtime: &'a Runtime,
    pub(super) stages: Stages,
    /// Every file for /work, the main one first.
    pub(super) files: Vec<File>,
    pub(super) launch: Launch,
    /// Set for validation runs: how to read the framework's report.
    pub(super) validation: Option<Validation>,
    /// Set for test cases: the checker's sandbox, when a program judges.
    pub(super) checker: Option<CheckerPlan<'a>>,
}

/// A checker program's sandbox: compiled once like the solution, then run
/// once per case on that case's files.
#[derive(Debug)]
pub(super) struct CheckerPlan<'a> {
    pub(super) runtime: &'a Runtime,
    pub(super) stages: Stages,
    pub(super) files: Vec<File>,
    pub(super) launch: Launch,
    /// One check's wall-clock limit.
    pub(super) timeout: Duration,
}

/// The wall a runtime's sandbox is built in: its own, else the
/// deployment's; for an anonymous caller's session, the anonymous callers'
/// wall where that is the stronger.
pub(crate) fn wall(rt: &Runtime, l: &Limits, anonymous: bool) -> Isolation {
    let own = rt.isolation.unwrap_or(l.isolation);
    match (anonymous, l.anonymous_isolation) {
        (true, Some(theirs)) => own.max(theirs),
        _ => own,
    }
}

/// Whether a sandbox in `wall` compiles apart from the run: gVisor's
/// `runsc` (Debian's, 2022) has no `update`, so a sandbox cannot take the
/// run stage's lower limits after compiling; the compiler gets a sandbox of
/// its own at the compile stage's limits, and the program one at the run
/// stage's, with the compiled /work carried across (`Launch::apart`).
pub(crate) fn compiles_apart(stages: &Stages, wall: Isolation) -> bool {
    stages.compile.is_some() && wall == Isolation::Gvisor
}

/// Why this plan's sandboxes cannot be built in their walls, if they
/// cannot: under gVisor a compiled language runs apart from its compiler
/// ([`compiles_apart`]), in every mode, but not yet as a checker program. Such a session is refused before any
/// container exists, never run with the compile stage's limits nor behind
/// runc instead.
pub(super) fn unbuildable(p: &Plan<'_>, l: &Limits, anonymous: bool) -> Option<String> {
    let c = p.checker.as_ref()?;
    compiles_apart(&c.stages, wall(c.runtime, l, anonymous)).then(|| {
        let language = &c.runtime.language;
        format!(
            "{language} compiles before it runs, and under this deployment's gVisor a compiled program runs in a \
             sandbox apart from its compiler, which a checker program does not do yet; to check in {language} \
             here, give it `isolation = \"runc\"` with an `isolation_reason` in the runtime table"
        )
    })
}

/// Output bytes a checker may print per case.
pub(super) const CHECKER_OUTPUT_BYTES: u64 = 64 * 1024;

/// The time all the cases (and their checks) may take: their limits' sum,
/// at most the server's budget (`max_cases_time_ms`; cases that would not
/// fit are not run).
fn cases_budget(cases: &ValidCases<'_>, checker: Option<Duration>, l: &Limits) -> Duration {
    let sum: Duration = cases.cases.iter().map(|c| c.timeout + checker.unwrap_or_default()).sum();
    sum.min(Duration::from_millis(l.max_cases_time_ms))
}

/// How long the run stage of a cases session may take in all, as a
/// backstop: the launcher enforces each case's limits, execbox sends no case
/// that would not fit the budget; this covers the starts and restores.
fn cases_backstop(budget: Duration, n: usize) -> Duration {
    budget + Duration::from_secs(10) + Duration::from_millis(50) * n as u32
}

#[derive(Debug, PartialEq)]
pub(super) struct Validation {
    pub(super) format: ReportFormat,
    /// Test names the tests' source declares (for text formats).
    pub(super) declared: Vec<String>,
    /// Benchmark mode: the number of timed runs expected.
    pub(super) bench: Option<u64>,
}

/// The plan of a request that passed validation.
pub(super) fn plan<'a>(req: &ValidRequest<'a>, l: &Limits) -> Plan<'a> {
    let runtime = req.runtime;
    let run = StageLimits {
        timeout: req.limits.timeout,
        memory_mb: req.limits.memory_mb,
        cpus: l.cpus,
        cpu_time: req.limits.cpu_time,
    };
    let compile_limits = StageLimits {
        timeout: req.limits.compile_timeout,
        memory_mb: req.limits.compile_memory_mb,
        cpus: l.compile_cpus,
        cpu_time: req.limits.compile_cpu_time,
    };
    let extra_names = req.files.iter().map(|f| f.name.as_str());
    let entry = runtime.entry(&req.request.code);
    let (mut files, launch, validation) = match (req.mode, &runtime.validate) {
        (ValidMode::Cases, _) => (
            vec![File { name: entry.file, content: req.request.code.as_bytes().to_vec() }],
            Launch {
                prestart: None,
                report: None,
                compile: entry.compile,
                run: [entry.run.as_slice(), req.request.args.as_slice()].concat(),
                cases: true,
                export: false,
            },
            None,
        ),
        (ValidMode::Run, _) | (_, None) => (
            vec![File { name: entry.file, content: req.request.code.as_bytes().to_vec() }],
            Launch {
                prestart: runtime.prestart_file(extra_names).map(String::from),
                report: None,
                compile: entry.compile,
                run: [entry.run.as_slice(), req.request.args.as_slice()].concat(),
                cases: false,
                export: false,
            },
            None,
        ),
        (mode, Some(v)) => {
            let benchmark = match mode {
                ValidMode::Benchmark { runs } => runtime.benchmark.as_ref().map(|b| (b, runs)),
                _ => None,
            };
            let runs = benchmark.map(|(_, r)| r).unwrap_or(1);
            // Warm-up runs are discarded: a tenth of the timed runs, 1 to 20.
            let warmup = (runs / 10).clamp(1, 20);
            let declared =
                if v.format == ReportFormat::Gotest { crate::validate::go_test_names(req.tests()) } else { Vec::new() };
            let names = declared.join(", ");
            let vars = Vars { solution: &req.request.code, tests: req.tests(), runs, warmup, test_names: &names };
            let templates = v.files.iter().chain(benchmark.iter().flat_map(|(b, _)| &b.files));
            let files =
                templates.map(|f| File { name: f.name.clone(), content: f.render(&vars).into_bytes() }).collect();
            let compile = match benchmark {
                Some((b, _)) => b.compile.clone().or_else(|| v.compile.clone()),
                None => v.compile.clone(),
            };
            let report = Report {
                path: v.report.clone(),
                from_stdout: v.report_from_stdout,
                bench: benchmark.map(|(b, _)| b.output.clone()),
                then: benchmark.map(|(b, _)| b.run.iter().map(|a| crate::runtimes::render(a, &vars)).collect()),
            };
            (
                files,
                Launch {
                    prestart: None,
                    report: Some(report),
                    compile,
                    run: v.run.clone(),
                    cases: false,
                    export: false,
                },
                Some(Validation { format: v.format, declared, bench: benchmark.map(|(_, r)| r) }),
            )
        }
    };
    files.extend(req.files.iter().cloned());
    let (run, checker) = match &req.cases {
        Some(cases) => {
            let checker = match cases.checker {
                ValidChecker::Program { runtime, code } => Some(checker_plan(runtime, code, l)),
                ValidChecker::Compare(_) => None,
            };
            let budget = cases_budget(cases, checker.as_ref().map(|c| c.timeout), l);
            let run = StageLimits {
                timeout: cases_backstop(budget, cases.cases.len()),
                memory_mb: cases.max_memory_mb(),
                // Each case has its own CPU-time limit.
                cpu_time: None,
                ..run
            };
            (run, checker)
        }
        None => (run, None),
    };
    let stages = Stages { compile: launch.compile.is_some().then_some(compile_limits), run, export: false };
    Plan { runtime, stages, files, launch, validation, checker }
}

/// The checker program's sandbox: the server's default limits.
fn checker_plan<'a>(runtime: &'a Runtime, code: &str, l: &Limits) -> CheckerPlan<'a> {
    let entry = runtime.entry(code);
    let launch =
        Launch { prestart: None, report: None, compile: entry.compile, run: entry.run, cases: true, export: false };
    let timeout = Duration::from_millis(l.default_case_timeout_ms);
    let compile = StageLimits {
        timeout: Duration::from_millis(l.default_compile_timeout_ms),
        memory_mb: l.default_compile_memory_mb,
        cpus: l.compile_cpus,
        cpu_time: None,
    };
    // Its run stage lasts as long as the solution's cases may.
    let run = StageLimits {
        timeout: Duration::from_millis(l.max_cases_time_ms) + Duration::from_secs(10),
        memory_mb: l.default_memory_mb,
        cpus: l.cpus,
        cpu_time: None,
    };
    CheckerPlan {
        runtime,
        stages: Stages { compile: launch.compile.is_some().then_some(compile), run, export: false },
        files: vec![File { name: entry.file, content: code.as_bytes().to_vec() }],
        launch,
        timeout,
    }
}

/// The container for a run of `rt` with these stages and command: the
/// container starts with the first stage's limits (the driver switches to
/// the run stage's after compiling). The warm pool uses the same function.
pub(crate) fn container_spec(
    rt: &Runtime,
    launch: &Launch,
    stages: &Stages,
    limits: &Limits,
    wall: Isolation,
    labels: HashMap<String, String>,
) -> ContainerSpec {
    let first = stages.compile.unwrap_or(stages.run);
    ContainerSpec {
        image: rt.image.clone(),
        cmd: launch.argv(),
        env: rt.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        memory_mb: first.memory_mb,
        cpus: first.cpus,
        work_mb: rt.work_mb.unwrap_or(limits.work_size_mb),
        exec_work: stages.compile.is_some(),
        isolation: wall,
        labels,
    }
}

/// The spec of a default run-mode session of `rt` (what warm containers are).
pub fn default_spec(rt: &Runtime, limits: &Limits, labels: HashMap<String, String>) -> ContainerSpec {
    let request = crate::model::Request { language: rt.language.clone(), ..Default::default() };
    let runtimes = crate::runtimes::Runtimes::of(rt.clone());
    let valid = request.validate(&runtimes, limits).expect("a default request is valid");
    let p = plan(&valid, limits);
    container_spec(rt, &p.launch, &p.stages, limits, wall(rt, limits, false), labels)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Mode, Request};
    use crate::runtimes::Runtimes;

    fn rt(name: &str) -> Runtime {
        Runtimes::builtin().resolve(name).unwrap().clone()
    }

    fn planned(req: Request, check: impl FnOnce(&Plan<'_>)) {
        let runtimes = Runtimes::builtin();
        let l = Limits::default();
        let valid = req.validate(&runtimes, &l).unwrap();
        check(&plan(&valid, &l));
    }

    #[test]
    fn only_plain_runs_of_prestart_runtimes_prestart() {
        let limits = Limits::default();
        let python = default_spec(&rt("python"), &limits, HashMap::new());
        assert_eq!(python.cmd[..3], ["--prestart", "main.py", "python3"]);
        let node = default_spec(&rt("node"), &limits, HashMap::new());
        assert_eq!(node.cmd[..3], ["--prestart", "main.js", "node"]);
        // A file the interpreter reads at startup turns it off.
        assert_eq!(rt("node").prestart_file(["util.js"].into_iter()), Some("main.js"));
        assert_eq!(rt("node").prestart_file(["package.json"].into_iter()), None);
        // Compiled languages and runtimes without the flag run as before.
        for name in ["go", "typescript"] {
            let spec = default_spec(&rt(name), &limits, HashMap::new());
            assert!(!spec.cmd.contains(&"--prestart".to_string()), "{name}: {:?}", spec.cmd);
        }
    }

    #[test]
    fn anonymous_callers_get_the_stronger_wall() {
        let (runc, gvisor) = (Isolation::Runc, Isolation::Gvisor);
        let mut own_runc = rt("python");
        own_runc.isolation = Some(runc);
        #[rustfmt::skip]
        let table: &[(Isolation, Option<Isolation>, &Runtime, bool, Isolation)] = &[
            (runc, None, &rt("python"), true, runc),
            (runc, Some(gvisor), &rt("python"), false, runc),
            (runc, Some(gvisor), &rt("python"), true, gvisor),
            (gvisor, Some(runc), &rt("python"), true, gvisor),
            (gvisor, None, &own_runc, false, runc),
            (gvisor, Some(gvisor), &own_runc, true, gvisor),
        ];
        for (deployment, anonymous_wall, runtime, anonymous, want) in table {
            let l = Limits { isolation: *deployment, anonymous_isolation: *anonymous_wall, ..Limits::default() };
            assert_eq!(wall(runtime, &l, *anonymous), *want, "{deployment:?} {anonymous_wall:?} {anonymous}");
        }
    }

    #[test]
    fn gvisor_compiles_apart_and_refuses_cases_and_validation_that_compile() {
        let req = |language: &str| Request { language: language.into(), code: "CODE".into(), ..Default::default() };
        let cases = |language: &str| Request {
            mode: Mode::Cases,
            cases: Some(serde_json::json!([{"stdin": "", "expected_output": ""}])),
            ..req(language)
        };
        let checked = |language: &str, checker: &str| Request {
            checker: Some(crate::model::Checker::Program),
            checker_code: Some("CHECK".into()),
            checker_language: Some(checker.into()),
            ..cases(language)
        };
        let runtimes = Runtimes::builtin();
        let gvisor = Limits { isolation: Isolation::Gvisor, ..Limits::default() };
        #[rustfmt::skip]
        let table: &[(Request, &Limits, bool, bool)] = &[
            // (request, limits, compiles apart, refused)
            (req("python"), &gvisor, false, false),
            (req("cpp"), &gvisor, true, false),
            (req("cpp"), &Limits::default(), false, false),
            (req("rust"), &gvisor, true, false),
            (Request { interactive: true, ..req("go") }, &gvisor, true, false),
            (cases("python"), &gvisor, false, false),
            (cases("cpp"), &gvisor, true, false),
            (checked("python", "cpp"), &gvisor, false, true),
            (checked("cpp", "python"), &gvisor, true, false),
            (checked("python", "cpp"), &Limits::default(), false, false),
        ];
        for (r, limits, apart, refused) in table {
            let valid = r.validate(&runtimes, limits).unwrap();
            let p = plan(&valid, limits);
            assert_eq!(compiles_apart(&p.stages, limits.isolation), *apart, "{} {:?}", r.language, limits.isolation);
            let why = unbuildable(&p, limits, false);
            assert_eq!(why.is_some(), *refused, "{} {:?} {:?}: {why:?}", r.language, r.mode, limits.isolation);
        }
        // A runtime of its own wall (runc, with its reason) is built.
        let mut cpp = rt("cpp");
        cpp.isolation = Some(Isolation::Runc);
        cpp.isolation_reason = Some("compiles first".into());
        let own = Runtimes::of(cpp);
        let r = checked("cpp", "cpp");
        let valid = r.validate(&own, &gvisor).unwrap();
        assert_eq!(unbuildable(&plan(&valid, &gvisor), &gvisor, false), None);
        let valid = r.validate(&runtimes, &gvisor).unwrap();
        let why = unbuildable(&plan(&valid, &gvisor), &gvisor, false).unwrap();
        assert!(why.starts_with("cpp compiles before it runs"), "{why}");
    }

    #[test]
    fn plans() {
        let req = |language: &str| Request { language: language.into(), code: "CODE".into(), ..Default::default() };
        planned(Request { args: vec!["a b".into(), "c".into()], ..req("python") }, |p| {
            assert_eq!(p.launch.argv(), ["--prestart", "main.py", "python3", "-u", "main.py", "a b", "c"]);
            assert_eq!(p.files, [File { name: "main.py".into(), content: b"CODE".to_vec() }]);
            assert_eq!(p.stages.compile, None);
            assert_eq!(p.validation, None);
        });
        planned(Request { timeout_ms: Some(2000), compile_timeout_ms: Some(9000), ..req("cpp") }, |p| {
            let c = p.stages.compile.unwrap();
            assert_eq!((c.timeout, c.memory_mb), (Duration::from_secs(9), Limits::default().default_compile_memory_mb));
            assert_eq!(p.stages.run.timeout, Duration::from_secs(2));
            assert_eq!(p.launch.argv()[0], "--compile");
            assert!(p.launch.prestart.is_none());
        });
        planned(
            Request { files: Some(serde_json::json!([{"name": "package.json", "content": "{}"}])), ..req("node") },
            |p| {
                assert!(p.launch.prestart.is_none(), "package.json is read at startup");
                assert_eq!(p.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["main.js", "package.json"]);
            },
        );
        planned(Request { mode: Mode::Validate, tests: Some("def test_a(): pass".into()), ..req("python") }, |p| {
            let v = p.validation.as_ref().unwrap();
            assert_eq!((v.format, v.bench), (ReportFormat::Junit, None));
            assert_eq!(p.launch.argv()[..2], ["--report", "/work/.execbox-report"]);
            assert_eq!(p.files[0].content, b"CODE");
            assert!(String::from_utf8_lossy(&p.files[1].content).contains("def test_a"));
        });
        planned(Request { mode: Mode::Benchmark, tests: Some(String::new()), runs: Some(50), ..req("python") }, |p| {
            assert_eq!(p.validation.as_ref().unwrap().bench, Some(50));
            let argv = p.launch.argv().join(" ");
            assert!(argv.ends_with("--then python3 execbox_bench.py 5 50 /work/.execbox-bench"), "{argv}");
        });
        planned(
            Request { mode: Mode::Validate, tests: Some("func TestAdd(t *testing.T) {}".into()), ..req("go") },
            |p| assert_eq!(p.validation.as_ref().unwrap().declared, ["TestAdd"]),
        );
    }

    #[test]
    fn cases_compile_once_and_get_a_budget() {
        let cases = serde_json::json!([{"timeout_ms": 1000, "memory_limit_mb": 64}, {"timeout_ms": 2000}]);
        let req = Request {
            language: "cpp".into(),
            code: "int main(){}".into(),
            mode: Mode::Cases,
            memory_limit_mb: Some(128),
            cases: Some(cases.clone()),
            ..Default::default()
        };
        planned(req.clone(), |p| {
            assert_eq!(p.launch.argv()[..2], ["--cases", "--compile"]);
            assert!(p.stages.compile.is_some());
            // The run stage holds every case: the most memory any asks for,
            // their time plus the backstop.
            assert_eq!(p.stages.run.memory_mb, 128);
            assert_eq!(p.stages.run.timeout, Duration::from_millis(3000 + 10_000 + 100));
            assert_eq!(p.stages.run.cpu_time, None);
            assert!(p.checker.is_none());
        });
        let checked = Request {
            checker: Some(crate::model::Checker::Program),
            checker_code: Some("import sys".into()),
            checker_language: Some("python".into()),
            ..req
        };
        planned(checked, |p| {
            let c = p.checker.as_ref().unwrap();
            assert_eq!(c.runtime.language, "python");
            assert_eq!(c.launch.argv()[0], "--cases");
            assert_eq!(c.files[0].content, b"import sys");
            let per_check = Limits::default().default_case_timeout_ms;
            assert_eq!(p.stages.run.timeout, Duration::from_millis(3000 + 2 * per_check + 10_000 + 100));
        });
    }
}
