//! The SMTP receiver over real sockets, on SQLite and PostgreSQL: Python's `smtplib` (an
//! independent client) delivers DKIM-signed reports in plaintext and over STARTTLS; the DKIM
//! keys are published in a loopback DNS; unsigned, foreign-signed and `l=`-signed reports are
//! stored but not counted; the protocol refuses what it must.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test with its location"
)]

mod protocol;
mod python;
mod world;

/// `both_backends!(a, b)` turns `async fn a(db: TestDatabase)` into `sqlite::a` and
/// `postgres::a`.
macro_rules! both_backends {
    ($($name:path => $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $name(stsd_testkit::TestDatabase::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    $name(stsd_testkit::TestDatabase::postgres().await).await;
                }
            )*
        }
    };
}

both_backends!(
    crate::python::signed_reports_plain_and_starttls => signed_reports_plain_and_starttls,
    crate::python::unsigned_and_badly_signed_reports_are_not_counted => unsigned_and_badly_signed_reports_are_not_counted,
    crate::python::report_from_an_independent_producer => report_from_an_independent_producer,
    crate::protocol::refusals => refusals,
    crate::protocol::one_source_cannot_hold_the_listener => one_source_cannot_hold_the_listener,
);
