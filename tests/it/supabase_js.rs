//! The README's frontend example, run with the real `@supabase/supabase-js`
//! from npm against the real PostgREST 12 behind the gateway stand-in
//! (`gateway.rs`), and a stand-in of Realtime's WebSocket (no Realtime
//! server runs here): Phoenix protocol; private joins authorized by
//! Realtime's own check, replayed against the real database; broadcasts read
//! from `realtime.messages`, which execbox's triggers fill.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::gateway::Project;
use crate::support::*;

#[derive(Clone)]
struct Fake {
    db_url: String,
    /// Every `phx_join` payload the client sent.
    joins: Arc<Mutex<Vec<Value>>>,
}

/// The claims of a token, unverified (the stand-in only routes; the test
/// signed the tokens).
fn claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap_or("");
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(json!({"role": "anon"}))
}

/// Realtime's check of a private join: a probe row, read back as the user.
async fn may_join(db_url: &str, topic: &str, token: &str) -> bool {
    let mut c = connect(db_url).await;
    let tx = c.transaction().await.unwrap();
    let probe = Uuid::new_v4();
    tx.execute("insert into realtime.messages (id, topic, extension) values ($1, $2, 'broadcast')", &[&probe, &topic])
        .await
        .unwrap();
    let cl = claims(token);
    let role = if cl["role"] == "authenticated" { "authenticated" } else { "anon" };
    let sub = cl["sub"].as_str().unwrap_or("").to_string();
    tx.query(
        "select set_config('role', $1, true), set_config('realtime.topic', $2, true),
                set_config('request.jwt.claims', $3, true), set_config('request.jwt.claim.sub', $4, true)",
        &[&role, &topic, &cl.to_string(), &sub],
    )
    .await
    .unwrap();
    let seen = tx.query("select 1 from realtime.messages where id = $1", &[&probe]).await.unwrap();
    tx.rollback().await.unwrap();
    seen.len() == 1
}

async fn websocket(State(f): State<Fake>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| realtime(f, socket))
}

