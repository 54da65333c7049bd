//! The command line as a user drives it: `execbox dev` from an empty data
//! directory, again on the same directory, without PostgreSQL; `execbox run`
//! exit codes and stream separation; `sessions` and `logs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_execbox");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A directory the postgres user can reach (tempdirs are 0700).
fn open_tempdir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    Command::new("chmod").arg("755").arg(d.path()).status().unwrap();
    d
}

/// A plain HTTP/1.0 GET, returning the whole response.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Kills the child if the test fails before stopping it.
struct Dev(Option<Child>);

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).status();
            std::thread::sleep(Duration::from_secs(3));
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `execbox dev` and collects its stdout lines on a channel.
fn start_dev(dir: &std::path::Path, port: u16) -> (Dev, mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .arg("dev")
        .current_dir(dir)
        .env("EXECBOX_DEV_PORT", port.to_string())
        .env("EXECBOX_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Dev(Some(child)), rx)
}

/// Lines until one contains `needle` (panics after `within`).
fn read_until(rx: &mpsc::Receiver<String>, needle: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(needle);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?} within {within:?}; got:\n{}", seen.join("\n")),
        }
    }
}

fn interrupt_and_wait(mut dev: Dev, rx: &mpsc::Receiver<String>) -> Vec<String> {
    let mut child = dev.0.take().unwrap();
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let (tx, ended) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait()));
    let status = ended.recv_timeout(Duration::from_secs(60)).expect("execbox dev stops on Ctrl-C").unwrap();
    assert!(status.success(), "execbox dev exited with {status}");
    rx.try_iter().collect()
}

#[test]
fn dev_from_an_empty_directory_then_again_reusing_the_cluster() {
    let dir = open_tempdir();
    let port = free_port();

    // First run: creates the cluster, prints what a client needs, runs the demo.
    let (child, rx) = start_dev(dir.path(), port);
    let lines = read_until(&rx, "    session ", Duration::from_secs(300));
    let text = lines.join("\n");
    assert!(text.contains("creating a PostgreSQL cluster"), "{text}");
    assert!(text.contains(&format!("DATABASE_URL=postgres://postgres@127.0.0.1:{port}/postgres")), "{text}");
    assert!(text.contains("dev user id:") && text.contains("access token: ey"), "{text}");
    assert!(text.contains("hello from execbox: Python 3"), "{text}");
    assert!(text.contains("streaming line 3 of 3"), "{text}");
    assert!(lines.last().unwrap().ends_with(": completed"), "{text}");
    // The API is up, with the worker's Docker reported healthy.
    let api = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("API URL:"))
        .expect("API URL printed")
        .split_whitespace()
        .next()
        .unwrap();
    let health = http_get(api.strip_prefix("http://").unwrap(), "/health");
    assert!(health.starts_with("HTTP/1.1 200") || health.starts_with("HTTP/1.0 200"), "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    // The playground's address opens the page signed in as the dev user,
    // the demo session in its list, the token gone from the address bar.
    let playground = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Playground:"))
        .expect("the playground's address printed")
        .trim();
    assert!(playground.starts_with(&format!("{api}/?access_token=ey")), "{playground}");
    let shown = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/open-signed-in.mjs"))
        .arg(playground)
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["signedIn"], true, "{shown}");
    assert_eq!(shown["sessions"], 1, "the demo session: {shown}");
    assert!(shown["languages"].as_u64().unwrap() > 0, "{shown}");
    assert_eq!(shown["url"].as_str(), Some(format!("{api}/").as_str()), "{shown}");
    let rest = interrupt_and_wait(child, &rx).join("\n");
    assert!(rest.contains("stopping PostgreSQL (data kept for next time)"), "{rest}");
    let pg = dir.path().join(".execbox/pg");
    assert!(pg.join("PG_VERSION").exists());
    assert!(!pg.join("postmaster.pid").exists(), "PostgreSQL still running after Ctrl-C");
    let state = std::fs::read_to_string(dir.path().join(".execbox/dev.json")).unwrap();

    // Second run: same cluster, same user, data kept (two demo sessions now).
    let (child, rx) = start_dev(dir.path(), port);
    let text = read_until(&rx, "    session ", Duration::from_secs(120)).join("\n");
    assert!(text.contains("using the PostgreSQL cluster"), "{text}");
    assert!(!text.contains("creating a PostgreSQL cluster"), "{text}");
    assert!(!text.contains("applied migrations"), "{text}");
    assert_eq!(std::fs::read_to_string(dir.path().join(".execbox/dev.json")).unwrap(), state);
    let sessions =
        Command::new(BIN).arg("sessions").current_dir(dir.path()).env_remove("DATABASE_URL").output().unwrap();
    let table = String::from_utf8_lossy(&sessions.stdout);
    assert_eq!(table.lines().filter(|l| l.contains("completed")).count(), 2, "{table}");
    interrupt_and_wait(child, &rx);
}

#[test]
fn dev_without_postgresql_says_what_to_install() {
    let dir = open_tempdir();
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("dev")
        .current_dir(dir.path())
        .env("PATH", empty.path())
        .env("EXECBOX_PG_SYSTEM_DIR", empty.path())
        .env_remove("EXECBOX_PG_BINDIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL server binaries were not found"), "{err}");
    assert!(err.contains("apt-get install -y postgresql"), "{err}");
    if std::path::Path::new("/etc/debian_version").exists() && execbox::dev::is_root() {
        // Offered, not done: nobody answered (no terminal, no --yes).
        assert!(err.contains("execbox dev --yes"), "{err}");
    }
    assert_eq!(err.trim().lines().count(), 1, "one clear sentence: {err}");
}

