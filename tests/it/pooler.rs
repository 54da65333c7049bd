//! A real PgBouncer (the machine's, Debian's `pgbouncer`; scripts/lib.sh's
//! `ensure_pgbouncer` installs it) in front of the test cluster, in session
//! or transaction mode: one per mode per test process, started on first use
//! on a free loopback port, forwarding every database of the cluster.
//!
//! It runs in the foreground as a child of the test process (as `postgres`
//! when the tests run as root: PgBouncer refuses root), through `setpriv
//! --pdeathsig KILL`, from a thread that lives as long as it does: the
//! kernel kills it when the test process ends, however it ends. Its files
//! (config, auth file, log, pid file) are in a directory of its own under
//! the target's tmp dir, named by mode and test process id; directories of
//! test processes that are gone are cleared (and their PgBouncer, should one
//! have survived, killed) when the next one starts.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The user names the suite connects as through the pooler. With
/// `auth_type = trust` PgBouncer asks for no password, but still refuses a
/// user its auth file does not list: add the login roles tests use here.
pub const USERS: &[&str] = &["postgres", PLAIN_USER, crate::support::WORKER_ROLE, crate::support::API_ROLE];

/// A login role with no grants and no say on the admin console (tests
/// create it where they need it).
pub const PLAIN_USER: &str = "execbox_plain";

/// Startup parameters PgBouncer would otherwise refuse ("unsupported
/// startup parameter"). tokio-postgres 0.7 sends `client_encoding`, `user`,
/// `database`, and `options`/`application_name` when the URL sets them;
/// PgBouncer handles `client_encoding` and `application_name` itself (as it
/// does `DateStyle`, `TimeZone` and `standard_conforming_strings`), not
/// `options`. JDBC-style drivers send `extra_float_digits`.
const IGNORED_STARTUP_PARAMETERS: &[&str] = &["extra_float_digits", "options"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    Session,
    Transaction,
}

impl PoolMode {
    /// Server connections per (database, user) pool. A session pooler pins
    /// one to each client for the client's whole life, so it is sized for
    /// every client a deployment has (a worker's and an API node's pools and
    /// LISTEN connections); a transaction pooler shares few among many
    /// clients, so the suite gives it few, and clients really share them.
    pub fn pool_size(self) -> u32 {
        match self {
            PoolMode::Session => 60,
            PoolMode::Transaction => 4,
        }
    }

    /// The name PgBouncer's `pool_mode` setting takes (and `SHOW CONFIG` says).
    pub fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A running PgBouncer.
#[derive(Debug)]
pub struct Pooler {
    mode: PoolMode,
    port: u16,
    dir: PathBuf,
}

/// The PgBouncer in `mode` of this test process, started on first use.
pub fn pooler(mode: PoolMode) -> &'static Pooler {
    static SESSION: OnceLock<Pooler> = OnceLock::new();
    static TRANSACTION: OnceLock<Pooler> = OnceLock::new();
    let cell = match mode {
        PoolMode::Session => &SESSION,
        PoolMode::Transaction => &TRANSACTION,
    };
    cell.get_or_init(|| Pooler::start(mode))
}

impl Pooler {
    pub fn mode(&self) -> PoolMode {
        self.mode
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The same database, user and parameters as `direct` (a URL of the test
    /// cluster, such as `TestDb::url`), through this pooler.
    pub fn url_for(&self, direct: &str) -> String {
        let (scheme, rest) = direct.split_once("://").unwrap_or_else(|| panic!("not a postgres:// URL: {direct}"));
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        let userinfo = authority.rsplit_once('@').map(|(u, _)| format!("{u}@")).unwrap_or_default();
        format!("{scheme}://{userinfo}127.0.0.1:{}{tail}", self.port)
    }

    /// PgBouncer's admin console (`SHOW POOLS`, `SHOW CONFIG`, ...; the
    /// simple query protocol only).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/pgbouncer", self.port)
    }

    /// PgBouncer's log so far, for diagnostics.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default()
    }

    fn start(mode: PoolMode) -> Pooler {
        let as_postgres = execbox::dev::is_root();
        let base = base_dir(as_postgres);
        let dir = base.join(format!("{}-{}", mode.as_str(), std::process::id()));
        clear_stale(&base, &dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        if as_postgres {
            let ok = Command::new("chown").arg("postgres:postgres").arg(&dir).status().is_ok_and(|s| s.success());
            assert!(ok, "cannot hand {} to the postgres user", dir.display());
        }
        let auth: String = USERS.iter().map(|u| format!("\"{u}\" \"\"\n")).collect();
        std::fs::write(dir.join("userlist.txt"), auth).unwrap();

        // A port free a moment ago may be taken by the time PgBouncer binds
        // it: then again with another.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            std::fs::write(dir.join("pgbouncer.ini"), config(mode, port, &dir)).unwrap();
            match spawn(&dir, port, as_postgres) {
                Ok(()) => return Pooler { mode, port, dir },
                Err(e) => last = e,
            }
            if !last.contains("Address already in use") {
                break;
            }
        }
        panic!("PgBouncer ({}) did not start: {last}", mode.as_str())
    }
}

