//! How a statement travels to PostgreSQL: the one home of that choice.
//!
//! Supabase gives three addresses for a database: direct, the session
//! pooler and the transaction pooler. Behind a transaction pooler
//! (PgBouncer or Supavisor in transaction mode) a client's consecutive
//! transactions may run on different server connections, so nothing may
//! outlive its transaction on the server: not a named prepared statement
//! (`prepare`, and tokio-postgres' plain `query`, which prepares one), not a
//! session-level advisory lock, not a `SET` outside a transaction.
//!
//! So every statement execbox sends with parameters goes through [`Sql`],
//! which sends it **unnamed**, in one round trip (Parse, Bind, Execute,
//! Sync: tokio-postgres' `query_typed`), with its parameters' types taken
//! from their Rust types ([`PgType`]). That is safe on every address. It
//! costs a parse per statement (`execbox bench` part (j): about 1 ms of a
//! 12 ms hello), so by default ([`Statements::Auto`]) a pool switches to
//! prepared statements, once per connection, as soon as its process's
//! NOTIFY round trip shows that no transaction pooler is in between
//! ([`Pool::notifications_arrive`]); `EXECBOX_DB_STATEMENTS` fixes either
//! way. `clippy.toml` forbids the client methods that prepare behind one's
//! back, everywhere but here.
//!
//! Result columns must be of PostgreSQL's built-in types (`text`, `uuid`,
//! `jsonb`, ...): a column of a custom type would make tokio-postgres look
//! its type up with a prepared statement of its own.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres as dp;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Error, Row};
use uuid::Uuid;

pub use crate::config::Statements;

/// How a pooled connection sends its statements now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sending {
    Unnamed,
    Prepared,
}

impl Sending {
    pub fn as_str(self) -> &'static str {
        match self {
            Sending::Unnamed => "unnamed",
            Sending::Prepared => "prepared",
        }
    }

    /// The setting's way, given whether notifications were seen to arrive.
    fn of(setting: Statements, notifications_arrive: bool) -> Sending {
        match (setting, notifications_arrive) {
            (Statements::Unnamed, _) | (Statements::Auto, false) => Sending::Unnamed,
            (Statements::Prepared, _) | (Statements::Auto, true) => Sending::Prepared,
        }
    }
}

/// A Rust type's PostgreSQL type, as an unnamed statement declares it.
pub(crate) trait PgType {
    const TYPE: Type;
}

/// A statement parameter: a value and its declared type.
pub(crate) trait Param: ToSql + Sync {
    fn pg_type(&self) -> Type;
}

impl<T: PgType + ToSql + Sync> Param for T {
    fn pg_type(&self) -> Type {
        T::TYPE
    }
}

impl<T: PgType + ?Sized> PgType for &T {
    const TYPE: Type = T::TYPE;
}

impl<T: PgType> PgType for Option<T> {
    const TYPE: Type = T::TYPE;
}

macro_rules! pg_types {
    ($($rust:ty => $pg:ident),* $(,)?) => {
        $(impl PgType for $rust { const TYPE: Type = Type::$pg; })*
    };
}

pg_types! {
    bool => BOOL,
    i32 => INT4,
    i64 => INT8,
    f64 => FLOAT8,
    str => TEXT,
    String => TEXT,
    Uuid => UUID,
    serde_json::Value => JSONB,
    DateTime<Utc> => TIMESTAMPTZ,
    [String] => TEXT_ARRAY,
    [Uuid] => UUID_ARRAY,
    Vec<String> => TEXT_ARRAY,
    Vec<&str> => TEXT_ARRAY,
    Vec<Uuid> => UUID_ARRAY,
    Vec<i32> => INT4_ARRAY,
    Vec<Option<i32>> => INT4_ARRAY,
    Vec<bool> => BOOL_ARRAY,
    crate::model::SessionStatus => TEXT,
    crate::model::EndReason => TEXT,
    crate::model::Mode => TEXT,
    crate::model::Stream => TEXT,
    crate::model::Stage => TEXT,
    crate::model::Level => TEXT,
    crate::model::Checker => TEXT,
    crate::model::CaseStatus => TEXT,
    crate::model::ReportFormat => TEXT,
    crate::model::TestStatus => TEXT,
}

impl<T: serde::Serialize + std::fmt::Debug> PgType for tokio_postgres::types::Json<T> {
    const TYPE: Type = Type::JSONB;
}

