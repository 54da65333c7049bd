//! `execbox run`, `execbox sessions`, `execbox logs`, `execbox cancel`: a
//! terminal client. With an access token it is a user of a hosted Supabase
//! project, through the project's Data API ([`crate::rest`]); without, it
//! goes through the database (`execbox dev`'s, or DATABASE_URL) exactly as
//! a frontend does.

use std::io::{IsTerminal, Read, Write};
use std::time::Duration;

use anyhow::{bail, Context};
use uuid::Uuid;

use super::target::Target;
use crate::config::Config;
use crate::db::follow::{Event, Events, Follow, FollowError, Follower, LogRow, SessionState};
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
    /// The user's access token: through the project's Data API.
    pub token: Option<String>,
}

/// Where a client command acts.
enum Client {
    /// The database, as the user it names.
    Database(Target),
    /// A Supabase project's Data API, as the user whose token it holds.
    Project(crate::rest::Project),
}

impl Client {
    /// With a token: the project of SUPABASE_URL and SUPABASE_ANON_KEY.
    /// Without: the database (DATABASE_URL, else `execbox dev`'s).
    fn resolve(cfg: &Config, user: Option<Uuid>, token: Option<&str>) -> anyhow::Result<Client> {
        let Some(token) = token.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Client::Database(Target::resolve(cfg, user)?));
        };
        if user.is_some() {
            bail!("--user is for the database; with an access token the session is the token's user's");
        }
        let (Some(url), Some(key)) =
            (cfg.api.supabase_url.as_deref(), cfg.api.supabase_anon_key.as_ref().map(|k| k.expose()))
        else {
            bail!("an access token needs its project: set SUPABASE_URL and SUPABASE_ANON_KEY (the project's API settings)");
        };
        Ok(Client::Project(crate::rest::Project::new(url, key, token)?))
    }
}

/// A session followed through the database or the Data API.
enum Following {
    Database(Follower),
    Project(crate::rest::Follower),
}

impl Follow for Following {
    async fn poll(&mut self) -> Result<(SessionState, Vec<LogRow>), FollowError> {
        match self {
            Following::Database(f) => f.poll().await,
            Following::Project(f) => f.poll().await,
        }
    }

    async fn wait(&mut self) {
        match self {
            Following::Database(f) => f.wait().await,
            Following::Project(f) => f.wait().await,
        }
    }
}

/// A session inserted as the user, followed, and cancellable.
struct Submitted {
    id: Uuid,
    following: Events<Following>,
    /// How to cancel it and read its row: the database connection as the
    /// user, or the project.
    via: Via,
}

enum Via {
    Database(tokio_postgres::Client, Uuid),
    Project(crate::rest::Project),
}

impl Submitted {
    async fn new(client: Client, req: &Request) -> anyhow::Result<Submitted> {
        match client {
            Client::Database(target) => {
                let user = target.require_user()?;
                let mut db = target.db.connect().await?;
                let id = crate::db::user::submit(&mut db, user, req).await.map_err(|e| {
                    anyhow::anyhow!("the database refused the session: {}", crate::db::user::db_message(&e))
                })?;
                let following = Events::new(Following::Database(Follower::open(&target.hub()?, id, Some(user))));
                Ok(Submitted { id, following, via: Via::Database(db, user) })
            }
            Client::Project(p) => {
                let id = p.submit(req).await?;
                let following = Events::new(Following::Project(crate::rest::Follower::new(p.clone(), id)));
                Ok(Submitted { id, following, via: Via::Project(p) })
            }
        }
    }

    async fn cancel(&mut self) -> anyhow::Result<()> {
        match &mut self.via {
            Via::Database(db, user) => {
                crate::db::user::cancel(db, *user, self.id).await?;
            }
            Via::Project(p) => {
                p.cancel(self.id).await?;
            }
        }
        Ok(())
    }

    async fn row_json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(match &self.via {
            Via::Database(db, _) => crate::db::sessions::row_json(db, self.id).await?,
            Via::Project(p) => p.row_json(self.id).await?,
        })
    }
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
    let client = Client::resolve(cfg, args.user, args.token.as_deref())?;
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
    let mut session = Submitted::new(client, &req).await?;
    let id = session.id;

    let spinner = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let s = indicatif::ProgressBar::new_spinner();
        s.set_message(format!("session {id}: pending"));
        s.enable_steady_tick(Duration::from_millis(100));
        s
    });
    let mut rows: Vec<LogRow> = Vec::new();
    let mut cancel_sent = false;
    let state = loop {
        let event = tokio::select! {
            event = session.following.next() => event?,
            _ = interrupted.cancelled(), if !cancel_sent => {
                cancel_sent = true;
                session.cancel().await?;
                continue;
            }
        };
        match event {
            Some(Event::Changed(state)) => {
                if let Some(s) = spinner.as_ref().filter(|_| state.status != SessionStatus::Pending) {
                    s.finish_and_clear();
                }
            }
            Some(Event::Row(row)) if args.json => rows.push(row),
            Some(Event::Row(row)) => print_row(&row),
            Some(Event::End(state)) => break state,
            None => bail!("session {id} gave no end"),
        }
    };
    if let Some(s) = &spinner {
        s.finish_and_clear();
    }
    if args.json {
        let row = session.row_json().await?;
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"session": row, "logs": rows}))?);
    }
    Ok(exit_code(&state))
}

/// `execbox sessions`: the most recent sessions as a table (every user's
/// through the database, the user's own through the Data API).
pub(crate) async fn sessions(cfg: &Config, limit: i64, token: Option<&str>) -> anyhow::Result<()> {
    let rows = match Client::resolve(cfg, None, token)? {
        Client::Database(target) => crate::db::sessions::newest_all(&target.db.connect().await?, limit).await?,
        Client::Project(p) => p.recent(limit.clamp(1, 1000) as usize).await?,
    };
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

fn session_id(id: &str) -> anyhow::Result<Uuid> {
    Uuid::parse_str(id.trim()).map_err(|_| anyhow::anyhow!("{id:?} is not a session id (a uuid)"))
}

/// `execbox logs ID [--follow]`: stdout rows to stdout, the rest to stderr.
pub(crate) async fn logs(cfg: &Config, id: &str, follow: bool, token: Option<&str>) -> anyhow::Result<i32> {
    let id = session_id(id)?;
    let mut f = match Client::resolve(cfg, None, token)? {
        Client::Database(target) => Following::Database(Follower::open(&target.hub()?, id, None)),
        Client::Project(p) => Following::Project(crate::rest::Follower::new(p, id)),
    };
    if follow {
        let state = Events::new(f).rows_to_end(print_row).await?;
        return Ok(exit_code(&state));
    }
    let (state, rows) = f.poll().await?;
    for row in rows {
        print_row(&row);
    }
    Ok(if state.is_done() { exit_code(&state) } else { 0 })
}

/// `execbox cancel ID`: asks the workers to stop the session (as its owner).
pub(crate) async fn cancel(cfg: &Config, id: &str, user: Option<Uuid>, token: Option<&str>) -> anyhow::Result<()> {
    let id = session_id(id)?;
    let found = match Client::resolve(cfg, user, token)? {
        Client::Database(target) => {
            let user = target.require_user()?;
            crate::db::user::cancel(&mut target.db.connect().await?, user, id).await?
        }
        Client::Project(p) => p.cancel(id).await?,
    };
    if !found {
        bail!("session {id} does not exist, or is not yours");
    }
    eprintln!("asked session {id} to stop");
    Ok(())
}