fn config(mode: PoolMode, port: u16, dir: &Path) -> String {
    let d = dir.display();
    format!(
        "[databases]\n\
         * = {upstream}\n\
         \n\
         [pgbouncer]\n\
         listen_addr = 127.0.0.1\n\
         listen_port = {port}\n\
         unix_socket_dir =\n\
         pool_mode = {mode}\n\
         auth_type = trust\n\
         auth_file = {d}/userlist.txt\n\
         admin_users = postgres\n\
         default_pool_size = {pool_size}\n\
         max_client_conn = 1000\n\
         ignore_startup_parameters = {ignored}\n\
         logfile = {d}/pgbouncer.log\n\
         pidfile = {d}/pgbouncer.pid\n",
        upstream = upstream(),
        mode = mode.as_str(),
        pool_size = mode.pool_size(),
        ignored = IGNORED_STARTUP_PARAMETERS.join(","),
    )
}

/// `host=... port=...` of the test cluster, from its admin URL.
fn upstream() -> String {
    use tokio_postgres::config::Host;
    let url = crate::support::admin_url();
    let cfg: tokio_postgres::Config = url.parse().unwrap_or_else(|e| panic!("test cluster URL {url}: {e}"));
    let host = match cfg.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "127.0.0.1".into(),
    };
    let port = cfg.get_ports().first().copied().unwrap_or(5432);
    format!("host={host} port={port}")
}

/// Where the poolers' directories go: the target's tmp dir, unless the
/// `postgres` user (who runs PgBouncer when the tests run as root) cannot
/// reach it.
fn base_dir(as_postgres: bool) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let reachable = !as_postgres
        || Command::new("runuser")
            .args(["-u", "postgres", "--", "test", "-x"])
            .arg(target)
            .status()
            .is_ok_and(|s| s.success());
    let base = if reachable { target.join("pgbouncer") } else { std::env::temp_dir().join("execbox-pgbouncer") };
    std::fs::create_dir_all(&base).unwrap_or_else(|e| panic!("create {}: {e}", base.display()));
    base
}

/// Clears the directories of test processes that are gone, and `mine`
/// should an earlier process of the same id have left it; kills their
/// PgBouncer if one survived (it does not, normally: see `spawn`).
fn clear_stale(base: &Path, mine: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let dir = entry.path();
        let owner = entry.file_name().to_string_lossy().rsplit_once('-').and_then(|(_, p)| p.parse::<u32>().ok());
        let stale = match owner {
            Some(pid) if pid == std::process::id() => dir == mine,
            Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
            None => false,
        };
        if !stale {
            continue;
        }
        if let Some(pid) =
            std::fs::read_to_string(dir.join("pgbouncer.pid")).ok().and_then(|p| p.trim().parse::<u32>().ok())
        {
            let ini = dir.join("pgbouncer.ini").display().to_string();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&ini) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free loopback port").port()
}

fn pgbouncer_binary() -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|p| std::env::split_paths(&p).map(|d| d.join("pgbouncer")).find(|b| b.is_file()))
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/pgbouncer"))
}

