//! What kind of address a database URL is: direct, session pooler or
//! transaction pooler. A pure decision over what `doctor` observed, most
//! certain evidence first.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressKind {
    Direct,
    SessionPooler,
    TransactionPooler,
}

impl fmt::Display for AddressKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressKind::Direct => "the direct address",
            AddressKind::SessionPooler => "a session pooler",
            AddressKind::TransactionPooler => "a transaction pooler",
        })
    }
}

/// A pooler's own word on its mode (PgBouncer's admin console).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolMode {
    Session,
    Transaction,
    Statement,
}

impl PoolMode {
    pub(crate) fn parse(s: &str) -> Option<PoolMode> {
        match s.trim() {
            "session" => Some(PoolMode::Session),
            "transaction" => Some(PoolMode::Transaction),
            "statement" => Some(PoolMode::Statement),
            _ => None,
        }
    }
}

/// What the URL's host and port suggest, by Supabase's conventions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Port 6543: Supabase's transaction pooler.
    TransactionPort,
    /// A `*.pooler.supabase.com` host on another port: the session pooler.
    SupabasePoolerHost,
    /// `db.<project>.supabase.co`: the direct address.
    SupabaseDirectHost,
    None,
}

impl Hint {
    pub(crate) fn of(host: &str, port: u16) -> Hint {
        let host = host.to_ascii_lowercase();
        if port == 6543 {
            Hint::TransactionPort
        } else if host.ends_with(".pooler.supabase.com") {
            Hint::SupabasePoolerHost
        } else if host.starts_with("db.") && host.ends_with(".supabase.co") {
            Hint::SupabaseDirectHost
        } else {
            Hint::None
        }
    }
}

/// What was observed about the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evidence {
    pub hint: Hint,
    /// The pooler's admin console answered with this mode.
    pub admin: Option<PoolMode>,
    /// A NOTIFY from another connection reached a LISTENing one.
    pub notify_arrives: bool,
    /// The server says it listens elsewhere than the address connected
    /// to: something is in between (a pooler).
    pub server_elsewhere: bool,
}

/// The kind, and the evidence that decided it, in words.
pub(crate) fn decide(e: &Evidence) -> (AddressKind, &'static str) {
    match (e.admin, e.notify_arrives) {
        (Some(PoolMode::Transaction | PoolMode::Statement), _) => {
            (AddressKind::TransactionPooler, "PgBouncer's admin console says so (SHOW DATABASES)")
        }
        (Some(PoolMode::Session), _) => {
            (AddressKind::SessionPooler, "PgBouncer's admin console says so (SHOW DATABASES)")
        }
        (None, false) => (
            AddressKind::TransactionPooler,
            "a NOTIFY from another connection never reached a LISTENing one, as behind a transaction pooler",
        ),
        (None, true) if e.hint == Hint::TransactionPort => (
            AddressKind::SessionPooler,
            "port 6543 is Supabase's transaction pooler, yet notifications arrive: a pooler in session mode",
        ),
        (None, true) if e.hint == Hint::SupabasePoolerHost => {
            (AddressKind::SessionPooler, "Supabase's pooler host, and notifications arrive")
        }
        (None, true) if e.server_elsewhere => (
            AddressKind::SessionPooler,
            "the server listens elsewhere than the address connected to, and notifications arrive",
        ),
        (None, true) => (AddressKind::Direct, "the server listens where connected to, and notifications arrive"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_follow_supabase_addresses() {
        for (host, port, hint) in [
            ("aws-0-eu-central-1.pooler.supabase.com", 6543, Hint::TransactionPort),
            ("aws-0-eu-central-1.pooler.supabase.com", 5432, Hint::SupabasePoolerHost),
            ("db.abcdefghijklmnop.supabase.co", 5432, Hint::SupabaseDirectHost),
            ("db.abcdefghijklmnop.supabase.co", 6543, Hint::TransactionPort),
            ("127.0.0.1", 5432, Hint::None),
            ("DB.X.SUPABASE.CO", 5432, Hint::SupabaseDirectHost),
        ] {
            assert_eq!(Hint::of(host, port), hint, "{host}:{port}");
        }
    }

    #[test]
    fn the_most_certain_evidence_decides() {
        use AddressKind::*;
        let e =
            |hint, admin, notify_arrives, server_elsewhere| Evidence { hint, admin, notify_arrives, server_elsewhere };
        for (evidence, kind) in [
            (e(Hint::None, Some(PoolMode::Transaction), false, true), TransactionPooler),
            (e(Hint::None, Some(PoolMode::Statement), false, true), TransactionPooler),
            (e(Hint::None, Some(PoolMode::Session), true, true), SessionPooler),
            // The admin console outranks the round trip.
            (e(Hint::None, Some(PoolMode::Session), false, false), SessionPooler),
            (e(Hint::None, None, false, false), TransactionPooler),
            (e(Hint::TransactionPort, None, false, true), TransactionPooler),
            (e(Hint::SupabaseDirectHost, None, false, false), TransactionPooler),
            (e(Hint::TransactionPort, None, true, false), SessionPooler),
            (e(Hint::SupabasePoolerHost, None, true, false), SessionPooler),
            (e(Hint::None, None, true, true), SessionPooler),
            (e(Hint::None, None, true, false), Direct),
            (e(Hint::SupabaseDirectHost, None, true, false), Direct),
        ] {
            assert_eq!(decide(&evidence).0, kind, "{evidence:?}");
        }
    }

    #[test]
    fn pool_modes_parse_as_pgbouncer_prints_them() {
        assert_eq!(PoolMode::parse("transaction"), Some(PoolMode::Transaction));
        assert_eq!(PoolMode::parse("session"), Some(PoolMode::Session));
        assert_eq!(PoolMode::parse("statement"), Some(PoolMode::Statement));
        assert_eq!(PoolMode::parse(""), None);
    }
}
