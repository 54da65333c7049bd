//! The project's signing keys (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`),
//! cached. Token checks read a snapshot and never wait for the network
//! while their key is known. Refreshes are a single flight: at most one
//! fetch is in flight, none begins sooner than the minimum interval after
//! the last one began (whether it failed or not), and the keys last fetched
//! serve until a fetch succeeds. So a JWKS endpoint that hangs or fails
//! costs a burst of token checks one fetch per interval, not one each.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::auth::AuthError;

/// Cached keys are refreshed after this long (in the background: the
/// cached ones serve meanwhile).
const MAX_AGE: Duration = Duration::from_secs(600);

/// The keys as last fetched.
#[derive(Default)]
struct KeySet {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
}

/// The single flight's record, held through a fetch.
#[derive(Default)]
struct Flight {
    /// When the last fetch began.
    began: Option<Instant>,
    /// Why it failed, if it did.
    failed: Option<String>,
}

/// Whether a check that asked for a refresh at `asked` may fetch at `now`,
/// the last fetch having begun at `last`: not if one began after it asked
/// (that fetch answered it), nor sooner than `min_interval` after the last.
fn may_fetch(last: Option<Instant>, asked: Instant, now: Instant, min_interval: Duration) -> bool {
    match last {
        None => true,
        Some(began) if began >= asked => false,
        Some(began) => now.saturating_duration_since(began) >= min_interval,
    }
}

pub(super) struct Jwks {
    url: String,
    http: reqwest::Client,
    min_interval: Duration,
    max_age: Duration,
    /// Held only to clone or replace the `Arc` (a std lock: never across
    /// an await). Not worth a crate (arc-swap) at one read per token.
    snapshot: RwLock<Arc<KeySet>>,
    flight: Arc<tokio::sync::Mutex<Flight>>,
}

impl Jwks {
    pub(super) fn new(url: String, http: reqwest::Client, min_interval: Duration) -> Jwks {
        Jwks {
            url,
            http,
            min_interval,
            max_age: MAX_AGE,
            snapshot: RwLock::new(Arc::new(KeySet::default())),
            flight: Arc::new(tokio::sync::Mutex::new(Flight::default())),
        }
    }

