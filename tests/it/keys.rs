//! API keys: made by a signed-in user through `create_api_key()` (under RLS,
//! as the Supabase client calls it) or `execbox keys create`; accepted as
//! `Authorization: Bearer`, `X-Api-Key` and `X-Auth-Token`, acting as the
//! owner; each user sees and revokes only their own; a revoked key is
//! refused at once; only a hash is stored.

use std::process::{Command, Stdio};

use serde_json::{json, Value};
use uuid::Uuid;

use crate::api::{api_config, body, get, http, piston, Api};
use crate::support::*;

const BIN: &str = env!("CARGO_BIN_EXE_execbox");

/// `select create_api_key(name)` as `user` (None: anon), as supabase-js's
/// `rpc('create_api_key', {name})` runs it through PostgREST.
pub(crate) async fn create_key(db: &TestDb, user: Option<Uuid>, name: &str) -> Result<String, tokio_postgres::Error> {
    let mut c = db.client().await;
    let tx = as_user(&mut c, user).await;
    let key: String = tx.query_one("select public.create_api_key($1)", &[&name]).await?.get(0);
    tx.commit().await?;
    Ok(key)
}

/// `execbox keys <args>` against the test database as `user`.
fn keys_cli(db: &TestDb, user: Uuid, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .arg("keys")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("EXECBOX_USER_ID", user.to_string())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn execute_with(api: &Api, header: (&str, &str)) -> (u16, Value) {
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .header(header.0, header.1)
        .json(&piston("print('key works')"))
        .send()
        .await
        .unwrap();
    body(resp).await
}

#[tokio::test]
async fn keys_act_as_their_owner_in_every_header_and_revoke_at_once() {
    let db = TestDb::new().await;
    let (alice, bob) = (db.user().await, db.user().await);
    let api = Api::start(api_config(&db), true).await;

    // Anonymous callers cannot make keys.
    let err = create_key(&db, None, "nope").await.unwrap_err();
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("42501"), "{err}");

    let key = create_key(&db, Some(alice), "laptop").await.unwrap();
    assert!(key.starts_with("exb_") && key.len() == 68, "{key}");
    assert!(key[4..].chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    // Only a hash is stored: the key appears in no column.
    let c = db.client().await;
    let stored: String = c
        .query_one("select row_to_json(k)::text from public.execbox_api_keys k where user_id = $1", &[&alice])
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(&key[4..]), "{stored}");

    let bearer = format!("Bearer {key}");
    let mut sessions = 0;
    for header in [("authorization", bearer.as_str()), ("x-api-key", key.as_str()), ("x-auth-token", key.as_str())] {
        let (status, v) = execute_with(&api, header).await;
        assert_eq!(status, 200, "{header:?}: {v}");
        assert_eq!(v["run"]["stdout"], "key works\n", "{v}");
        let owned: i64 = c
            .query_one("select count(*) from public.backend_execution_sessions where user_id = $1", &[&alice])
            .await
            .unwrap()
            .get(0);
        sessions += 1;
        assert_eq!(owned, sessions, "{header:?}: the session belongs to the key's owner");
    }
    let used: Option<chrono::DateTime<chrono::Utc>> = c
        .query_one("select last_used_at from public.execbox_api_keys where user_id = $1", &[&alice])
        .await
        .unwrap()
        .get(0);
    assert!(used.is_some(), "last_used_at is recorded");

    // RLS: Bob sees none of Alice's keys and cannot revoke them.
    let mut bc = db.client().await;
    let tx = as_user(&mut bc, Some(bob)).await;
    assert_eq!(tx.query("select id from public.execbox_api_keys", &[]).await.unwrap().len(), 0);
    let n = tx.execute("update public.execbox_api_keys set revoked_at = now()", &[]).await.unwrap();
    assert_eq!(n, 0, "Bob revoked Alice's key");
    // Nor read the hashes, even his own.
    let err = tx.query("select key_hash from public.execbox_api_keys", &[]).await.unwrap_err();
    assert_eq!(err.as_db_error().map(|e| e.code().code()), Some("42501"), "{err}");
    drop(tx);
    let (status, _) = execute_with(&api, ("x-api-key", &key)).await;
    assert_eq!(status, 200, "Bob's attempt left the key working");

    // Alice revokes it: the next request is refused, and it stays revoked.
    let mut ac = db.client().await;
    let tx = as_user(&mut ac, Some(alice)).await;
    let n = tx.execute("update public.execbox_api_keys set revoked_at = now()", &[]).await.unwrap();
    assert_eq!(n, 1);
    tx.commit().await.unwrap();
    for header in [("authorization", bearer.as_str()), ("x-api-key", key.as_str()), ("x-auth-token", key.as_str())] {
        let (status, v) = execute_with(&api, header).await;
        assert_eq!(status, 401, "{header:?}: {v}");
        assert_eq!(v["check"], "api_key_refused", "{v}");
    }
    let tx = as_user(&mut ac, Some(alice)).await;
    // Trying to withdraw it leaves it revoked, at the time it was revoked.
    let before: chrono::DateTime<chrono::Utc> =
        tx.query_one("select revoked_at from public.execbox_api_keys", &[]).await.unwrap().get(0);
    tx.execute("update public.execbox_api_keys set revoked_at = null", &[]).await.unwrap();
    let after: Option<chrono::DateTime<chrono::Utc>> =
        tx.query_one("select revoked_at from public.execbox_api_keys", &[]).await.unwrap().get(0);
    assert_eq!(after, Some(before), "a revocation was withdrawn or moved");
    tx.commit().await.unwrap();
    let (status, _) = execute_with(&api, ("x-api-key", &key)).await;
    assert_eq!(status, 401, "a revoked key came back");

    // Forged and misplaced credentials.
    let forged = format!("exb_{}", "0".repeat(64));
    assert_eq!(execute_with(&api, ("x-api-key", &forged)).await.1["check"], "api_key_refused");
    assert_eq!(execute_with(&api, ("x-api-key", "eyJhbGciOiJIUzI1NiJ9.e30.x")).await.1["check"], "malformed");
    assert_eq!(execute_with(&api, ("x-auth-token", "exb_'; drop table x; --")).await.1["check"], "api_key_refused");
    let (status, v) = get(&api, &format!("/api/run-backend/ws/{}?access_token={forged}", Uuid::new_v4()), None).await;
    assert_eq!((status, v["check"].clone()), (401, json!("api_key_refused")), "in the query: {v}");
    api.stop().await;
}