#[test]
fn dev_refuses_a_port_taken_by_another_program() {
    let dir = open_tempdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = Command::new(BIN)
        .arg("dev")
        .current_dir(dir.path())
        .env("EXECBOX_DEV_PORT", port.to_string())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("port {port} is taken by another program")), "{err}");
    assert!(err.contains("EXECBOX_DEV_PORT"), "{err}");
}

/// `execbox run` against a test database, as `user`.
fn run_cli(db: &TestDb, user: uuid::Uuid, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("run")
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", &db.url)
        .env("EXECBOX_USER_ID", user.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn run_separates_streams_and_returns_the_exit_code() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("hello.py"), "print('hello')\n").unwrap();
    std::fs::write(
        p.join("both.py"),
        "import sys\nprint('out line')\nprint('err line', file=sys.stderr)\nsys.exit(int(sys.stdin.read()))\n",
    )
    .unwrap();
    std::fs::write(p.join("spin.js"), "for(;;){}\n").unwrap();
    std::fs::write(p.join("notes.txt"), "hi\n").unwrap();
    std::fs::write(p.join("script"), "print('as python')\n").unwrap();

    let out = tokio::task::spawn_blocking({
        let (db_url, p) = (db.url.clone(), p.to_path_buf());
        move || {
            let db = TestDb { url: db_url };
            let hello = run_cli(&db, user, &p, &["hello.py"]);
            let both = run_cli(&db, user, &p, &["both.py", "--stdin", "7"]);
            let spin = run_cli(&db, user, &p, &["spin.js", "--timeout", "1s"]);
            let unknown = run_cli(&db, user, &p, &["notes.txt"]);
            let forced = run_cli(&db, user, &p, &["script", "--lang", "py"]);
            let json = run_cli(&db, user, &p, &["hello.py", "--json"]);
            (hello, both, spin, unknown, forced, json)
        }
    })
    .await
    .unwrap();
    let (hello, both, spin, unknown, forced, json) = out;
    let s = |b: &[u8]| String::from_utf8_lossy(b).to_string();

    assert_eq!(hello.status.code(), Some(0), "{}", s(&hello.stderr));
    assert_eq!(s(&hello.stdout), "hello\n");

    assert_eq!(both.status.code(), Some(7));
    assert_eq!(s(&both.stdout), "out line\n");
    assert!(s(&both.stderr).starts_with("err line\n"), "{}", s(&both.stderr));
    assert!(s(&both.stderr).contains("exited with code 7"));

    assert_eq!(spin.status.code(), Some(124), "{}", s(&spin.stderr));
    assert!(s(&spin.stderr).contains("time limit of 1000 ms"));

    assert_ne!(unknown.status.code(), Some(0));
    assert!(s(&unknown.stderr).contains("cannot tell the language of notes.txt"), "{}", s(&unknown.stderr));

    assert_eq!(forced.status.code(), Some(0));
    assert_eq!(s(&forced.stdout), "as python\n");

    assert_eq!(json.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["session"]["status"], "completed");
    assert_eq!(v["session"]["user_id"], user.to_string());
    assert_eq!(v["logs"][0]["message"], "hello");
    assert_eq!(v["logs"][0]["stream"], "stdout");

    // The sessions were inserted as that user, under RLS: they are theirs.
    let c = db.client().await;
    let n: i64 = c
        .query_one("select count(*) from backend_execution_sessions where user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 5);
    w.stop().await.unwrap();
}

#[tokio::test]
async fn logs_prints_a_sessions_rows() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let id = db.submit(user, "python", "import sys\nprint('one')\nprint('two', file=sys.stderr)").await;
    db.wait_done(id, Duration::from_secs(60)).await;
    let url = db.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(["logs", &id.to_string(), "--follow"]).env("DATABASE_URL", url).output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "two\n");
    let bad = Command::new(BIN).args(["logs", "not-a-uuid"]).env("DATABASE_URL", &db.url).output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a session id"));
    w.stop().await.unwrap();
}

#[test]
fn images_list_shows_each_runtimes_image_and_how_to_build_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("runtimes.toml");
    let builtin = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/runtimes.toml")).unwrap();
    // The built-in table plus a language whose image was never built, and
    // one whose image has an older launcher.
    let entry = |language: &str, image: &str| {
        format!("\n[[runtime]]\nlanguage='{language}'\nversion='0'\nimage='{image}'\nbuild='python'\nfile='main.py'\nrun=['python3','main.py']\n")
    };
    let extra = entry("ghost", "execbox/does-not-exist:0") + &entry("elder", older_launcher_image());
    std::fs::write(&table, format!("{builtin}{extra}")).unwrap();
    let out = Command::new(BIN).args(["images", "list"]).env("EXECBOX_RUNTIMES", &table).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let python = text.lines().find(|l| l.starts_with("python ")).unwrap_or_else(|| panic!("{text}"));
    assert!(python.contains("execbox/python:3.11") && python.ends_with(" MB"), "{python}");
    let ghost = text.lines().find(|l| l.starts_with("ghost ")).unwrap_or_else(|| panic!("{text}"));
    assert!(ghost.ends_with("missing: execbox images build ghost"), "{ghost}");
    let elder = text.lines().find(|l| l.starts_with("elder ")).unwrap_or_else(|| panic!("{text}"));
    assert!(elder.contains(" MB") && elder.ends_with("older launcher: execbox images build elder"), "{elder}");
    assert!(!python.contains("older"), "{python}");
}