/// Phoenix over WebSocket, serializer 2.0.0: `[join_ref, ref, topic, event, payload]`.
async fn realtime(f: Fake, mut socket: WebSocket) {
    let mut joined: Option<(String, Value)> = None; // (topic, join_ref)
    let mut sent = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            msg = socket.recv() => {
                let Some(Ok(Message::Text(text))) = msg else { return };
                let m: Vec<Value> = serde_json::from_str(&text).unwrap();
                let (join_ref, r, topic, event, payload) = (&m[0], &m[1], m[2].as_str().unwrap(), m[3].as_str().unwrap(), &m[4]);
                let reply = |status: &str, response: Value| {
                    json!([join_ref, r, topic, "phx_reply", {"status": status, "response": response}]).to_string()
                };
                let answer = match event {
                    "heartbeat" | "access_token" | "phx_leave" => reply("ok", json!({})),
                    "phx_join" => {
                        f.joins.lock().unwrap().push(payload.clone());
                        let channel = topic.strip_prefix("realtime:").unwrap();
                        let token = payload["access_token"].as_str().unwrap_or("");
                        let private = payload["config"]["private"] == true;
                        if !private || may_join(&f.db_url, channel, token).await {
                            joined = Some((topic.to_string(), join_ref.clone()));
                            reply("ok", json!({"postgres_changes": []}))
                        } else {
                            reply("error", json!({"reason": format!("Unauthorized: You do not have permissions to read from this Channel topic: {channel}")}))
                        }
                    }
                    _ => reply("ok", json!({})),
                };
                if socket.send(Message::Text(answer.into())).await.is_err() {
                    return;
                }
            }
            _ = tick.tick(), if joined.is_some() => {
                let (topic, join_ref) = joined.clone().unwrap();
                let c = connect(&f.db_url).await;
                let rows = c
                    .query(
                        "select id, event, payload from realtime.messages
                         where topic = $1 and extension = 'broadcast' and event is not null
                         order by inserted_at, (payload -> 'lines' -> 0 ->> 'seq')::int nulls last",
                        &[&topic.strip_prefix("realtime:").unwrap()],
                    )
                    .await
                    .unwrap();
                for row in rows {
                    let id: Uuid = row.get(0);
                    if !sent.insert(id) {
                        continue;
                    }
                    let (event, payload): (String, Value) = (row.get(1), row.get(2));
                    let m = json!([join_ref, null, topic, "broadcast", {"type": "broadcast", "event": event, "payload": payload}]);
                    if socket.send(Message::Text(m.to_string().into())).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Realtime's socket, for the gateway to serve beside the Data API.
fn realtime_routes(f: Fake) -> axum::Router {
    axum::Router::new().route("/realtime/v1/websocket", axum::routing::get(websocket)).with_state(f)
}

/// Runs `tests/js/follow.mjs` with node; its JSON events.
async fn node(project: &Project, access_token: &str, code: &str, mode: &str) -> Vec<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/js/node_modules/@supabase/supabase-js").is_dir(),
        "tests/js needs its packages: run `npm ci --prefix tests/js` (scripts/test.sh does)"
    );
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("node")
            // Node.js 20 (Debian's) has the WebSocket supabase-js uses behind
            // a flag; 22 has it on.
            .args(["--experimental-websocket", "--no-warnings"])
            .arg(root.join("tests/js/follow.mjs"))
            .env("SUPABASE_URL", &project.url)
            .env("SUPABASE_ANON_KEY", &project.anon_key)
            .env("ACCESS_TOKEN", access_token)
            .env("CODE", code)
            .env("MODE", mode)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the example finished")
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{l}\n{stderr}"))).collect();
    assert!(!events.is_empty(), "the example said nothing; node: {}\n{stderr}", out.status);
    events
}

#[tokio::test]
async fn the_frontend_example_streams_a_session_through_broadcasts() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let w = db.worker();
    let fake = Fake { db_url: db.url.clone(), joins: Default::default() };
    let project = Project::start(&db, realtime_routes(fake.clone())).await;
    let access = project.token_for(user, 600);

    // Lines before and after a pause: some arrive in a batch, the rest later.
    let code = "import time\nfor i in range(300):\n    print('line', i)\nprint('paused', flush=True)\ntime.sleep(1)\nfor i in range(300, 600):\n    print('line', i)\n";
    let events = node(&project, &access, code, "example").await;
    let lines: Vec<String> = events.iter().filter_map(|e| e["line"]["message"].as_str().map(String::from)).collect();
    let mut want: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    want.push("paused".into());
    want.extend((300..600).map(|i| format!("line {i}")));
    assert!(
        lines == want,
        "every line once, in order; got {} lines, events: {:?}",
        lines.len(),
        &events[..events.len().min(5)]
    );
    let seqs: Vec<i64> = events.iter().filter_map(|e| e["line"]["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=601).collect::<Vec<i64>>());
    let done = events.iter().find_map(|e| e.get("done")).unwrap_or_else(|| panic!("{events:?}"));
    assert_eq!(
        (done["status"].as_str(), done["end_reason"].as_str(), done["exit_code"].as_i64()),
        (Some("completed"), Some("exit"), Some(0))
    );

    // The join carried the user's token and asked for a private channel.
    let joins = fake.joins.lock().unwrap().clone();
    assert_eq!(joins.len(), 1, "{joins:?}");
    assert_eq!(joins[0]["access_token"], access.as_str());
    assert_eq!(joins[0]["config"]["private"], true);

    // The session the example inserted is the user's, through RLS.
    let owners: Vec<Uuid> = db
        .client()
        .await
        .query("select user_id from backend_execution_sessions", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(owners, [user]);

    // The mistake the example avoids: a private channel subscribed before
    // the token is set joins as anon, and is refused.
    let events = node(&project, &access, "", "subscribe-first").await;
    assert_eq!(events[0]["subscribed"]["state"], "CHANNEL_ERROR", "{events:?}");
    let joins = fake.joins.lock().unwrap().clone();
    assert_ne!(joins.last().unwrap()["access_token"], access.as_str());
    w.stop().await.unwrap();
}

/// The README shows the example that the test above runs, to the letter.
#[test]
fn the_readme_shows_the_tested_example() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let example = std::fs::read_to_string(root.join("examples/realtime-session.mjs")).unwrap();
    assert!(
        readme.contains(&format!("```js\n{example}```")),
        "README.md must quote examples/realtime-session.mjs whole"
    );
}