    fn current(&self) -> Arc<KeySet> {
        self.snapshot.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key `kid` names and its algorithm: from the snapshot when it is
    /// there (a stale snapshot is refreshed in the background), else after
    /// a refresh (a rotation, or no keys yet).
    pub(super) async fn key(self: &Arc<Self>, kid: &str) -> Result<(DecodingKey, Algorithm), AuthError> {
        let snap = self.current();
        if snap.fetched.is_none_or(|t| t.elapsed() > self.max_age) && !snap.keys.is_empty() {
            self.refresh_soon();
        }
        if let Some(key) = snap.keys.get(kid) {
            return Ok(key.clone());
        }
        if let Err(e) = self.refresh(&snap).await {
            if self.current().keys.is_empty() {
                return Err(e);
            }
        }
        self.current().keys.get(kid).cloned().ok_or_else(|| AuthError::UnknownKid(kid.to_string()))
    }

    /// Waits its turn, then fetches unless the keys changed since the check
    /// read `seen`, or a fetch began meanwhile or too recently; the last
    /// fetch's failure when it fetched none.
    async fn refresh(&self, seen: &Arc<KeySet>) -> Result<(), AuthError> {
        let asked = Instant::now();
        let mut flight = self.flight.lock().await;
        if !Arc::ptr_eq(seen, &self.current()) {
            return Ok(());
        }
        if may_fetch(flight.began, asked, Instant::now(), self.min_interval) {
            return self.fetch_in(&mut flight).await;
        }
        match &flight.failed {
            Some(why) => Err(AuthError::JwksUnavailable(why.clone())),
            None => Ok(()),
        }
    }

    /// A refresh in the background, unless one is in flight or began too
    /// recently.
    fn refresh_soon(self: &Arc<Self>) {
        let Ok(mut flight) = self.flight.clone().try_lock_owned() else { return };
        let now = Instant::now();
        if !may_fetch(flight.began, now, now, self.min_interval) {
            return;
        }
        let jwks = self.clone();
        tokio::spawn(async move {
            if jwks.fetch_in(&mut flight).await.is_err() {
                tracing::warn!(error = ?flight.failed, "JWKS refresh failed; using cached keys");
            }
        });
    }

    /// One fetch, in the flight (its lock held): the snapshot replaced when
    /// it succeeds, kept when it fails.
    async fn fetch_in(&self, flight: &mut Flight) -> Result<(), AuthError> {
        flight.began = Some(Instant::now());
        match self.fetch().await {
            Ok(fresh) => {
                flight.failed = None;
                *self.snapshot.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(fresh);
                Ok(())
            }
            Err(e) => {
                flight.failed = Some(e.to_string());
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, AuthError> {
        let resp = self.http.get(&self.url).send().await.map_err(|e| AuthError::JwksUnavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(AuthError::JwksUnavailable(format!("{} answered {}", self.url, resp.status())));
        }
        let jwks: JwkSet = resp.json().await.map_err(|e| AuthError::JwksUnavailable(format!("not a JWKS: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let alg = match (&jwk.common.key_algorithm, &jwk.algorithm) {
                (Some(KeyAlgorithm::ES256), _) => Algorithm::ES256,
                (Some(KeyAlgorithm::RS256), _) => Algorithm::RS256,
                (None, AlgorithmParameters::EllipticCurve(_)) => Algorithm::ES256,
                (None, AlgorithmParameters::RSA(_)) => Algorithm::RS256,
                _ => continue, // HMAC keys are never published; others are not accepted
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(k) => {
                    keys.insert(kid, (k, alg));
                }
                Err(e) => tracing::warn!(kid, error = %e, "ignoring an unusable key in the JWKS"),
            }
        }
        Ok(KeySet { keys, fetched: Some(Instant::now()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[test]
    fn a_fetch_begins_only_when_none_answered_the_check_and_the_interval_passed() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let min = Duration::from_millis(1_000);
        #[rustfmt::skip]
        let table: &[(&str, Option<u64>, u64, u64, bool)] = &[
            // (what, last began, asked, now, may fetch)
            ("never fetched", None, 0, 0, true),
            ("the last began long before", Some(0), 5_000, 5_000, true),
            ("the last began too recently, failed or not", Some(4_500), 5_000, 5_000, false),
            ("one began while this check waited its turn", Some(5_100), 5_000, 7_000, false),
            ("the interval passed while it waited", Some(3_000), 3_500, 4_000, true),
        ];
        for (what, last, asked, now, want) in table {
            assert_eq!(may_fetch(last.map(at), at(*asked), at(*now), min), *want, "{what}");
        }
    }

    /// A key set, stale at once, behind an endpoint that answered once and
    /// now hangs for a while and then fails: a burst of 500 checks of a
    /// known key and 500 of an unknown one cost a bounded number of fetches,
    /// and the known key serves throughout.
    #[tokio::test]
    async fn a_hanging_then_failing_endpoint_costs_a_burst_one_fetch_per_interval() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get({
                let fetches = fetches.clone();
                move || {
                    let n = fetches.fetch_add(1, SeqCst);
                    async move {
                        if n == 0 {
                            let key = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
                                "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]});
                            return (axum::http::StatusCode::OK, axum::Json(key));
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(serde_json::json!({})))
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let min_interval = Duration::from_secs(30);
        let jwks = Arc::new(Jwks { max_age: Duration::ZERO, ..Jwks::new(url, http, min_interval) });
        // The first check fetches the keys; that fetch is made an interval
        // old, so the burst may fetch once.
        assert!(jwks.key("k1").await.is_ok());
        assert_eq!(fetches.load(SeqCst), 1);
        jwks.flight.lock().await.began = Instant::now().checked_sub(min_interval);

        let checks: Vec<_> = (0..1_000)
            .map(|i| {
                let jwks = jwks.clone();
                tokio::spawn(async move { jwks.key(if i % 2 == 0 { "k1" } else { "k9" }).await.map(|_| ()) })
            })
            .collect();
        for (i, c) in checks.into_iter().enumerate() {
            let r = c.await.unwrap();
            match i % 2 {
                0 => assert!(r.is_ok(), "the known key serves while the endpoint fails: {r:?}"),
                _ => assert!(matches!(r, Err(AuthError::UnknownKid(_))), "{r:?}"),
            }
        }
        // The failed refresh, within the interval, was the only one.
        let done = jwks.flight.lock().await;
        assert!(done.failed.is_some(), "the refresh failed");
        assert_eq!(fetches.load(SeqCst), 2, "one fetch for the whole burst");
    }
}
