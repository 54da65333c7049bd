//! `execbox run`, `execbox sessions`, `execbox logs`: a terminal client that
//! goes through the database exactly as a frontend does.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::{bail, Context};
use uuid::Uuid;

use super::target::Target;
use crate::config::Config;
use crate::db::follow::{Follower, LogRow, SessionState};
use crate::model::{Request, SessionStatus, Stream};
use crate::runtimes::Runtimes;

/// Exit codes of `execbox run` besides the program's own.
pub(crate) mod exit {
    /// Wall-clock limit reached (as `timeout(1)`).
    pub(crate) const TIMEOUT: i32 = 124;
    /// execbox could not run it (infrastructure error).
    pub(crate) const INFRA: i32 = 125;
    /// Cancelled (Ctrl-C).
    pub(crate) const CANCELLED: i32 = 130;
}

#[derive(Debug, Clone)]
pub(crate) struct RunArgs {
    pub file: std::path::PathBuf,
    pub lang: Option<String>,
    /// Text for stdin, or "-" to read this process's stdin.
    pub stdin: Option<String>,
    pub timeout_ms: Option<i32>,
    pub memory_mb: Option<i32>,
    pub cpu_time_ms: Option<i32>,
    pub json: bool,
    pub user: Option<Uuid>,
}

/// Parses "1500", "1500ms", "2s", "1m" into milliseconds.
pub(crate) fn parse_duration_ms(s: &str) -> Result<i32, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else {
        (s, 1)
    };
    let v: f64 = num.trim().parse().map_err(|_| format!("{s:?} is not a duration (examples: 500ms, 10s, 2m)"))?;
    let ms = v * mult as f64;
    if !(1.0..=i32::MAX as f64).contains(&ms) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(ms as i32)
}

fn print_row(row: &LogRow) {
    match row.stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", row.message);
            let _ = out.flush();
        }
        _ => eprintln!("{}", row.message),
    }
}

fn exit_code(state: &SessionState) -> i32 {
    match state.status {
        SessionStatus::Completed => 0,
        SessionStatus::Timeout => exit::TIMEOUT,
        SessionStatus::Cancelled => exit::CANCELLED,
        SessionStatus::Error => exit::INFRA,
        _ => match state.exit_code {
            Some(c) if (1..=255).contains(&c) => c,
            _ => 1,
        },
    }
}

/// Runs FILE through the database; returns the process exit code.
pub(crate) async fn run(
    args: RunArgs,
    cfg: &Config,
    runtimes: &Runtimes,
    interrupted: tokio_util::sync::CancellationToken,
) -> anyhow::Result<i32> {
    let code = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let code = String::from_utf8(code).with_context(|| format!("{} is not UTF-8 text", args.file.display()))?;
    let language = match &args.lang {
        Some(l) => l.clone(),
        None => match runtimes.for_file(&args.file) {
            Some(rt) => rt.language.clone(),
            None => bail!(
                "cannot tell the language of {} from its extension; pass --lang (one of: {})",
                args.file.display(),
                runtimes.describe()
            ),
        },
    };
    let stdin = match args.stdin.as_deref() {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).context("cannot read stdin")?;
            Some(s)
        }
        other => other.map(String::from),
    };
    let target = Target::resolve(cfg, args.user)?;
    let user = target.require_user()?;
    let mut db = target.db.connect().await?;
    let name = args.file.file_name().and_then(|n| n.to_str()).map(String::from);
    let req = Request {
        language,
        code,
        stdin,
        timeout_ms: args.timeout_ms,
        memory_limit_mb: args.memory_mb,
        cpu_time_limit_ms: args.cpu_time_ms,
        session_name: name,
        ..Default::default()
    };
    let id = crate::db::user::submit(&mut db, user, &req)
        .await
        .map_err(|e| anyhow::anyhow!("the database refused the session: {}", crate::db::user::db_message(&e)))?;
    let mut follower = Follower::open(&target.hub()?, id, Some(user));

    let spinner = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("session {id}: pending"));
        s.enable_steady_tick(Duration::from_millis(100));
        s
    });
    let mut rows: Vec<LogRow> = Vec::new();
    let mut cancel_sent = false;
    let state = loop {
        if interrupted.is_cancelled() && !cancel_sent {
            cancel_sent = true;
            crate::db::user::cancel(&mut db, user, id).await?;
        }
        let (state, new_rows) = follower.poll().await?;
        if let Some(s) = &spinner {
            if state.status != SessionStatus::Pending {
                s.finish_and_clear();
            }
        }
        for row in new_rows {
            if args.json {
                rows.push(row);
            } else {
                print_row(&row);
            }
        }
        if state.is_done() {
            break state;
        }
        tokio::select! {
            _ = follower.wait() => {}
            _ = interrupted.cancelled(), if !cancel_sent => {}
        }
    };
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    if args.json {
        let session = crate::db::sessions::row_json(&db, id).await?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"session": session, "logs": rows}))?);
    }
    Ok(exit_code(&state))
}

/// `execbox sessions`: the most recent sessions as a table.
pub(crate) async fn sessions(cfg: &Config, limit: i64) -> anyhow::Result<()> {
    let target = Target::resolve(cfg, None)?;
    let db = target.db.connect().await?;
    let rows = crate::db::sessions::newest_all(&db, limit).await?;
    let mut table = vec![["ID", "USER", "LANGUAGE", "STATUS", "END REASON", "EXIT", "DURATION", "CREATED (UTC)"]
        .map(String::from)
        .to_vec()];
    for r in rows {
        table.push(vec![
            r.id,
            r.user_id.chars().take(8).collect(),
            r.language,
            r.status.to_string(),
            r.end_reason.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
            r.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            r.duration_ms.map(|m| format!("{m:.0} ms")).unwrap_or_else(|| "-".into()),
            r.created_utc,
        ]);
    }
    print_table(&table);
    Ok(())
}

pub(super) fn print_table(rows: &[Vec<String>]) {
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
    }
}

/// `execbox logs ID [--follow]`: stdout rows to stdout, the rest to stderr.
pub(crate) async fn logs(cfg: &Config, id: &str, follow: bool) -> anyhow::Result<i32> {
    let id = Uuid::parse_str(id.trim()).map_err(|_| anyhow::anyhow!("{id:?} is not a session id (a uuid)"))?;
    let target = Target::resolve(cfg, None)?;
    let mut f = Follower::open(&target.hub()?, id, None);
    if follow {
        let state = f.stream_to_end(print_row).await?;
        return Ok(exit_code(&state));
    }
    let (state, rows) = f.poll().await?;
    for row in rows {
        print_row(&row);
    }
    Ok(if state.is_done() { exit_code(&state) } else { 0 })
}
