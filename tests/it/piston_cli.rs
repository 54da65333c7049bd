//! Piston's own clients, unchanged: requests shaped exactly as Piston's CLI
//! sends them (through `tests/js/piston-cli.mjs`, which uses the CLI's own
//! HTTP and WebSocket libraries), with no credentials. Refused (401) by
//! default; served as the anonymous user with `EXECBOX_PISTON_AUTH=none`,
//! limited per client address; credentials, when sent, still count.

use std::path::PathBuf;
use std::time::Duration;

use execbox::config::{Config, PistonAuth};
use futures::SinkExt;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::api::{api_config, body, http, piston, post, user_token, Api};
use crate::support::*;

const ANONYMOUS: &str = "00000000-e8ec-4b0e-8000-a40400000001";

fn open(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut cfg = api_config(db);
    cfg.api.piston_auth = PistonAuth::None;
    tweak(&mut cfg);
    cfg
}

/// Runs the Piston CLI stand-in: `mode` is `run` or `interactive`; `file`
/// is written into a fresh directory under its name. Its JSON lines.
async fn cli(base: &str, mode: &str, language: &str, file: (&str, &str), stdin: &str, flags: &[&str]) -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/js/node_modules/axios").is_dir(),
        "tests/js needs its packages: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file.0);
    std::fs::write(&path, file.1).unwrap();
    let mut child = tokio::process::Command::new("node")
        .arg(root.join("tests/js/piston-cli.mjs"))
        .args([base, mode, language, path.to_str().unwrap()])
        .args(flags)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    // `run --stdin` reads to the end; the interactive mode never ends its
    // input, as the CLI's terminal would not.
    if mode == "run" {
        drop(input);
    } else {
        std::mem::forget(input);
    }
    let out =
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.expect("cli ended").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}\n{stderr}"))).collect()
}

fn messages(lines: &[Value]) -> Vec<Value> {
    lines.iter().filter_map(|l| l.get("message").cloned()).collect()
}

