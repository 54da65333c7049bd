//! Open Piston mode (`EXECBOX_PISTON_AUTH=none`, off by default): Piston's
//! routes also serve callers without credentials, as Piston's own CLI and
//! client libraries send none. They all act as one anonymous user that
//! execbox creates in `auth.users` (`is_anonymous`), and are limited per
//! client address (requests per minute, sessions at once; in the database,
//! so every node holds the same limits) instead of per user. Meant for
//! private networks; the address is the TCP peer's.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use uuid::Uuid;

use super::auth::{self, AuthError, Principal};
use super::error::ApiError;
use super::limits::client_key;
use super::sessions::Quota;
use super::ApiState;
use crate::config::{ApiConfig, PistonAuth};

/// The anonymous user every credential-less Piston request acts as.
pub(crate) const ANONYMOUS_USER: Uuid = Uuid::from_u128(0x0000_0000_e8ec_4b0e_8000_a404_0000_0001);

/// The open mode's state on one API node.
pub(crate) struct OpenMode {
    enabled: bool,
    created: tokio::sync::OnceCell<()>,
}

impl OpenMode {
    pub(crate) fn new(cfg: &ApiConfig) -> OpenMode {
        OpenMode { enabled: cfg.piston_auth == PistonAuth::None, created: tokio::sync::OnceCell::new() }
    }
}

/// Who calls one of Piston's routes.
pub(crate) enum PistonCaller {
    /// A token or an API key, as on every route.
    Known(Principal),
    /// No credentials, open mode: the anonymous user, its sessions admitted
    /// by this client address's limits (its key, see [`client_key`]).
    Anonymous(IpAddr),
}

impl PistonCaller {
    /// The principal the request acts as.
    pub(crate) fn principal(&self) -> Principal {
        match self {
            PistonCaller::Known(p) => *p,
            PistonCaller::Anonymous(_) => Principal::User(ANONYMOUS_USER),
        }
    }

    /// The limits its sessions count against: the anonymous user's callers
    /// are limited per address instead of per user.
    pub(crate) fn quota(&self) -> Quota {
        match self {
            PistonCaller::Known(_) => Quota::PerUser,
            PistonCaller::Anonymous(key) => Quota::Client(*key),
        }
    }
}

impl<S> FromRequestParts<S> for PistonCaller
where
    ApiState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let st = ApiState::from_ref(state);
        match auth::credential_from(&parts.headers, parts.uri.query()) {
            Ok(c) => Ok(PistonCaller::Known(super::authenticate(&st, c).await?)),
            Err(AuthError::Missing) if st.open.enabled => {
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip())
                    .ok_or_else(|| ApiError::internal("open Piston mode without the peer's address"))?;
                let key = client_key(peer);
                ensure_user(&st).await?;
                Ok(PistonCaller::Anonymous(key))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Creates the anonymous user once per node (a no-op when it exists).
async fn ensure_user(st: &ApiState) -> Result<(), ApiError> {
    st.open
        .created
        .get_or_try_init(|| async {
            let db = st.pool.get().await?;
            crate::db::user::ensure_anonymous(&db, ANONYMOUS_USER).await?;
            Ok::<(), ApiError>(())
        })
        .await?;
    Ok(())
}
