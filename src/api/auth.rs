//! Supabase access tokens, verified locally.
//!
//! * Asymmetric keys (ES256, RS256) come from the project's JWKS
//!   (`<SUPABASE_URL>/auth/v1/.well-known/jwks.json`; see `jwks`), refreshed
//!   after ten minutes and when a token names an unknown `kid`, so key
//!   rotation needs no restart.
//! * The legacy shared secret (HS256) is used only when configured.
//! * The algorithm is pinned by the key, never taken from the token alone;
//!   `exp`/`nbf` have a small leeway; `aud` must be `authenticated` for users;
//!   `iss` is checked when configured; the role must be `authenticated`
//!   (a user) or `service_role` (may act for any user).
//! * Optionally, Supabase Auth is asked whether the session still exists.
//!
//! Every failure names the check that failed (and nothing secret).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use uuid::Uuid;

use super::jwks::Jwks;
use crate::config::{ApiConfig, Secret};

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Principal {
    /// A signed-in user: the token's `sub`.
    User(Uuid),
    /// The project's service role: may act for any user.
    Service,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub(crate) enum AuthError {
    #[error("missing credentials: send `Authorization: Bearer <Supabase access token or execbox API key>` (or the key as X-Api-Key or X-Auth-Token)")]
    Missing,
    #[error("unknown or revoked API key")]
    ApiKeyRefused,
    #[error("malformed access token: {0}")]
    Malformed(String),
    #[error("tokens signed with `alg: none` are not accepted")]
    AlgNone,
    #[error("HS256 tokens are not accepted here: this server has no shared JWT secret (SUPABASE_JWT_SECRET) and verifies with the project's JWKS only")]
    Hs256NotConfigured,
    #[error("asymmetrically signed tokens are not accepted here: no SUPABASE_URL to fetch the project's JWKS from")]
    JwksNotConfigured,
    #[error("algorithm {0} is not accepted (HS256, ES256 or RS256)")]
    UnsupportedAlgorithm(String),
    #[error("the token names no key id (kid)")]
    MissingKid,
    #[error("unknown signing key {0:?}: not in the project's JWKS")]
    UnknownKid(String),
    #[error("the token's algorithm {token} does not match its key's algorithm {key}")]
    AlgorithmMismatch { token: String, key: String },
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    #[error("wrong audience: expected \"authenticated\"")]
    WrongAudience,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("role {0:?} may not use this API (authenticated or service_role)")]
    Role(String),
    #[error("the token's subject is not a user id")]
    BadSubject,
    #[error("the session behind this token is no longer valid (Supabase Auth said so)")]
    Revoked,
    #[error("cannot fetch the project's signing keys: {0}")]
    JwksUnavailable(String),
}

impl AuthError {
    /// Which check failed, for clients to branch on.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing_token",
            AuthError::ApiKeyRefused => "api_key_refused",
            AuthError::Malformed(_) => "malformed",
            AuthError::AlgNone => "alg_none",
            AuthError::Hs256NotConfigured => "hs256_not_accepted",
            AuthError::JwksNotConfigured => "jwks_not_configured",
            AuthError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            AuthError::MissingKid => "missing_kid",
            AuthError::UnknownKid(_) => "unknown_kid",
            AuthError::AlgorithmMismatch { .. } => "algorithm_mismatch",
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::Role(_) => "role",
            AuthError::BadSubject => "bad_subject",
            AuthError::Revoked => "revoked",
            AuthError::JwksUnavailable(_) => "jwks_unavailable",
        }
    }
}

/// Leeway for `exp` and `nbf`.
const LEEWAY_SECS: u64 = 10;
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
}

/// Verifies access tokens; built once from the configuration.
pub(crate) struct Verifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Arc<Jwks>>,
    issuer: Option<String>,
    online: Option<(String, Secret, reqwest::Client)>,
}

impl Verifier {
    pub(crate) fn new(cfg: &ApiConfig) -> anyhow::Result<Verifier> {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let base = cfg.supabase_url.as_ref().map(|u| u.trim_end_matches('/').to_string());
        Ok(Verifier {
            hs256: cfg.jwt_secret.as_ref().map(|s| DecodingKey::from_secret(s.expose().as_bytes())),
            jwks: base.as_ref().map(|b| {
                Arc::new(Jwks::new(
                    format!("{b}/auth/v1/.well-known/jwks.json"),
                    http.clone(),
                    Duration::from_millis(cfg.jwks_refetch_min_interval_ms),
                ))
            }),
            issuer: cfg.jwt_issuer.clone(),
            online: match (cfg.online_check, &base, &cfg.supabase_anon_key) {
                (true, Some(b), Some(k)) => Some((format!("{b}/auth/v1/user"), k.clone(), http)),
                _ => None,
            },
        })
    }

