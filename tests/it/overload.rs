//! Overload at the door: a node whose workers would not reach a synchronous
//! request within its queue wait refuses it at once, before it becomes a
//! session, with `Retry-After`; the requests it lets in are served.

use serde_json::Value;

use crate::api::{api_config, http, piston, user_token, Api};
use crate::support::*;

/// A program that takes a known while.
const STEADY: &str = "import time\ntime.sleep(0.3)\nprint('done')";

/// One execute: its status, `Retry-After`, and body.
async fn execute(api: &Api, token: &str) -> (u16, Option<u64>, Value) {
    let resp = http()
        .post(format!("{}/api/v2/execute", api.base))
        .bearer_auth(token)
        .json(&piston(STEADY))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test]
async fn a_node_refuses_at_the_door_what_its_workers_would_not_reach_in_time() {
    let db = TestDb::new().await;
    let user = db.user().await;
    let mut cfg = api_config(&db);
    cfg.worker.max_concurrent_runs = 1;
    cfg.worker.warm_pool = Default::default();
    cfg.api.queue_wait_ms = 8_000;
    cfg.api.rate_limit_per_minute = 10_000;
    cfg.api.max_active_sessions_per_user = 1_000;
    let api = Api::start(cfg, true).await;
    let token = user_token(user);

    // The workers' pace, measured by the node from finished sessions.
    for _ in 0..2 {
        let (status, _, v) = execute(&api, &token).await;
        assert_eq!(status, 200, "{v}");
    }
    // Forty at once on one run at a time: more than eight seconds of work.
    let answers = futures::future::join_all((0..40).map(|_| execute(&api, &token))).await;

    let refused: Vec<&(u16, Option<u64>, Value)> =
        answers.iter().filter(|(_, _, v)| v["code"] == "overloaded").collect();
    assert!(!refused.is_empty(), "nothing was refused at the door: {answers:?}");
    for (status, retry, v) in &refused {
        assert_eq!(*status, 503, "{v}");
        assert!(retry.is_some_and(|s| s >= 1), "a refusal says when to retry: {v}");
        assert!(v["message"].as_str().unwrap().contains("queued"), "{v}");
    }
    let served = answers.iter().filter(|(status, _, v)| *status == 200 && v["run"]["stdout"] == "done\n").count();
    assert!(served >= 1, "the node let some in and they ran: {answers:?}");
    // Anything else is a 503 of a session that waited, with Retry-After too.
    for (status, retry, v) in &answers {
        assert!(*status == 200 || (*status == 503 && retry.is_some()), "{status} {v}");
    }
    // Refused at the door: no session was made for them.
    let made: i64 = connect(&db.url)
        .await
        .query_one("select count(*) from public.backend_execution_sessions where user_id = $1", &[&user])
        .await
        .unwrap()
        .get(0);
    assert_eq!(made as usize, 2 + answers.len() - refused.len());
    api.stop().await;
}
