//! `bench/results.md`: the measurements and the targets, from the results.

use serde_json::Value;

/// The results as a table of measurements and one of targets.
pub(super) fn results_markdown(r: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let p50_p95 = |v: &Value| format!("{:.1} / {:.1} ms", f(&v["p50_ms"]), f(&v["p95_ms"]));
    let bare = f(&r["bare_process"]["p50_ms"]);
    let drun = f(&r["docker_run"]["p50_ms"]);
    let warm = f(&r["session_warm"]["p50_ms"]);
    let default = f(&r["session_default"]["p50_ms"]);
    let api = &r["api"];
    let api_conns = f(&api["node_peak_db_connections"]);
    let claim = f(&r["claim_path"]["p50_ms"]);
    let t = &r["throughput"];
    let (sps, dps, cps) = (f(&t["sessions_per_s"]), f(&t["docker_run_per_s"]), f(&t["engine_ceiling_per_s"]));
    let ing = &r["ingestion"];
    let (batched, per_line) = (f(&ing["rows_per_s_batched"]), f(&ing["rows_per_s_one_insert_per_line"]));
    let first = f(&ing["first_row_visible"]["p50_ms"]);
    let rt = &ing["realtime_messages_per_1000_lines"];
    let broadcast = f(&rt["broadcast"]);
    let idle_mb = f(&r["worker_rss_kb"]["idle"]) / 1024.0;
    let busy_mb = f(&r["worker_rss_kb"]["busy_max"]) / 1024.0;
    let mut measurements: Vec<(String, String)> = vec![
        ("(c) bare `python3 -c 'print(1)'`, p50 / p95".into(), p50_p95(&r["bare_process"])),
        ("(b) `docker run --rm`, p50 / p95".into(), p50_p95(&r["docker_run"])),
        ("(a) session INSERT → completed, cold, p50 / p95".into(), p50_p95(&r["session_cold"])),
        ("(a) session INSERT → completed, warm pool, p50 / p95".into(), p50_p95(&r["session_warm"])),
        ("(a) session INSERT → completed, a worker with no settings, p50 / p95".into(), p50_p95(&r["session_default"])),
        ("claim path: INSERT committed → program running, warm pool, p50 / p95".into(), p50_p95(&r["claim_path"])),
        (format!("(d) sessions per second ({} at concurrency {})", t["total"], t["concurrency"]), format!("{sps:.1}")),
        ("(d) `docker run` loop per second".into(), format!("{dps:.1}")),
        ("(d) engine ceiling (create+start+wait+remove) per second".into(), format!("{cps:.1}")),
        ("(e) log rows per second, batched".into(), format!("{batched:.0}")),
        ("(e) log rows per second, one INSERT per line".into(), format!("{per_line:.0}")),
        ("(e) first print → row visible, p50".into(), format!("{first:.1} ms")),
        (
            "(g) Realtime messages per 1,000 printed lines: Postgres Changes (per listening client)".into(),
            format!("{:.0}", f(&rt["postgres_changes"])),
        ),
        ("(g) Realtime messages per 1,000 printed lines: Broadcast from Database".into(), format!("{broadcast:.1}")),
        ("(g) print → broadcast row written, p50 / p95".into(), p50_p95(&ing["print_to_broadcast_written"])),
        ("(f) worker resident memory, idle / busy".into(), format!("{idle_mb:.1} / {busy_mb:.1} MB")),
        (
            "(i) a hello through `/api/v2/execute` / through MCP's `run_code`, p50".into(),
            format!("{:.1} / {:.1} ms", f(&api["hello_execute"]["p50_ms"]), f(&api["hello_mcp"]["p50_ms"])),
        ),
        (
            format!("(i) sessions per second through the API, concurrency 8 ({} executes)", api["c8"]["total"]),
            format!("{:.1}", f(&api["c8"]["sessions_per_s"])),
        ),
        (
            format!("(i) sessions per second through the API, {} executes at once", api["c1000"]["total"]),
            format!("{:.1}", f(&api["c1000"]["sessions_per_s"])),
        ),
        (
            "(i) API node at the peak: database connections / resident memory".into(),
            format!("{api_conns:.0} / {:.1} MB", f(&api["node_peak_rss_kb"]) / 1024.0),
        ),
    ];
    for language in ["python", "cpp"] {
        let c = &r["cases"][language];
        measurements.push((
            format!("(h) test cases per second, {language} ({} cases in one session; each case's cost)", c["cases"]),
            format!("{:.0} ({:.1} ms)", f(&c["cases_per_s"]), f(&c["per_case_ms"])),
        ));
    }
    let (un, pr) = (&r["statements"]["unnamed"], &r["statements"]["prepared"]);
    measurements.extend([
        (
            "(j) one statement's round trip, unnamed / prepared, p50".into(),
            format!("{:.0} / {:.0} µs", f(&un["statement_us"]["p50"]), f(&pr["statement_us"]["p50"])),
        ),
        (
            "(j) a worker with no other setting, INSERT → completed p50, unnamed / prepared (two rounds each, A B B A)"
                .into(),
            format!("{:.1} / {:.1} ms", f(&un["hello_p50_ms"]), f(&pr["hello_p50_ms"])),
        ),
        (
            format!("(j) sessions per second, unnamed / prepared (concurrency {})", t["concurrency"]),
            format!("{:.1} / {:.1}", f(&un["sessions_per_s"]), f(&pr["sessions_per_s"])),
        ),
    ]);
    let iso = &r["isolation"];
    let iso_bare = f(&iso["bare_process"]["p50_ms"]);
    let gvisor_warm = f(&iso["gvisor"]["warm"]["p50_ms"]);
    for wall in ["runc", "gvisor"] {
        let w = &iso[wall];
        measurements.extend([
            (
                format!("(k) {wall}: INSERT → completed, warm pool / a worker with no settings / cold, p50"),
                format!(
                    "{:.1} / {:.1} / {:.1} ms",
                    f(&w["warm"]["p50_ms"]),
                    f(&w["default"]["p50_ms"]),
                    f(&w["cold"]["p50_ms"])
                ),
            ),
            (
                format!("(k) {wall}: sessions per second, cold (concurrency {})", t["concurrency"]),
                format!("{:.1}", f(&w["sessions_per_s"])),
            ),
            (
                format!("(k) {wall}: host memory of an idle warm container"),
                format!("{:.1} MB", f(&w["idle_warm_container_kb"]) / 1024.0),
            ),
        ]);
    }
    measurements.extend([
        ("(k) bare process in the same run, p50".into(), format!("{iso_bare:.1} ms")),
        ("(k) `docker run --rm --runtime runsc`, p50 / p95".into(), p50_p95(&iso["docker_run_gvisor"])),
    ]);
    let py_case = f(&r["cases"]["python"]["per_case_ms"]);
    let (execute, mcp) = (f(&api["hello_execute"]["p50_ms"]), f(&api["hello_mcp"]["p50_ms"]));
    let targets: Vec<(&str, String, bool)> = vec![
        ("warm p50 ≤ 2× bare process", format!("{:.2}×", warm / bare), warm <= 2.0 * bare),
        ("gVisor warm p50 ≤ 3× bare process", format!("{:.2}×", gvisor_warm / iso_bare), gvisor_warm <= 3.0 * iso_bare),
        (
            "a worker with no settings: p50 ≤ 1.3× bare process",
            format!("{:.2}×", default / bare),
            default <= 1.3 * bare,
        ),
        (
            "1,000 executes at once: the node holds ≤ 20 database connections",
            format!("{api_conns:.0}"),
            api_conns <= 20.0,
        ),
        ("warm p50 ≥ 8× faster than `docker run`", format!("{:.2}×", drun / warm), drun / warm >= 8.0),
        ("throughput ≥ 1.5× the `docker run` loop", format!("{:.2}×", sps / dps), sps >= 1.5 * dps),
        ("throughput ≥ 80 % of the engine ceiling", format!("{:.0} %", 100.0 * sps / cps), sps >= 0.8 * cps),
        ("ingestion ≥ 20× one INSERT per line", format!("{:.1}×", batched / per_line), batched >= 20.0 * per_line),
        ("first row visible within 100 ms", format!("{first:.1} ms"), first <= 100.0),
        ("claim path a handful of ms (p50 ≤ 10 ms)", format!("{claim:.1} ms"), claim <= 10.0),
        ("idle worker under 30 MB resident", format!("{idle_mb:.1} MB"), idle_mb < 30.0),
        ("a few dozen broadcasts per 5,000 lines (≤ 10 per 1,000)", format!("{broadcast:.1}"), broadcast <= 10.0),
        (
            "MCP's `run_code` adds a few ms to `/api/v2/execute` (p50 ≤ +5 ms)",
            format!("{:+.1} ms", mcp - execute),
            mcp - execute <= 5.0,
        ),
        (
            "a Python test case costs about a process start (≤ 3× bare)",
            format!("{:.2}×", py_case / bare),
            py_case <= 3.0 * bare,
        ),
    ];
    let m = &r["machine"];
    let mut md = format!(
        "# execbox benchmark results\n\nMachine: {} CPUs, {} GiB, Docker engine {}; execbox {}. Produced by `execbox bench`; raw numbers in `results.json`.\n\n| measurement | value |\n|---|---|\n",
        m["cpus"],
        m["memory_gib"],
        m["docker_engine"].as_str().unwrap_or("?"),
        m["execbox"].as_str().unwrap_or("?"),
    );
    for (what, value) in measurements {
        md += &format!("| {what} | {value} |\n");
    }
    md += "\n## Targets\n\n| target | value | |\n|---|---|---|\n";
    for (what, value, met) in targets {
        md += &format!("| {what} | {value} | {} |\n", if met { "met" } else { "NOT met" });
    }
    md
}