/// Starts PgBouncer on `port` with the config in `dir` and waits until it
/// accepts connections; Err says why it did not (its exit and output).
///
/// `setpriv --pdeathsig KILL` (after it switched users, which would clear
/// the setting) has the kernel kill PgBouncer when its parent ends. Its
/// parent is the thread that spawned it, not the process: so a thread of
/// its own spawns it, then waits on it for as long as it runs (reaping it
/// should it exit), and ends with the test process.
fn spawn(dir: &Path, port: u16, as_postgres: bool) -> Result<(), String> {
    let pgbouncer = pgbouncer_binary();
    if !pgbouncer.is_file() {
        return Err(format!("no {} (scripts/lib.sh: ensure_pgbouncer installs it)", pgbouncer.display()));
    }
    let console = dir.join("console.log");
    let out = std::fs::File::create(&console).unwrap();
    let mut cmd = Command::new("setpriv");
    if as_postgres {
        cmd.args(["--reuid", "postgres", "--regid", "postgres", "--init-groups"]);
    }
    cmd.args(["--pdeathsig", "KILL", "--"])
        .arg(&pgbouncer)
        .arg(dir.join("pgbouncer.ini"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);

    let (tx, rx) = mpsc::channel::<Result<u32, String>>();
    std::thread::Builder::new()
        .name(format!("pgbouncer-{port}"))
        .spawn(move || match cmd.spawn() {
            Err(e) => {
                let _ = tx.send(Err(format!("setpriv did not start: {e}")));
            }
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let status = child.wait();
                let _ = tx.send(Err(format!("it exited ({status:?})")));
            }
        })
        .unwrap();
    rx.recv().unwrap()?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listening = format!("listening on {addr}\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    let why = loop {
        if let Ok(Err(exit)) = rx.try_recv() {
            break exit;
        }
        // This PgBouncer's own word that it has the port (another process
        // may have taken it since: then it exits), and the port answers.
        let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
        if log.contains(&listening) && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            break "it did not accept connections within 20 s".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    let _ = std::fs::File::open(&console).and_then(|mut f| f.read_to_string(&mut output));
    Err(format!("{why}; its output ({}):\n{output}", console.display()))
}

mod smoke {
    use tokio_postgres::{Client, SimpleQueryMessage};

    use super::*;
    use crate::support::{connect, TestDb};

    /// The first row of a simple query's answer, as text.
    async fn first_row(c: &Client, sql: &str) -> Vec<Option<String>> {
        let messages = c.simple_query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        messages
            .iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) => Some((0..r.len()).map(|i| r.get(i).map(String::from)).collect()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// `SHOW CONFIG`'s value of `key`, from the admin console.
    async fn show_config(p: &Pooler, key: &str) -> String {
        let admin = connect(&p.admin_url()).await;
        let rows = admin.simple_query("SHOW CONFIG").await.unwrap();
        rows.iter()
            .find_map(|m| match m {
                SimpleQueryMessage::Row(r) if r.get("key") == Some(key) => r.get("value").map(String::from),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {key} in SHOW CONFIG"))
    }

    async fn select_one_through(mode: PoolMode) {
        let db = TestDb::new().await;
        let p = pooler(mode);
        let url = p.url_for(&db.url);
        assert!(url.ends_with(&format!("@127.0.0.1:{}/{}", p.port(), db.name())), "{url}");
        let port = p.port();
        assert_eq!(
            p.url_for("postgres://u:pw@db.example:5432/x?application_name=t"),
            format!("postgres://u:pw@127.0.0.1:{port}/x?application_name=t")
        );
        assert_eq!(p.url_for("postgresql://db.example/x"), format!("postgresql://127.0.0.1:{port}/x"));
        let c = connect(&url).await;
        assert_eq!(first_row(&c, "select 1").await, [Some("1".to_string())], "{}", p.log());
        // The client's database and user, on PgBouncer's server connection.
        let who = first_row(&c, "select current_database(), current_user").await;
        assert_eq!(who, [Some(db.name().to_string()), Some("postgres".to_string())]);
        // `options` would be refused without ignore_startup_parameters.
        let with_options = connect(&format!("{url}?application_name=pooled&options=-c%20geqo%3Doff")).await;
        let name = first_row(&with_options, "select current_setting('application_name')").await;
        assert_eq!(name, [Some("pooled".to_string())]);

        assert_eq!(p.mode(), mode);
        assert_eq!(show_config(p, "pool_mode").await, mode.as_str());
        assert_eq!(show_config(p, "default_pool_size").await, mode.pool_size().to_string());
        assert!(p.log().contains(&format!("listening on 127.0.0.1:{}", p.port())), "{}", p.log());
    }

    #[tokio::test]
    async fn pooler_session_mode() {
        select_one_through(PoolMode::Session).await;
    }

    #[tokio::test]
    async fn pooler_transaction_mode() {
        select_one_through(PoolMode::Transaction).await;
    }

    /// A fact about PgBouncer (1.18; 1.21 and later can track protocol-level
    /// prepared statements, with `max_prepared_statements`), not about
    /// execbox: in transaction mode a client has a server connection only
    /// until the next Sync outside a transaction, so a named statement it
    /// prepared on one (tokio-postgres prepares every `query` with
    /// parameters) is missing when its Bind lands on another. Made certain
    /// here rather than left to a race: on a fresh pool (a fresh database),
    /// A prepares on the only server connection, B holds that one in a
    /// transaction, so A's execute gets a new one. In session mode the same
    /// steps work: A keeps its server connection.
    #[tokio::test]
    async fn pooler_transaction_mode_loses_named_prepared_statements() {
        for mode in [PoolMode::Session, PoolMode::Transaction] {
            let db = TestDb::new().await;
            let url = pooler(mode).url_for(&db.url);
            let (a, b) = (connect(&url).await, connect(&url).await);
            let statement = a.prepare("select $1::int").await.unwrap();
            b.simple_query("begin").await.unwrap();
            let executed = a.query(&statement, &[&1i32]).await;
            b.simple_query("commit").await.unwrap();
            match mode {
                PoolMode::Session => assert_eq!(executed.unwrap()[0].get::<_, i32>(0), 1),
                PoolMode::Transaction => {
                    let e = executed.expect_err("executed on another server connection than it was prepared on");
                    let message = e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string());
                    assert!(message.contains("prepared statement") && message.contains("does not exist"), "{message}");
                }
            }
        }
    }
}