/// The parameters as `query_typed` takes them.
fn typed<'a>(params: &'a [&'a dyn Param]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params.iter().map(|p| (*p as &(dyn ToSql + Sync), p.pg_type())).collect()
}

fn types(params: &[&dyn Param]) -> Vec<Type> {
    params.iter().map(|p| p.pg_type()).collect()
}

fn untyped<'a>(params: &'a [&'a dyn Param]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| *p as &(dyn ToSql + Sync)).collect()
}

/// What execbox's SQL runs on: a pooled connection, a transaction, or a
/// connection of its own. Named apart from tokio-postgres' own methods so
/// that a call never silently lands on a preparing one.
pub(crate) trait Sql: Sync {
    /// Every row of the statement's answer.
    fn fetch(&self, sql: &str, params: &[&dyn Param]) -> impl Future<Output = Result<Vec<Row>, Error>> + Send;

    /// Exactly one row (an error otherwise).
    fn fetch_one(&self, sql: &str, params: &[&dyn Param]) -> impl Future<Output = Result<Row, Error>> + Send;

    /// At most one row.
    fn fetch_opt(&self, sql: &str, params: &[&dyn Param]) -> impl Future<Output = Result<Option<Row>, Error>> + Send;

    /// The number of rows the statement changed.
    fn exec(&self, sql: &str, params: &[&dyn Param]) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Statements without parameters, in the simple protocol (nothing
    /// prepared).
    fn batch(&self, sql: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

/// `Sql` for a type whose statements are always unnamed.
macro_rules! unnamed_sql {
    ($($t:ty),*) => {$(
        impl Sql for $t {
            async fn fetch(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, Error> {
                self.query_typed(sql, &typed(params)).await
            }
            async fn fetch_one(&self, sql: &str, params: &[&dyn Param]) -> Result<Row, Error> {
                self.query_typed_one(sql, &typed(params)).await
            }
            async fn fetch_opt(&self, sql: &str, params: &[&dyn Param]) -> Result<Option<Row>, Error> {
                self.query_typed_opt(sql, &typed(params)).await
            }
            async fn exec(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, Error> {
                self.execute_typed(sql, &typed(params)).await
            }
            async fn batch(&self, sql: &str) -> Result<(), Error> {
                self.batch_execute(sql).await
            }
        }
    )*};
}

unnamed_sql!(tokio_postgres::Client, tokio_postgres::Transaction<'_>);

/// `Sql` for a pooled connection or its transaction, whose statements are
/// sent as the pool said when the connection was taken.
macro_rules! pooled_sql {
    ($($t:ty),*) => {$(
        #[allow(clippy::disallowed_methods)] // the one place statements are prepared, when asked to
        impl Sql for $t {
            async fn fetch(&self, sql: &str, params: &[&dyn Param]) -> Result<Vec<Row>, Error> {
                match self.sending {
                    Sending::Unnamed => self.inner.query_typed(sql, &typed(params)).await,
                    Sending::Prepared => {
                        let st = self.inner.prepare_typed_cached(sql, &types(params)).await?;
                        self.inner.query(&st, &untyped(params)).await
                    }
                }
            }
            async fn fetch_one(&self, sql: &str, params: &[&dyn Param]) -> Result<Row, Error> {
                match self.sending {
                    Sending::Unnamed => self.inner.query_typed_one(sql, &typed(params)).await,
                    Sending::Prepared => {
                        let st = self.inner.prepare_typed_cached(sql, &types(params)).await?;
                        self.inner.query_one(&st, &untyped(params)).await
                    }
                }
            }
            async fn fetch_opt(&self, sql: &str, params: &[&dyn Param]) -> Result<Option<Row>, Error> {
                match self.sending {
                    Sending::Unnamed => self.inner.query_typed_opt(sql, &typed(params)).await,
                    Sending::Prepared => {
                        let st = self.inner.prepare_typed_cached(sql, &types(params)).await?;
                        self.inner.query_opt(&st, &untyped(params)).await
                    }
                }
            }
            async fn exec(&self, sql: &str, params: &[&dyn Param]) -> Result<u64, Error> {
                match self.sending {
                    Sending::Unnamed => self.inner.execute_typed(sql, &typed(params)).await,
                    Sending::Prepared => {
                        let st = self.inner.prepare_typed_cached(sql, &types(params)).await?;
                        self.inner.execute(&st, &untyped(params)).await
                    }
                }
            }
            async fn batch(&self, sql: &str) -> Result<(), Error> {
                self.inner.batch_execute(sql).await
            }
        }
    )*};
}

pooled_sql!(Conn, Tx<'_>);

/// What a transaction can be begun on: a pooled connection or one of its
/// own.
pub(crate) trait Transact: Send {
    type Tx<'a>: SqlTx
    where
        Self: 'a;
    fn begin(&mut self) -> impl Future<Output = Result<Self::Tx<'_>, Error>> + Send;
}

/// A transaction: [`Sql`] until committed (rolled back when dropped).
pub(crate) trait SqlTx: Sql + Send {
    fn commit(self) -> impl Future<Output = Result<(), Error>> + Send;
}

impl Transact for tokio_postgres::Client {
    type Tx<'a> = tokio_postgres::Transaction<'a>;
    async fn begin(&mut self) -> Result<Self::Tx<'_>, Error> {
        self.transaction().await
    }
}

impl SqlTx for tokio_postgres::Transaction<'_> {
    async fn commit(self) -> Result<(), Error> {
        tokio_postgres::Transaction::commit(self).await
    }
}

impl Transact for Conn {
    type Tx<'a> = Tx<'a>;
    async fn begin(&mut self) -> Result<Self::Tx<'_>, Error> {
        Ok(Tx { inner: self.inner.transaction().await?, sending: self.sending })
    }
}

impl SqlTx for Tx<'_> {
    async fn commit(self) -> Result<(), Error> {
        self.inner.commit().await
    }
}

/// A bounded pool of connections that send statements as `setting` says;
/// its clones share whether notifications arrive.
#[derive(Clone)]
pub struct Pool {
    inner: dp::Pool,
    setting: Statements,
    notifications_arrive: Arc<AtomicBool>,
}

impl Pool {
    pub(crate) fn new(inner: dp::Pool, setting: Statements) -> Pool {
        Pool { inner, setting, notifications_arrive: Arc::default() }
    }

    /// A connection, waiting for one to be free.
    pub(crate) async fn get(&self) -> Result<Conn, dp::PoolError> {
        Ok(Conn { inner: self.inner.get().await?, sending: self.sending() })
    }

    /// What this process's NOTIFY round trip found: notifications arrive,
    /// so no transaction pooler is in between (`auto` then prepares).
    pub(crate) fn notifications_arrive(&self, arrive: bool) {
        self.notifications_arrive.store(arrive, Ordering::Relaxed);
    }

    /// How the next connection taken sends its statements.
    pub(crate) fn sending(&self) -> Sending {
        Sending::of(self.setting, self.notifications_arrive.load(Ordering::Relaxed))
    }
}

/// A pooled connection, back in the pool when dropped.
pub(crate) struct Conn {
    inner: dp::Object,
    sending: Sending,
}

/// A transaction on a pooled connection; rolled back unless committed.
pub(crate) struct Tx<'a> {
    inner: dp::Transaction<'a>,
    sending: Sending,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_declare_the_types_their_rust_types_have() {
        let (id, n, big, text, none): (Uuid, i32, i64, &str, Option<String>) = (Uuid::nil(), 1, 2, "x", None);
        let names = vec![String::from("a")];
        let params: [&dyn Param; 6] = [&id, &n, &big, &text, &none, &names];
        assert_eq!(types(&params), [Type::UUID, Type::INT4, Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT_ARRAY]);
        let status: &dyn Param = &crate::model::SessionStatus::Pending;
        assert_eq!(status.pg_type(), Type::TEXT);
    }

    #[test]
    fn statements_are_named_in_one_place() {
        for s in [Statements::Auto, Statements::Unnamed, Statements::Prepared] {
            assert_eq!(s.as_str().parse::<Statements>(), Ok(s));
        }
        assert!("named".parse::<Statements>().is_err());
    }

    #[test]
    fn auto_prepares_only_once_notifications_arrive() {
        use Sending::*;
        for (setting, arrive, sending) in [
            (Statements::Auto, false, Unnamed),
            (Statements::Auto, true, Prepared),
            (Statements::Unnamed, true, Unnamed),
            (Statements::Unnamed, false, Unnamed),
            (Statements::Prepared, false, Prepared),
            (Statements::Prepared, true, Prepared),
        ] {
            assert_eq!(Sending::of(setting, arrive), sending, "{setting:?} {arrive}");
        }
    }
}
