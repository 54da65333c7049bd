//! The API's request limits, held in the database so that every node
//! enforces the same ones: `execbox_admit` counts the caller's sessions at
//! once and takes a token from its bucket in one statement (see the
//! migration `shared_limits`).

use std::time::Duration;

use super::Sql;
use uuid::Uuid;

/// Whose limits a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller<'a> {
    /// A user: their sessions, their bucket.
    User(Uuid),
    /// A client address of open Piston mode (its sessions are the anonymous
    /// user's sessions it created; see [`tag_client`]).
    Client(&'a str),
}

/// The limits to hold a request to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub per_minute: u32,
    pub max_active: i64,
}

/// What the database decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Admission {
    Admitted,
    /// Too many sessions pending or running (this many); no token spent.
    TooManyActive(i64),
    /// No token left; one is back after this long.
    RateLimited(Duration),
}

impl Admission {
    /// From the statement's answer: the caller's sessions at once and the
    /// seconds until a token (0 when one was taken).
    pub(crate) fn decide(active: i64, retry_after_secs: f64, max_active: i64) -> Admission {
        if active >= max_active {
            Admission::TooManyActive(active)
        } else if retry_after_secs > 0.0 {
            Admission::RateLimited(Duration::from_secs_f64(retry_after_secs.min(3600.0)))
        } else {
            Admission::Admitted
        }
    }
}

/// One more request from `caller`, in one statement.
pub(crate) async fn admit(
    db: &impl Sql,
    caller: Caller<'_>,
    limits: Limits,
) -> Result<Admission, tokio_postgres::Error> {
    let (key, user, client) = match caller {
        Caller::User(u) => (format!("user:{u}"), Some(u), None),
        Caller::Client(c) => (format!("ip:{c}"), None, Some(c)),
    };
    let row = db
        .fetch_one(
            "select active, retry_after from public.execbox_admit($1, $2, $3, $4, $5)",
            &[&key, &(limits.per_minute as f64), &user, &client, &limits.max_active],
        )
        .await?;
    Ok(Admission::decide(row.try_get(0)?, row.try_get(1)?, limits.max_active))
}

/// Records that `client` created `session` (open Piston mode), so it counts
/// against that address's sessions at once.
pub(crate) async fn tag_client(db: &impl Sql, session: Uuid, client: &str) -> Result<(), tokio_postgres::Error> {
    db.exec("insert into public.execbox_session_clients (session_id, client) values ($1, $2)", &[&session, &client])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_refuses_first_then_the_bucket() {
        // (active, retry_after, max, decision)
        let table = [
            (0, 0.0, 4, Admission::Admitted),
            (3, 0.0, 4, Admission::Admitted),
            (4, 0.0, 4, Admission::TooManyActive(4)),
            (9, 2.5, 4, Admission::TooManyActive(9)),
            (1, 2.5, 4, Admission::RateLimited(Duration::from_millis(2500))),
            (1, 1e12, 4, Admission::RateLimited(Duration::from_secs(3600))),
        ];
        for (active, retry, max, want) in table {
            assert_eq!(Admission::decide(active, retry, max), want, "{active} {retry} {max}");
        }
    }
}
