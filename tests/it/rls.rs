//! Row-level security, exercised the way PostgREST runs a request: a
//! transaction with `SET LOCAL ROLE` and `request.jwt.claims`.

use tokio_postgres::Client;
use uuid::Uuid;

use crate::support::*;

async fn try_as(c: &mut Client, user: Option<Uuid>, sql: &str) -> Result<u64, String> {
    let tx = as_user(c, user).await;
    let r = tx
        .execute(sql, &[])
        .await
        .map_err(|e| e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()));
    if r.is_ok() {
        tx.commit().await.unwrap();
    }
    r
}

async fn count_as(c: &mut Client, user: Option<Uuid>, sql: &str) -> Result<i64, String> {
    let tx = as_user(c, user).await;
    tx.query_one(sql, &[])
        .await
        .map(|r| r.get(0))
        .map_err(|e| e.as_db_error().map(|d| d.message().to_string()).unwrap_or(e.to_string()))
}

#[tokio::test]
async fn rls_matrix() {
    let db = TestDb::new().await;
    let a = db.user().await;
    let b = db.user().await;
    let mut c = db.client().await;

    // A inserts for themself; user_id defaults to auth.uid().
    let sa = db.submit(a, "python", "print('a')").await;
    let owner: Uuid =
        c.query_one("select user_id from backend_execution_sessions where id = $1", &[&sa]).await.unwrap().get(0);
    assert_eq!(owner, a);
    // Seed output and a container row as the worker would (service side).
    c.batch_execute(&format!(
        "insert into execution_logs (session_id, user_id, seq, stream, level, message) values ('{sa}', '{a}', 1, 'stdout', 'info', 'secret of a');
         insert into container_instances (session_id, attempt, worker_id, image) values ('{sa}', 1, 'w', 'img');"
    ))
    .await
    .unwrap();

    // --- insert ---------------------------------------------------------
    // Not for someone else.
    let e = try_as(
        &mut c,
        Some(a),
        &format!("insert into backend_execution_sessions (user_id, language, code) values ('{b}', 'python', 'x')"),
    )
    .await;
    assert!(e.unwrap_err().contains("row-level security"));
    // Not as anything but pending (status is not even a writable column).
    let e = try_as(
        &mut c,
        Some(a),
        "insert into backend_execution_sessions (language, code, status) values ('python', 'x', 'completed')",
    )
    .await;
    assert!(e.unwrap_err().contains("permission denied"));
    // Not worker columns.
    for col in ["exit_code", "error", "attempt", "claimed_by", "started_at"] {
        let val = if col == "claimed_by" || col == "error" {
            "'x'"
        } else if col == "started_at" {
            "now()"
        } else {
            "1"
        };
        let e = try_as(
            &mut c,
            Some(a),
            &format!("insert into backend_execution_sessions (language, code, {col}) values ('python', 'x', {val})"),
        )
        .await;
        assert!(e.unwrap_err().contains("permission denied"), "{col}");
    }
    // anon: nothing.
    let e =
        try_as(&mut c, None, "insert into backend_execution_sessions (language, code) values ('python', 'x')").await;
    assert!(e.unwrap_err().contains("permission denied"));

    // --- read -----------------------------------------------------------
    assert_eq!(count_as(&mut c, Some(a), "select count(*) from backend_execution_sessions").await, Ok(1));
    assert_eq!(count_as(&mut c, Some(b), "select count(*) from backend_execution_sessions").await, Ok(0));
    assert_eq!(count_as(&mut c, Some(a), "select count(*) from execution_logs").await, Ok(1));
    assert_eq!(count_as(&mut c, Some(b), "select count(*) from execution_logs").await, Ok(0));
    assert_eq!(count_as(&mut c, Some(a), "select count(*) from container_instances").await, Ok(1));
    assert_eq!(count_as(&mut c, Some(b), "select count(*) from container_instances").await, Ok(0));
    for t in ["backend_execution_sessions", "execution_logs", "container_instances"] {
        let e = count_as(&mut c, None, &format!("select count(*) from {t}")).await;
        assert!(e.unwrap_err().contains("permission denied"), "anon reads {t}");
    }

    // --- update ---------------------------------------------------------
    // Status and results are the worker's.
    let e = try_as(
        &mut c,
        Some(a),
        &format!("update backend_execution_sessions set status = 'completed' where id = '{sa}'"),
    )
    .await;
    assert!(e.unwrap_err().contains("permission denied"));
    let e = try_as(&mut c, Some(a), &format!("update backend_execution_sessions set code = 'evil' where id = '{sa}'"))
        .await;
    assert!(e.unwrap_err().contains("permission denied"));
    // B cannot cancel A's session: the row is invisible, nothing changes.
    assert_eq!(
        try_as(
            &mut c,
            Some(b),
            &format!("update backend_execution_sessions set cancel_requested_at = now() where id = '{sa}'")
        )
        .await,
        Ok(0)
    );
    assert_eq!(db.session(sa).await.status, SessionStatus::Pending);
    // Users never write logs or containers.
    let e = try_as(&mut c, Some(a), &format!("insert into execution_logs (session_id, user_id, seq, stream, level, message) values ('{sa}', '{a}', 2, 'stdout', 'info', 'forged')")).await;
    assert!(e.unwrap_err().contains("permission denied"));
    let e = try_as(&mut c, Some(a), "delete from execution_logs").await;
    assert!(e.unwrap_err().contains("permission denied"));
    let e = try_as(&mut c, Some(a), &format!("delete from backend_execution_sessions where id = '{sa}'")).await;
    assert!(e.unwrap_err().contains("permission denied"));
    // A cancels their own: allowed, stamped by the database, final.
    assert_eq!(
        try_as(
            &mut c,
            Some(a),
            &format!("update backend_execution_sessions set cancel_requested_at = '2000-01-01' where id = '{sa}'")
        )
        .await,
        Ok(1)
    );
    let s = db.session(sa).await;
    assert_eq!(s.status, SessionStatus::Cancelled);
    let stamped: bool = c
        .query_one(
            "select cancel_requested_at > now() - interval '1 minute' from backend_execution_sessions where id = $1",
            &[&sa],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stamped, "the client's timestamp must not be trusted");
    // A finished session cannot be touched any more (withdrawing a cancel included).
    assert_eq!(
        try_as(
            &mut c,
            Some(a),
            &format!("update backend_execution_sessions set cancel_requested_at = null where id = '{sa}'")
        )
        .await,
        Ok(0)
    );

    // --- service role -----------------------------------------------------
    let tx = c.transaction().await.unwrap();
    tx.batch_execute("set local role service_role").await.unwrap();
    let n: i64 = tx.query_one("select count(*) from backend_execution_sessions", &[]).await.unwrap().get(0);
    assert_eq!(n, 1);
    tx.execute("update backend_execution_sessions set error = 'service may write' where id = $1", &[&sa])
        .await
        .unwrap();
    tx.execute(
        "insert into execution_logs (session_id, user_id, seq, stream, level, message) values ($1, $2, 2, 'system', 'info', 'ok')",
        &[&sa, &a],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn realtime_publication_and_notify_triggers() {
    let db = TestDb::new().await;
    let c = db.client().await;
    let tables: Vec<String> = c
        .query("select tablename::text from pg_publication_tables where pubname = 'supabase_realtime' order by 1", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["backend_execution_sessions", "execution_logs"]);

    // An insert and a cancel request each NOTIFY the session id, nothing more.
    let (listener, mut conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut msgs = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = futures::StreamExt::next(&mut msgs).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = tx.send((n.channel().to_string(), n.payload().to_string()));
            }
        }
    });
    listener.batch_execute("listen execbox_session; listen execbox_cancel").await.unwrap();
    let user = db.user().await;
    let id = db.submit(user, "python", "print(1)").await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(got, ("execbox_session".to_string(), id.to_string()));
    // Cancel of a running session notifies the workers.
    c.execute("update backend_execution_sessions set status = 'running', attempt = 1 where id = $1", &[&id])
        .await
        .unwrap();
    c.execute("update backend_execution_sessions set cancel_requested_at = now() where id = $1", &[&id]).await.unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await.unwrap().unwrap();
    assert_eq!(got, ("execbox_cancel".to_string(), id.to_string()));
}
