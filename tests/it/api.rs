//! The API tests' harness: the HTTP/WebSocket API on a real port (with an
//! in-process worker, if asked), against real PostgreSQL and real Docker;
//! its tokens, requests and socket reads, shared by every module that
//! talks to the API.

use std::sync::Arc;
use std::time::Duration;

use execbox::config::{Config, Secret};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use crate::support::*;

pub(crate) const SECRET: &str = "test-secret-that-is-long-enough-for-hs256!!";

/// A running API (and its optional worker) on 127.0.0.1:<random>.
pub struct Api {
    pub base: String,
    /// What its worker's loop reports (nothing without one).
    pub steps: tokio::sync::watch::Receiver<execbox::worker::Steps>,
    stop: tokio_util::sync::CancellationToken,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Api {
    pub async fn start(cfg: Config, with_worker: bool) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        // The API connects as an API node, its worker as a worker, each
        // with its own login role, whatever user the test's URL names.
        let mut cfg = cfg;
        cfg.database_url = Secret::new(as_role(cfg.database_url.expose(), API_ROLE));
        let cfg = Arc::new(cfg.finish().unwrap());
        let runtimes = Arc::new(execbox::runtimes::Runtimes::builtin());
        let stop = tokio_util::sync::CancellationToken::new();
        let (report, steps) = tokio::sync::watch::channel(execbox::worker::Steps::default());
        let worker = if with_worker {
            let mut wcfg = (*cfg).clone();
            wcfg.database_url = Secret::new(as_role(cfg.database_url.expose(), WORKER_ROLE));
            execbox::server::Worker::Reporting(Arc::new(wcfg), report)
        } else {
            execbox::server::Worker::None
        };
        let task = tokio::spawn(execbox::server::run(listener, cfg, worker, runtimes, stop.clone().cancelled_owned()));
        let api = Api { base, steps, stop, task: Some(task) };
        if with_worker {
            // Its worker is live (and says which runtimes it has) before
            // the test's first request.
            eventually("the API's worker live on /health", Duration::from_secs(30), || async {
                (get(&api, "/health", None).await.0 == 200).then_some(())
            })
            .await;
        }
        api
    }

    pub fn ws(&self, path: &str) -> String {
        format!("{}{path}", self.base.replace("http://", "ws://"))
    }

    pub async fn stop(mut self) {
        self.stop.cancel();
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The test configuration with the API's HS256 secret set.
pub(crate) fn api_config(db: &TestDb) -> Config {
    let mut cfg = db.config();
    cfg.database_url = Secret::new(db.api_url());
    cfg.api.jwt_secret = Some(Secret::new(SECRET));
    cfg
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn claims(user: Uuid) -> Value {
    json!({"sub": user.to_string(), "role": "authenticated", "aud": "authenticated", "exp": now() + 600, "iat": now()})
}

pub(crate) fn hs256(claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

pub(crate) fn user_token(user: Uuid) -> String {
    hs256(&claims(user), SECRET)
}

pub(crate) fn service_token() -> String {
    hs256(&json!({"role": "service_role", "iss": "supabase", "exp": now() + 600}), SECRET)
}

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub(crate) async fn body(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}")))
}

pub(crate) async fn post(api: &Api, path: &str, token: Option<&str>, body_json: Value) -> (u16, Value) {
    let mut req = http().post(format!("{}{path}", api.base)).json(&body_json);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

pub(crate) async fn get(api: &Api, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = http().get(format!("{}{path}", api.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    body(req.send().await.unwrap()).await
}

pub(crate) fn piston(code: &str) -> Value {
    json!({"language": "python", "version": "*", "files": [{"name": "test.py", "content": code}]})
}

/// Reads socket messages until `pred` matches one (or the socket closes);
/// returns all of them and the close frame's code, if any.
pub(crate) async fn read_until<S>(ws: &mut S, pred: impl Fn(&Value) -> bool) -> (Vec<Value>, Option<u16>)
where
    S: futures::Stream<Item = Result<WsMessage, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next()).await.expect("socket went quiet");
        match next {
            Some(Ok(WsMessage::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                let stop = pred(&v);
                got.push(v);
                if stop {
                    return (got, None);
                }
            }
            Some(Ok(WsMessage::Close(frame))) => return (got, frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return (got, None),
        }
    }
}
