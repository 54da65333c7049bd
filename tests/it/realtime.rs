//! Broadcast from Database against the stand-in of Supabase's Realtime
//! schema: a session's output and status reach its private topic in
//! batches, readable by its owner only (Realtime's own join check, replayed
//! as SQL), and nobody else can send there.

use std::time::Duration;

use serde_json::Value;
use tokio_postgres::Client;
use uuid::Uuid;

use crate::support::*;

const T: Duration = Duration::from_secs(60);

/// Every broadcast on `topic`: (event, payload), in the order their lines
/// were numbered (a client orders and de-duplicates by `seq`).
async fn broadcasts(c: &Client, topic: &str) -> Vec<(String, Value)> {
    let rows = c
        .query(
            "select event, payload from realtime.messages where topic = $1 and extension = 'broadcast' and private
             order by coalesce((payload -> 'lines' -> 0 ->> 'seq')::int, 0), inserted_at",
            &[&topic],
        )
        .await
        .unwrap();
    rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()
}

/// Realtime's check when `user` (None: anon) joins the private channel
/// `topic`: a probe row inserted by Realtime, then read back as the user.
async fn may_join(c: &mut Client, topic: &str, user: Option<Uuid>) -> bool {
    let tx = c.transaction().await.unwrap();
    let probe = Uuid::new_v4();
    tx.execute("insert into realtime.messages (id, topic, extension) values ($1, $2, 'broadcast')", &[&probe, &topic])
        .await
        .unwrap();
    let (role, sub) = match user {
        Some(u) => ("authenticated", u.to_string()),
        None => ("anon", String::new()),
    };
    let claims = serde_json::json!({"sub": sub, "role": role}).to_string();
    tx.query(
        "select set_config('role', $1, true), set_config('realtime.topic', $2, true),
                set_config('request.jwt.claims', $3, true), set_config('request.jwt.claim.sub', $4, true),
                set_config('request.jwt.claim.role', $1, true)",
        &[&role, &topic, &claims, &sub],
    )
    .await
    .unwrap();
    let seen = tx.query("select id from realtime.messages where id = $1", &[&probe]).await.unwrap();
    tx.rollback().await.unwrap();
    seen.len() == 1
}

/// Realtime's check when `user` sends on `topic`: an insert as the user.
async fn may_send(c: &mut Client, topic: &str, user: Uuid) -> bool {
    let tx = c.transaction().await.unwrap();
    let claims = serde_json::json!({"sub": user.to_string(), "role": "authenticated"}).to_string();
    tx.query(
        "select set_config('role', 'authenticated', true), set_config('realtime.topic', $1, true),
                set_config('request.jwt.claims', $2, true)",
        &[&topic, &claims],
    )
    .await
    .unwrap();
    let sent = tx.execute("insert into realtime.messages (topic, extension) values ($1, 'broadcast')", &[&topic]).await;
    let _ = tx.rollback().await;
    match sent {
        Ok(_) => true,
        Err(e) => {
            assert_eq!(e.as_db_error().map(|d| d.code().code()), Some("42501"), "{e}");
            false
        }
    }
}

#[tokio::test]
async fn output_and_status_are_broadcast_in_batches_to_the_owner_only() {
    let db = TestDb::new().await;
    let (owner, other) = (db.user().await, db.user().await);
    let w = db.worker();
    let id = db.submit(owner, "python", "for i in range(5000):\n    print(i)\n").await;
    assert_eq!(db.wait_done(id, T).await.status, SessionStatus::Completed);
    let failing = db.submit(owner, "python", "import sys\nprint('bye')\nsys.exit(3)").await;
    assert_eq!(db.wait_done(failing, T).await.status, SessionStatus::Failed);
    w.stop().await.unwrap();

    let mut c = db.client().await;
    let topic = format!("session:{id}");
    let all = broadcasts(&c, &topic).await;
    let logs: Vec<&Value> = all.iter().filter(|(e, _)| e == "logs").map(|(_, p)| p).collect();
    assert!(!logs.is_empty() && logs.len() <= 36, "5,000 lines in {} messages", logs.len());
    let mut seqs = Vec::new();
    for p in &logs {
        assert!(p.to_string().len() < 256 * 1024, "below the Free plan's payload limit");
        let lines = p["lines"].as_array().unwrap();
        assert!(lines.len() <= 1000);
        for l in lines {
            seqs.push(l["seq"].as_i64().unwrap());
            assert_eq!(l["message"], (seqs.len() - 1).to_string(), "in print order");
            assert_eq!(
                (l["stream"].as_str(), l["stage"].as_str(), l["newline"].as_bool()),
                (Some("stdout"), Some("run"), Some(true))
            );
        }
    }
    assert_eq!(seqs, (1..=5000).collect::<Vec<i64>>(), "every line once, in seq order");
    let statuses: Vec<&Value> = all.iter().filter(|(e, _)| e == "status").map(|(_, p)| p).collect();
    assert_eq!(statuses.first().map(|s| &s["status"]), Some(&Value::from("running")), "{statuses:?}");
    let last = statuses.last().unwrap();
    assert_eq!(
        (last["status"].as_str(), last["end_reason"].as_str(), last["exit_code"].as_i64()),
        (Some("completed"), Some("exit"), Some(0))
    );

    let failed = broadcasts(&c, &format!("session:{failing}")).await;
    let last = &failed.iter().rfind(|(e, _)| e == "status").unwrap().1;
    assert_eq!(
        (last["status"].as_str(), last["end_reason"].as_str(), last["exit_code"].as_i64()),
        (Some("failed"), Some("exit"), Some(3))
    );
    assert_eq!(last["error"], "the program exited with code 3");

    // Who may join, as Realtime checks it.
    assert!(may_join(&mut c, &topic, Some(owner)).await, "the owner receives");
    assert!(!may_join(&mut c, &topic, Some(other)).await, "another user does not");
    assert!(!may_join(&mut c, &topic, None).await, "anon does not");
    assert!(!may_join(&mut c, "session:not-a-uuid", Some(owner)).await, "a malformed topic is refused, not an error");
    // A client joins its session's channel before it inserts the session:
    // an id nobody has used yet may be joined by a signed-in user (ids are
    // the owner's random choice), never by anon.
    let unused = format!("session:{}", Uuid::new_v4());
    assert!(may_join(&mut c, &unused, Some(other)).await);
    assert!(!may_join(&mut c, &unused, None).await);
    // Nobody but the service sends there, not even the owner.
    assert!(!may_send(&mut c, &topic, owner).await);
}

#[tokio::test]
async fn without_a_realtime_schema_sessions_run_and_nothing_is_broadcast() {
    let db = TestDb::new().await;
    db.client().await.batch_execute("drop schema realtime cascade").await.unwrap();
    let user = db.user().await;
    let w = db.worker();
    let id = db.submit(user, "python", "print('plain PostgreSQL')").await;
    let s = db.wait_done(id, T).await;
    assert_eq!(s.status, SessionStatus::Completed, "{s:?}");
    assert_eq!(db.stdout(id).await, ["plain PostgreSQL"]);
    w.stop().await.unwrap();
}