    pub(crate) async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let raw_alg = raw_header_alg(token)?;
        if raw_alg.eq_ignore_ascii_case("none") {
            return Err(AuthError::AlgNone);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| AuthError::Malformed(e.to_string()))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.clone().ok_or(AuthError::Hs256NotConfigured)?,
            Algorithm::ES256 | Algorithm::RS256 => {
                let jwks = self.jwks.as_ref().ok_or(AuthError::JwksNotConfigured)?;
                let kid = header.kid.as_deref().ok_or(AuthError::MissingKid)?;
                let (key, alg) = jwks.key(kid).await?;
                if alg != header.alg {
                    return Err(AuthError::AlgorithmMismatch {
                        token: format!("{:?}", header.alg),
                        key: format!("{alg:?}"),
                    });
                }
                key
            }
            other => return Err(AuthError::UnsupportedAlgorithm(format!("{other:?}"))),
        };
        let mut v = Validation::new(header.alg);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.validate_aud = false; // checked below: service tokens carry none
        v.set_required_spec_claims(&["exp"]);
        if let Some(iss) = &self.issuer {
            v.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::InvalidSignature => AuthError::BadSignature,
                K::ExpiredSignature => AuthError::Expired,
                K::ImmatureSignature => AuthError::NotYetValid,
                K::InvalidIssuer => AuthError::WrongIssuer,
                K::MissingRequiredClaim(c) if c == "iss" => AuthError::WrongIssuer,
                K::InvalidAlgorithm => {
                    AuthError::AlgorithmMismatch { token: format!("{:?}", header.alg), key: "?".into() }
                }
                _ => AuthError::Malformed(e.to_string()),
            }
        })?;
        let claims = data.claims;
        match claims.role.as_deref() {
            Some("service_role") => Ok(Principal::Service),
            Some("authenticated") => {
                let aud_ok = match &claims.aud {
                    Some(serde_json::Value::String(a)) => a == "authenticated",
                    Some(serde_json::Value::Array(a)) => a.iter().any(|x| x == "authenticated"),
                    _ => false,
                };
                if !aud_ok {
                    return Err(AuthError::WrongAudience);
                }
                let user = claims.sub.as_deref().and_then(|s| Uuid::parse_str(s).ok()).ok_or(AuthError::BadSubject)?;
                if let Some((url, apikey, http)) = &self.online {
                    let resp = http
                        .get(url)
                        .header("apikey", apikey.expose())
                        .bearer_auth(token)
                        .send()
                        .await
                        .map_err(|e| AuthError::JwksUnavailable(format!("Supabase Auth unreachable: {e}")))?;
                    if !resp.status().is_success() {
                        return Err(AuthError::Revoked);
                    }
                }
                Ok(Principal::User(user))
            }
            other => Err(AuthError::Role(other.unwrap_or("").to_string())),
        }
    }
}

/// The `alg` field of the token's header, read without trusting anything.
fn raw_header_alg(token: &str) -> Result<String, AuthError> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::Malformed("not three dot-separated parts".into()));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed("header is not base64url".into()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::Malformed("header is not JSON".into()))?;
    v.get("alg")
        .and_then(|a| a.as_str())
        .map(String::from)
        .ok_or_else(|| AuthError::Malformed("header has no alg".into()))
}

/// The bearer token of a request: the Authorization header, else (for
/// browsers' WebSockets, which cannot set headers) `access_token` in the query.
/// What a request presents to authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// A Supabase access token (a JWT).
    Token(String),
    /// An execbox API key (`exb_...`).
    ApiKey(String),
}

impl Credential {
    fn classify(s: String) -> Credential {
        if crate::db::keys::looks_like_key(&s) {
            Credential::ApiKey(s)
        } else {
            Credential::Token(s)
        }
    }
}

/// The credential a request carries: `Authorization: Bearer` (a token or a
/// key), `X-Api-Key` (a key), `X-Auth-Token` (Judge0's header: a key or a
/// token), or `?access_token=` (browsers' WebSockets). None at all is
/// `Missing`.
pub(crate) fn credential_from(headers: &axum::http::HeaderMap, query: Option<&str>) -> Result<Credential, AuthError> {
    for name in ["x-api-key", "x-auth-token"] {
        if let Some(v) = headers.get(name) {
            let v = v.to_str().map_err(|_| AuthError::Malformed(format!("{name} is not text")))?.trim().to_string();
            return match Credential::classify(v) {
                Credential::Token(_) if name == "x-api-key" => {
                    Err(AuthError::Malformed("X-Api-Key is not an execbox API key (exb_...)".into()))
                }
                c => Ok(c),
            };
        }
    }
    token_from(headers, query).map(Credential::classify)
}

pub(crate) fn token_from(headers: &axum::http::HeaderMap, query: Option<&str>) -> Result<String, AuthError> {
    if let Some(h) = headers.get(axum::http::header::AUTHORIZATION) {
        let h = h.to_str().map_err(|_| AuthError::Malformed("Authorization header is not text".into()))?;
        let token = h
            .strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .ok_or_else(|| AuthError::Malformed("Authorization header is not `Bearer <token>`".into()))?;
        return Ok(token.trim().to_string());
    }
    if let Some(q) = query {
        for pair in q.split('&') {
            if let Some(v) = pair.strip_prefix("access_token=") {
                if !v.is_empty() {
                    return Ok(v.to_string());
                }
            }
        }
    }
    Err(AuthError::Missing)
}
