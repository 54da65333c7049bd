//! A claimed session's request checked against the runtime table and the
//! server's limits, and turned into what the sandbox runs: the files, the
//! launcher's command and the container's spec.

use std::collections::HashMap;
use std::time::Duration;

use super::Ctx;
use crate::config::Limits;
use crate::db::queue::Claimed;
use crate::runtimes::{Runtime, Vars};
use crate::sandbox::policy::ContainerSpec;
use crate::sandbox::{files, StageLimits, Stages};

/// A request that passed every check.
pub(super) struct Plan<'a> {
    pub(super) runtime: &'a Runtime,
    pub(super) stages: Stages,
    /// Every file for /work, the main one first.
    pub(super) files: Vec<(String, Vec<u8>)>,
    /// The container's command: the launcher's options, then argv.
    pub(super) command: Vec<String>,
    /// Set for validation runs: how to read the framework's report.
    pub(super) validation: Option<Validation>,
}

pub(super) struct Validation {
    pub(super) format: String,
    /// Test names the tests' source declares (for text formats).
    pub(super) declared: Vec<String>,
    /// Benchmark mode: the number of timed runs expected.
    pub(super) bench: Option<u64>,
}

/// The launcher's report options.
struct Report<'a> {
    path: &'a str,
    from_stdout: bool,
    /// The benchmark harness's output file.
    bench: Option<&'a str>,
}

/// A requested limit (null = the default), checked against the server's
/// bounds: never silently raised or lowered.
fn bounded(name: &str, requested: Option<i32>, default: u64, min: u64, max: u64, unit: &str) -> Result<u64, String> {
    match requested {
        None => Ok(default),
        Some(v) if (v as i64) < min as i64 => Err(format!("{name} {v} is below this server's minimum of {min} {unit}")),
        Some(v) if v as u64 > max => Err(format!("{name} {v} is above this server's maximum of {max} {unit}")),
        Some(v) => Ok(v as u64),
    }
}

/// Checks the user's request against the runtime table and the server's
/// limits. `Err` is a message for the user (the session ends `failed`).
pub(super) fn plan<'a>(ctx: &'a Ctx, s: &Claimed) -> Result<Plan<'a>, String> {
    let runtime = ctx.runtimes.resolve(&s.language).ok_or_else(|| {
        format!("unsupported language {:?}; supported languages: {}", s.language, ctx.runtimes.describe())
    })?;
    let l = &ctx.cfg.limits;
    let run = StageLimits {
        timeout: Duration::from_millis(bounded(
            "timeout_ms",
            s.timeout_ms,
            l.default_timeout_ms,
            1,
            l.max_timeout_ms,
            "ms",
        )?),
        memory_mb: bounded(
            "memory_limit_mb",
            s.memory_limit_mb,
            l.default_memory_mb,
            l.min_memory_mb,
            l.max_memory_mb,
            "MB",
        )?,
        cpus: l.cpus,
    };
    let validate = match s.mode.as_str() {
        "validate" | "benchmark" => Some(
            runtime.validate.as_ref().ok_or_else(|| format!("validation is not available for {}", runtime.language))?,
        ),
        _ => None,
    };
    let benchmark = match s.mode.as_str() {
        "benchmark" => Some(runtime.benchmark.as_ref().ok_or_else(|| {
            format!("benchmark mode is not available for {}; validation is (mode 'validate')", runtime.language)
        })?),
        _ => None,
    };
    let runs = bounded("runs", s.runs, l.default_benchmark_runs, 1, l.max_benchmark_runs, "runs")?;
    // Warm-up runs are discarded: a tenth of the timed runs, 1 to 20.
    let warmup = (runs / 10).clamp(1, 20);
    let compile_cmd = match (benchmark, validate) {
        (Some(b), Some(v)) => b.compile.as_ref().or(v.compile.as_ref()),
        (_, Some(v)) => v.compile.as_ref(),
        _ => runtime.compile.as_ref(),
    };
    let compile = match compile_cmd {
        None => None,
        Some(_) => Some(StageLimits {
            timeout: Duration::from_millis(bounded(
                "compile_timeout_ms",
                s.compile_timeout_ms,
                l.default_compile_timeout_ms,
                1,
                l.max_compile_timeout_ms,
                "ms",
            )?),
            memory_mb: bounded(
                "compile_memory_limit_mb",
                s.compile_memory_limit_mb,
                l.default_compile_memory_mb,
                l.min_memory_mb,
                l.max_compile_memory_mb,
                "MB",
            )?,
            cpus: l.compile_cpus,
        }),
    };
    if s.args.iter().any(|a| a.contains('\0')) {
        return Err("args may not contain NUL characters".into());
    }
    // Names only (the files are checked below): whether one keeps the
    // interpreter from starting before they arrive.
    let extra_names = s.files.iter().filter_map(|v| v.as_array()).flatten().filter_map(|f| f["name"].as_str());
    let (mut files, command, validation) = match validate {
        None => (
            vec![(runtime.file.clone(), s.code.as_bytes().to_vec())],
            command(compile_cmd, &runtime.run, &s.args, Launch::Run { prestart: runtime.prestart_file(extra_names) }),
            None,
        ),
        Some(v) => {
            let tests = s.tests.as_deref().unwrap_or("");
            let declared = if v.format == "gotest" { crate::validate::go_test_names(tests) } else { Vec::new() };
            let names = declared.join(", ");
            let vars = Vars { solution: &s.code, tests, runs, warmup, test_names: &names };
            let templates = v.files.iter().chain(benchmark.iter().flat_map(|b| &b.files));
            let files = templates.map(|f| (f.name.clone(), f.render(&vars).into_bytes())).collect();
            let mut run: Vec<String> = v.run.clone();
            if let Some(b) = benchmark {
                run.push("--then".into());
                run.extend(b.run.iter().map(|a| crate::runtimes::render(a, &vars)));
            }
            let report = Report {
                path: &v.report,
                from_stdout: v.report_from_stdout,
                bench: benchmark.map(|b| b.output.as_str()),
            };
            let bench = benchmark.map(|_| runs);
            (
                files,
                command(compile_cmd, &run, &[], Launch::Report(report)),
                Some(Validation { format: v.format.clone(), declared, bench }),
            )
        }
    };
    if let Some(extra) = &s.files {
        let main = files[0].0.clone();
        let taken: usize = files.iter().map(|f| f.1.len()).sum();
        let extra = files::decode_extra(extra, &main, taken)?;
        if let Some((name, _)) = extra.iter().find(|(n, _)| files.iter().any(|f| &f.0 == n)) {
            return Err(format!("file {name:?} is one execbox writes itself; choose another name"));
        }
        files.extend(extra);
    }
    Ok(Plan { runtime, stages: Stages { compile, run }, files, command, validation })
}