#[tokio::test]
async fn keys_cli_creates_lists_and_revokes_as_the_user() {
    let db = TestDb::new().await;
    let (alice, bob) = (db.user().await, db.user().await);
    let api = Api::start(api_config(&db), true).await;

    let (code, key, err) = keys_cli(&db, alice, &["create", "ci runner"]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("exb_"), "{key}");
    assert!(err.contains("shown only now"), "{err}");
    let (status, v) = execute_with(&api, ("x-api-key", &key)).await;
    assert_eq!(status, 200, "{v}");

    let (code, list, err) = keys_cli(&db, alice, &["list"]);
    assert_eq!(code, 0, "{err}");
    assert!(list.contains("ci runner") && list.contains(&key[..12]), "{list}");
    assert!(!list.contains(&key), "list shows the key itself: {list}");
    let id = list.lines().nth(1).unwrap().split_whitespace().next().unwrap().to_string();

    let (code, list, _) = keys_cli(&db, bob, &["list"]);
    assert_eq!(code, 0);
    assert_eq!(list.lines().count(), 1, "Bob sees Alice's keys: {list}");
    let (code, _, err) = keys_cli(&db, bob, &["revoke", &id]);
    assert_ne!(code, 0, "Bob revoked Alice's key");
    assert!(err.contains("no live key"), "{err}");

    let (code, out, err) = keys_cli(&db, alice, &["revoke", &id]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&id), "{out}");
    let (status, _) = execute_with(&api, ("x-api-key", &key)).await;
    assert_eq!(status, 401);
    let (_, list, _) = keys_cli(&db, alice, &["list"]);
    assert!(!list.lines().nth(1).unwrap().trim_end().ends_with(" -"), "revoked time shown: {list}");
    let (code, _, err) = keys_cli(&db, alice, &["revoke", "not-a-uuid"]);
    assert_ne!(code, 0);
    assert!(err.contains("invalid"), "{err}");
    api.stop().await;
}

#[tokio::test]
async fn keys_over_http_are_made_listed_and_revoked_by_their_owner() {
    let db = TestDb::new().await;
    let (alice, bob) = (db.user().await, db.user().await);
    let api = Api::start(api_config(&db), false).await;
    let (at, bt) = (crate::api::user_token(alice), crate::api::user_token(bob));

    let (status, made) = crate::api::post(&api, "/api/keys", Some(&at), json!({"name": "ci"})).await;
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_string();
    assert_eq!((made["name"].clone(), made["prefix"].clone()), (json!("ci"), json!(key[..12])));
    // The key works, and lists itself without showing itself.
    let (status, list) = get(&api, "/api/keys", Some(&key)).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&key[12..]), "{list}");
    let id = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(get(&api, "/api/keys", Some(&bt)).await.1, json!([]));

    // Bad names and bodies.
    for (body, want) in [
        (json!({"name": ""}), 422),
        (json!({"name": "a\u{7}b"}), 422),
        (json!({"name": "x".repeat(101)}), 422),
        (json!(["ci"]), 422),
        (json!({"name": "ci", "extra": 1}), 422),
    ] {
        assert_eq!(crate::api::post(&api, "/api/keys", Some(&at), body.clone()).await.0, want, "{body}");
    }
    let service = crate::api::service_token();
    assert_eq!(crate::api::post(&api, "/api/keys", Some(&service), json!({"name": "x"})).await.0, 403);

    // Only its owner revokes it, once; then it is refused.
    let revoke = |token: String| {
        let url = format!("{}/api/keys/{id}", api.base);
        async move { http().delete(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(revoke(bt.clone()).await, 404);
    assert_eq!(get(&api, "/api/keys", Some(&key)).await.0, 200, "Bob revoked Alice's key");
    assert_eq!(revoke(at.clone()).await, 204);
    assert_eq!(revoke(at.clone()).await, 404);
    let (status, v) = get(&api, "/api/keys", Some(&key)).await;
    assert_eq!((status, v["check"].clone()), (401, json!("api_key_refused")));
    assert!(get(&api, "/api/keys", Some(&at)).await.1[0]["revoked_at"].is_string());
    api.stop().await;
}
