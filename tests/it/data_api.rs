//! execbox's tables through the Data API as a Supabase project serves it:
//! the real PostgREST 12 behind the gateway stand-in (`gateway.rs`), called
//! as a frontend calls it (the project's anon key as `apikey`, the user's
//! access token as the bearer). What a user can do to their own sessions;
//! what another user and `anon` cannot.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::gateway::Project;
use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// One Data API call: `apikey` is the anon key; the bearer is `token`, or
/// the anon key itself (what supabase-js sends before sign-in).
async fn call(
    p: &Project,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", p.rest()))
        .header("apikey", &p.anon_key)
        .header("Authorization", format!("Bearer {}", token.unwrap_or(&p.anon_key)))
        .header("Prefer", "return=representation");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Inserts a session as the token's user; its row as PostgREST returned it.
async fn insert_session(p: &Project, token: &str, row: Value) -> Value {
    let (status, rows) = call(p, Some(token), Method::POST, "/backend_execution_sessions", Some(row)).await;
    assert_eq!(status, StatusCode::CREATED, "{rows}");
    rows[0].clone()
}

fn id_of(row: &Value) -> Uuid {
    row["id"].as_str().unwrap().parse().unwrap()
}

/// The session's row as its owner reads it.
async fn session(p: &Project, token: &str, id: Uuid) -> Value {
    let (status, rows) =
        call(p, Some(token), Method::GET, &format!("/backend_execution_sessions?id=eq.{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows[0].clone()
}

/// Waits until the owner sees the session in a terminal status.
async fn finished(p: &Project, token: &str, id: Uuid) -> Value {
    eventually("the session ends", T, || async {
        let s = session(p, token, id).await;
        (!["pending", "running"].contains(&s["status"].as_str().unwrap())).then_some(s)
    })
    .await
}

/// Every log row after `seq`, page by page (the project's max-rows is
/// 1000, as Supabase's default).
async fn logs_after(p: &Project, token: &str, id: Uuid, mut seq: i64) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let path = format!("/execution_logs?session_id=eq.{id}&seq=gt.{seq}&order=seq.asc&select=seq,stream,message");
        let (status, rows) = call(p, Some(token), Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{rows}");
        let rows = rows.as_array().unwrap().clone();
        let Some(last) = rows.last() else { return all };
        seq = last["seq"].as_i64().unwrap();
        all.extend(rows);
    }
}

#[tokio::test]
async fn a_user_runs_follows_feeds_and_cancels_their_sessions_through_postgrest() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let p = Project::start(&db, axum::Router::new()).await;
    let token = p.token_for(user, 600);
    let w = db.worker();

    // Insert, run, read every line back by seq (more than one page).
    let row = insert_session(
        &p,
        &token,
        json!({"language": "python", "code": "for i in range(1500):\n    print('line', i)\n"}),
    )
    .await;
    assert_eq!(row["user_id"], user.to_string(), "the row is the token's user's");
    let id = id_of(&row);
    let s = finished(&p, &token, id).await;
    assert_eq!((s["status"].as_str(), s["exit_code"].as_i64()), (Some("completed"), Some(0)), "{s}");
    let lines = logs_after(&p, &token, id, 0).await;
    let seqs: Vec<i64> = lines.iter().map(|l| l["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=1500).collect::<Vec<_>>());
    assert_eq!(lines[1499]["message"], "line 1499");
    // A token signed with the project's legacy secret is as good.
    let legacy = p.hs256_token_for(user);
    assert_eq!(session(&p, &legacy, id).await["id"], id.to_string());

    // The dashboard's view shows it.
    let (status, rows) = call(&p, Some(&token), Method::GET, &format!("/session_overview?id=eq.{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");

    // An interactive session reads the input rows its owner inserts.
    let code = "import sys\nfor line in sys.stdin:\n    print('echo', line.strip(), flush=True)\n";
    let fed =
        id_of(&insert_session(&p, &token, json!({"language": "python", "code": code, "interactive": true})).await);
    for (kind, data) in [("stdin", Some("hello\n")), ("eof", None)] {
        let (status, rows) = call(
            &p,
            Some(&token),
            Method::POST,
            "/session_input",
            Some(json!({"session_id": fed, "kind": kind, "data": data})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{rows}");
    }
    assert_eq!(finished(&p, &token, fed).await["status"], "completed");
    let out: Vec<Value> = logs_after(&p, &token, fed, 0).await.into_iter().map(|l| l["message"].clone()).collect();
    assert_eq!(out, [json!("echo hello")]);

    // Cancel: the owner sets cancel_requested_at (the database stamps it).
    let sleeper = json!({"language": "python", "code": "import time\nprint('up', flush=True)\ntime.sleep(600)\n"});
    let long = id_of(&insert_session(&p, &token, sleeper).await);
    eventually("the program runs", T, || async { (!logs_after(&p, &token, long, 0).await.is_empty()).then_some(()) })
        .await;
    let (status, rows) = call(
        &p,
        Some(&token),
        Method::PATCH,
        &format!("/backend_execution_sessions?id=eq.{long}"),
        Some(json!({"cancel_requested_at": "2000-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_ne!(rows[0]["cancel_requested_at"], "2000-01-01T00:00:00+00:00", "the database's clock, not the client's");
    assert_eq!(finished(&p, &token, long).await["status"], "cancelled");

    // API keys through their RPC: made as the user, listed without the key.
    let (status, key) = call(&p, Some(&token), Method::POST, "/rpc/create_api_key", Some(json!({"name": "ci"}))).await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let key = key.as_str().unwrap().to_string();
    let listed = "/execbox_api_keys?select=id,name,prefix,created_at,last_used_at,revoked_at";
    let (status, rows) = call(&p, Some(&token), Method::GET, listed, None).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert!(key.starts_with(rows[0]["prefix"].as_str().unwrap()), "{rows} {key}");
    // Its hash is not the user's to read.
    let (status, rows) = call(&p, Some(&token), Method::GET, "/execbox_api_keys?select=key_hash", None).await;
    assert_eq!((status, rows["code"].as_str()), (StatusCode::FORBIDDEN, Some("42501")), "{rows}");
    w.stop().await.unwrap();
}

#[tokio::test]
async fn another_user_and_anon_see_and_change_nothing_through_postgrest() {
    let db = TestDb::new().await;
    let (owner, other) = (db.user().await, db.user().await);
    let p = Project::start(&db, axum::Router::new()).await;
    let (mine, theirs) = (p.token_for(owner, 600), p.token_for(other, 600));
    let id =
        id_of(&insert_session(&p, &mine, json!({"language": "python", "code": "print(1)", "interactive": true})).await);
    let by_id = format!("/backend_execution_sessions?id=eq.{id}");

    // Another user: reads nothing, updates nothing, inserts nothing of the owner's.
    for path in [by_id.clone(), format!("/execution_logs?session_id=eq.{id}"), format!("/session_overview?id=eq.{id}")]
    {
        let (status, rows) = call(&p, Some(&theirs), Method::GET, &path, None).await;
        assert_eq!((status, rows), (StatusCode::OK, json!([])), "{path}");
    }
    let (status, rows) =
        call(&p, Some(&theirs), Method::PATCH, &by_id, Some(json!({"cancel_requested_at": "2000-01-01T00:00:00Z"})))
            .await;
    assert_eq!((status, rows), (StatusCode::OK, json!([])), "an update that reaches no row");
    let (status, rows) = call(
        &p,
        Some(&theirs),
        Method::POST,
        "/session_input",
        Some(json!({"session_id": id, "kind": "stdin", "data": "intruder\n"})),
    )
    .await;
    assert_eq!((status, rows["code"].as_str()), (StatusCode::FORBIDDEN, Some("42501")), "{rows}");
    let (status, rows) = call(
        &p,
        Some(&theirs),
        Method::POST,
        "/backend_execution_sessions",
        Some(json!({"language": "python", "code": "print(1)", "user_id": owner})),
    )
    .await;
    assert_eq!((status, rows["code"].as_str()), (StatusCode::FORBIDDEN, Some("42501")), "{rows}");
    assert_eq!(session(&p, &mine, id).await["cancel_requested_at"], Value::Null);

    // Anon (the anon key alone): no table of execbox's answers it.
    for path in [by_id.as_str(), "/execution_logs", "/session_input", "/execbox_api_keys", "/session_overview"] {
        let (status, rows) = call(&p, None, Method::GET, path, None).await;
        assert_eq!((status, rows["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("42501")), "{path}: {rows}");
    }
    let (status, rows) = call(
        &p,
        None,
        Method::POST,
        "/backend_execution_sessions",
        Some(json!({"language": "python", "code": "print(1)"})),
    )
    .await;
    assert_eq!((status, rows["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("42501")), "{rows}");

    // Every function in the schema the Data API exposes refuses anon,
    // called with its own arguments (trigger functions PostgREST does not
    // offer at all).
    let rpcs: Vec<(String, Value, bool)> = db
        .client()
        .await
        .query(
            "select p.proname::text,
                    coalesce((select json_object_agg(a.name, null)
                              from unnest(p.proargnames,
                                          coalesce(p.proargmodes, array_fill('i'::\"char\", array[coalesce(cardinality(p.proargnames), 0)])))
                                   as a(name, mode)
                              where a.mode in ('i', 'b')), '{}'::json),
                    p.prorettype = 'trigger'::regtype
             from pg_proc p where p.pronamespace = 'public'::regnamespace",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(rpcs.iter().any(|(name, ..)| name == "create_api_key"), "{rpcs:?}");
    for (rpc, args, trigger) in &rpcs {
        let (status, rows) = call(&p, None, Method::POST, &format!("/rpc/{rpc}"), Some(args.clone())).await;
        let refused = status == StatusCode::UNAUTHORIZED && rows["code"] == "42501";
        let not_offered = *trigger && status == StatusCode::NOT_FOUND && rows["code"] == "PGRST202";
        assert!(refused || not_offered, "rpc/{rpc} as anon with {args}: {status} {rows}");
    }

    // The gateway's own check: no key, or a key not the project's.
    for key in [None, Some("not-a-key")] {
        let mut req = reqwest::Client::new().get(format!("{}/backend_execution_sessions", p.rest()));
        if let Some(k) = key {
            req = req.header("apikey", k);
        }
        assert_eq!(req.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{key:?}");
    }
    // An expired token is PostgREST's 401, whoever it names.
    let (status, rows) = call(&p, Some(&p.token_for(owner, -60)), Method::GET, &by_id, None).await;
    assert_eq!((status, rows["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("PGRST301")), "{rows}");
}