async fn sessions_of(db: &TestDb, user: &str) -> i64 {
    let user = Uuid::parse_str(user).unwrap();
    db.client()
        .await
        .query_one("select count(*) from public.backend_execution_sessions where user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0)
}

const GREET: &str = "name = input()\nprint('hello', name)\n";

#[tokio::test]
async fn piston_cli_is_refused_without_the_setting() {
    let db = TestDb::new().await;
    let api = Api::start(api_config(&db), false).await;
    for mode in ["run", "interactive"] {
        let out = cli(&api.base, mode, "python", ("test.py", "print(1)"), "", &[]).await;
        assert_eq!(out[0]["status"], 401, "{mode}: {out:?}");
        assert_eq!(out[0]["body"]["check"], "missing_token", "{mode}: {out:?}");
    }
    assert_eq!(sessions_of(&db, ANONYMOUS).await, 0);
    api.stop().await;
}

#[tokio::test]
async fn piston_cli_runs_unchanged_in_open_mode() {
    let db = TestDb::new().await;
    let api = Api::start(open(&db, |_| {}), true).await;

    // `piston run python test.py`
    let out = cli(&api.base, "run", "python", ("test.py", "print('OK')"), "", &[]).await;
    let r = &out[0]["response"];
    assert_eq!(r["language"], "python", "{out:?}");
    assert_eq!(r["run"]["stdout"], "OK\n", "{r}");
    assert_eq!(r["run"]["code"], 0, "{r}");

    // `piston run python test.py -i < input`
    let out = cli(&api.base, "run", "python", ("greet.py", GREET), "world\n", &["--stdin"]).await;
    assert_eq!(out[0]["response"]["run"]["stdout"], "hello world\n", "{out:?}");

    // `piston run c++ test.cpp`: a compile stage, reported as Piston does.
    let cpp = "#include <iostream>\nint main() { std::cout << \"OK\" << std::endl; return 3; }\n";
    let out = cli(&api.base, "run", "c++", ("test.cpp", cpp), "", &[]).await;
    let r = &out[0]["response"];
    assert_eq!(r["compile"]["code"], 0, "{r}");
    assert_eq!((r["run"]["stdout"].clone(), r["run"]["code"].clone()), (json!("OK\n"), json!(3)), "{r}");

    // `piston run python greet.py -t`, typing a line; the CLI never closes stdin.
    let out = cli(&api.base, "interactive", "python", ("greet.py", GREET), "world\n", &[]).await;
    let msgs = messages(&out);
    assert_eq!(msgs[0]["type"], "runtime", "{out:?}");
    let stdout: String = msgs
        .iter()
        .filter(|m| m["type"] == "data" && m["stream"] == "stdout")
        .map(|m| m["data"].as_str().unwrap())
        .collect();
    assert_eq!(stdout, "hello world\n", "{out:?}");
    assert!(msgs.iter().any(|m| m["type"] == "exit" && m["stage"] == "run" && m["code"] == 0), "{out:?}");
    assert_eq!(out.last().unwrap()["close"], 4999, "{out:?}");

    // All of it ran as the anonymous user, whom execbox created.
    assert_eq!(sessions_of(&db, ANONYMOUS).await, 4);
    let anon: bool = db
        .client()
        .await
        .query_one("select is_anonymous from auth.users where id = $1::text::uuid", &[&ANONYMOUS])
        .await
        .unwrap()
        .get(0);
    assert!(anon);
    api.stop().await;
}

#[tokio::test]
async fn open_mode_limits_each_address_and_still_checks_credentials() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let api = Api::start(
        open(&db, |c| {
            c.api.piston_ip_rate_per_minute = 4;
            c.api.piston_ip_max_active = 1;
        }),
        true,
    )
    .await;

    // One socket from this address holds its only place...
    let (mut ws, _) = tokio_tungstenite::connect_async(api.ws("/api/v2/connect")).await.unwrap();
    let init =
        json!({"type": "init", "language": "python", "version": "*", "files": [{"name": "g.py", "content": GREET}]});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(init.to_string().into())).await.unwrap();
    let (first, _) = crate::api::read_until(&mut ws, |m| m["type"] == "stage").await;
    assert_eq!(first[0]["type"], "runtime", "{first:?}");
    // ...so a second request waits its turn: 429 with Retry-After.
    let out = cli(&api.base, "run", "python", ("test.py", "print(1)"), "", &[]).await;
    assert_eq!(out[0]["status"], 429, "{out:?}");
    assert!(out[0]["retryAfter"].as_str().is_some_and(|s| s.parse::<u64>().unwrap() >= 1), "{out:?}");
    // A signed-in caller is not the anonymous user and is not held back.
    let (status, v) = post(&api, "/api/v2/execute", Some(&user_token(user)), piston("print('mine')")).await;
    assert_eq!((status, v["run"]["stdout"].clone()), (200, json!("mine\n")), "{v}");
    assert_eq!(sessions_of(&db, &user.to_string()).await, 1);
    // Credentials that fail are refused, never treated as anonymous.
    let (status, v) = post(&api, "/api/v2/execute", Some("not-a-jwt"), piston("print(1)")).await;
    assert_eq!((status, v["check"].clone()), (401, json!("malformed")), "{v}");
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .header("x-api-key", format!("exb_{}", "f".repeat(64)))
        .json(&piston("print(1)"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(resp).await.1["check"], "api_key_refused");
    // Other routes still need credentials.
    let (status, _) = post(&api, "/api/run-backend", None, json!({"code": "print(1)", "language": "python"})).await;
    assert_eq!(status, 401);

    // The socket ends (its program reads a line and exits): the place is free.
    let data = json!({"type": "data", "stream": "stdin", "data": "you\n"});
    ws.send(tokio_tungstenite::tungstenite::Message::Text(data.to_string().into())).await.unwrap();
    let (_, close) = crate::api::read_until(&mut ws, |_| false).await;
    assert_eq!(close, Some(4999));
    drop(ws);
    let out = eventually("the socket's place given back", Duration::from_secs(30), || async {
        let out = cli(&api.base, "run", "python", ("test.py", "print('again')"), "", &[]).await;
        let busy = out[0]["status"] == 429 && out[0]["body"]["message"].as_str().unwrap_or("").contains("at once");
        (!busy).then_some(out)
    })
    .await;
    assert_eq!(out[0]["response"]["run"]["stdout"], "again\n", "{out:?}");

    // Four requests a minute from this address (one turned away for
    // concurrency spends none): the socket, the run above, two more; then
    // the rest of the minute is refused with a wait.
    let mut limited = None;
    for _ in 0..3 {
        let out = cli(&api.base, "run", "python", ("test.py", "print(1)"), "", &[]).await;
        if out[0]["status"] == 429 {
            limited = Some(out[0].clone());
            break;
        }
    }
    let limited = limited.expect("the per-address rate was never reached");
    assert!(limited["body"]["message"].as_str().unwrap().contains("per minute"), "{limited}");
    assert!(limited["retryAfter"].as_str().unwrap().parse::<u64>().unwrap() >= 1, "{limited}");
    api.stop().await;
}