/// The container for a run of `rt` with these stages and command: the
/// container starts with the first stage's limits (the engine switches to
/// the run stage's after compiling). The warm pool uses the same function.
pub fn container_spec(
    rt: &Runtime,
    command: Vec<String>,
    stages: &Stages,
    limits: &Limits,
    labels: HashMap<String, String>,
) -> ContainerSpec {
    let first = stages.compile.unwrap_or(stages.run);
    ContainerSpec {
        image: rt.image.clone(),
        cmd: command,
        env: rt.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        memory_mb: first.memory_mb,
        cpus: first.cpus,
        work_mb: rt.work_mb.unwrap_or(limits.work_size_mb),
        exec_work: stages.compile.is_some(),
        labels,
    }
}

/// The spec of a default run-mode session of `rt` (what warm containers are).
pub fn default_spec(rt: &Runtime, limits: &Limits, labels: HashMap<String, String>) -> ContainerSpec {
    let run = StageLimits {
        timeout: Duration::from_millis(limits.default_timeout_ms),
        memory_mb: limits.default_memory_mb,
        cpus: limits.cpus,
    };
    let compile = rt.compile.as_ref().map(|_| StageLimits {
        timeout: Duration::from_millis(limits.default_compile_timeout_ms),
        memory_mb: limits.default_compile_memory_mb,
        cpus: limits.compile_cpus,
    });
    let stages = Stages { compile, run };
    let launch = Launch::Run { prestart: rt.prestart_file(std::iter::empty()) };
    container_spec(rt, command(rt.compile.as_ref(), &rt.run, &[], launch), &stages, limits, labels)
}

/// How the launcher runs the command.
enum Launch<'a> {
    /// A plain run, the interpreter started ahead when it has a prestart file.
    Run { prestart: Option<&'a str> },
    /// Validation or benchmark: the framework's report is read back.
    Report(Report<'a>),
}

/// The container's command: the launcher's `--prestart` or `--report`
/// options, its `--compile ... --` part when the stage exists, then the
/// command and the session's arguments.
fn command(compile: Option<&Vec<String>>, run: &[String], args: &[String], launch: Launch) -> Vec<String> {
    let mut cmd = Vec::new();
    if let Launch::Run { prestart: Some(file) } = launch {
        cmd.push("--prestart".to_string());
        cmd.push(file.to_string());
    }
    if let Launch::Report(r) = launch {
        cmd.push(if r.from_stdout { "--report-stdout" } else { "--report" }.to_string());
        cmd.push(r.path.to_string());
        if let Some(b) = r.bench {
            cmd.push("--bench".to_string());
            cmd.push(b.to_string());
        }
    }
    if let Some(compile) = compile {
        cmd.push("--compile".to_string());
        cmd.extend(compile.iter().cloned());
        cmd.push("--".to_string());
    }
    cmd.extend(run.iter().cloned());
    cmd.extend(args.iter().cloned());
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtimes::Runtimes;

    fn rt(name: &str) -> Runtime {
        Runtimes::builtin().resolve(name).unwrap().clone()
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
        // Validation reads a report instead.
        let report = Report { path: "report.xml", from_stdout: false, bench: None };
        let cmd = command(None, &["pytest".to_string()], &[], Launch::Report(report));
        assert_eq!(cmd, ["--report", "report.xml", "pytest"]);
    }
}
