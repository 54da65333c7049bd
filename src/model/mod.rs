//! The session's vocabulary, used by every layer: the database code, the
//! worker, the API and the CLI speak these types, never their text.
//!
//! * the closed sets (status, mode, stream, stage, level, report format,
//!   test status, end reason, checker, case status) as enums, each mapped to its database text and
//!   JSON in one place ([`text_enum!`]);
//! * [`request`]: a session request as inserted, and its one validation;
//! * [`outcome`]: how a session ended (status, end reason, exit, usage);
//! * [`cases`]: test cases, their checker and their verdicts.

pub mod cases;
pub mod outcome;
pub mod request;

pub use outcome::{EndReason, Exit, Outcome, StageUsage, Usage};
pub use request::{InputEvent, Request, RequestError, ValidMode, ValidRequest};

/// A text value that is not one of its type's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a valid {kind}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

/// An enum whose variants are stored and sent as fixed lowercase text: one
/// table gives `as_str`, `FromStr`, `Display`, serde, PostgreSQL `text` and
/// the OpenAPI schema (a string of these values).
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::model::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::model::UnknownValue { kind: stringify!($name), value: s.to_string() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text,)+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl tokio_postgres::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.as_str().to_sql(ty, out)
            }
            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::ToSql>::accepts(ty)
            }
            tokio_postgres::types::to_sql_checked!();
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                Ok(<&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?.parse()?)
            }
            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    };
}
pub(crate) use text_enum;

text_enum! {
    /// `backend_execution_sessions.status`.
    pub enum SessionStatus {
        Pending = "pending",
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        Timeout = "timeout",
        Cancelled = "cancelled",
        Error = "error",
    }
}

impl SessionStatus {
    /// Terminal: the session will not change any more.
    pub fn is_done(self) -> bool {
        !matches!(self, SessionStatus::Pending | SessionStatus::Running)
    }
}

text_enum! {
    /// The wall between a program and the host's kernel; declared weakest
    /// first (the greater of two is the stronger).
    #[derive(PartialOrd, Ord)]
    pub enum Isolation {
        /// A hardened container on the host's kernel (Docker's `runc`).
        Runc = "runc",
        /// The same container inside gVisor's user-space kernel (`runsc`):
        /// the program's system calls never reach the host's kernel.
        Gvisor = "gvisor",
    }
}

text_enum! {
    /// What a session does (`mode`).
    pub enum Mode {
        /// Run the program.
        Run = "run",
        /// Run the language's test framework against the code.
        Validate = "validate",
        /// Validate, then time the tests.
        Benchmark = "benchmark",
        /// Compile once, run each test case and judge its output.
        Cases = "cases",
    }
}

text_enum! {
    /// How a case's output is judged (`checker`).
    pub enum Checker {
        /// Byte for byte.
        Exact = "exact",
        /// Line by line, trailing whitespace of each line and trailing blank
        /// lines ignored (Judge0's rule; the default).
        Lines = "lines",
        /// Whitespace-separated tokens.
        Tokens = "tokens",
        /// Tokens; numbers equal within an absolute or relative tolerance.
        Float = "float",
        /// A checker program.
        Program = "program",
    }
}

text_enum! {
    /// One test case's verdict.
    pub enum CaseStatus {
        Accepted = "accepted",
        WrongAnswer = "wrong_answer",
        TimeLimit = "time_limit",
        MemoryLimit = "memory_limit",
        RuntimeError = "runtime_error",
        OutputLimit = "output_limit",
        /// Not run: an earlier case failed (`stop_on_failure`), the cases'
        /// time budget ran out, or the session ended first.
        Skipped = "skipped",
    }
}

text_enum! {
    /// Which stream a log row came from.
    pub enum Stream {
        Stdout = "stdout",
        Stderr = "stderr",
        /// execbox's own notes about the session.
        System = "system",
    }
}

text_enum! {
    /// Which stage printed a log row.
    pub enum Stage {
        Compile = "compile",
        Run = "run",
    }
}

text_enum! {
    /// A log row's level.
    pub enum Level {
        Debug = "debug",
        Info = "info",
        Warn = "warn",
        Error = "error",
    }
}

text_enum! {
    /// A test framework's machine-readable report.
    pub enum ReportFormat {
        /// JUnit XML (pytest, JUnit 5, GoogleTest).
        Junit = "junit",
        /// TAP (Node's test runner).
        Tap = "tap",
        /// Rust's libtest `--logfile`.
        Libtest = "libtest",
        /// `go test -v` output.
        Gotest = "gotest",
    }
}

text_enum! {
    /// One test's result in a validation.
    pub enum TestStatus {
        Passed = "passed",
        Failed = "failed",
        Error = "error",
        Skipped = "skipped",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_round_trips_through_text_json_and_sql() {
        use tokio_postgres::types::{FromSql, ToSql, Type};
        fn check<T>(all: &[T])
        where
            T: Copy + PartialEq + std::fmt::Debug + std::str::FromStr + serde::Serialize + serde::de::DeserializeOwned,
            T: ToSql + for<'a> FromSql<'a> + std::fmt::Display,
        {
            for v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().ok(), Some(*v));
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(text.clone()));
                assert_eq!(serde_json::from_value::<T>(serde_json::json!(text)).unwrap(), *v);
                let mut buf = bytes::BytesMut::new();
                v.to_sql(&Type::TEXT, &mut buf).unwrap();
                assert_eq!(T::from_sql(&Type::TEXT, &buf).unwrap(), *v);
            }
        }
        check(SessionStatus::ALL);
        check(Mode::ALL);
        check(Stream::ALL);
        check(Stage::ALL);
        check(Level::ALL);
        check(ReportFormat::ALL);
        check(TestStatus::ALL);
        check(EndReason::ALL);
        check(Checker::ALL);
        check(CaseStatus::ALL);
        assert_eq!(
            "Completed".parse::<SessionStatus>().unwrap_err().to_string(),
            "\"Completed\" is not a valid SessionStatus"
        );
        assert!(serde_json::from_value::<Mode>(serde_json::json!("walk")).is_err());
    }

    #[test]
    fn terminal_statuses() {
        let done: Vec<_> = SessionStatus::ALL.iter().filter(|s| s.is_done()).map(|s| s.as_str()).collect();
        assert_eq!(done, ["completed", "failed", "timeout", "cancelled", "error"]);
    }
}
