//! The receivers over real sockets, on SQLite and PostgreSQL.
//!
//! SMTP: Python's `smtplib` (an independent client) delivers DKIM-signed reports in plaintext
//! and over STARTTLS; the DKIM keys are published in a loopback DNS; unsigned, foreign-signed
//! and `l=`-signed reports are stored but not counted; the protocol refuses what it must.
//!
//! HTTPS: reports POSTed over TLS from several loopback addresses; a forged report does not
//! move a domain's success rate, floods are refused per source and per label, and a client
//! whose forward-confirmed reverse DNS lies within the reporter's domain is verified.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test with its location"
)]

mod https;
mod https_world;
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
    crate::https::a_forged_report_does_not_move_the_success_rate => a_forged_report_does_not_move_the_success_rate,
    crate::https::a_flood_from_one_source_is_refused_while_others_pass => a_flood_from_one_source_is_refused_while_others_pass,
    crate::https::label_quotas_hold_across_sources => label_quotas_hold_across_sources,
    crate::https::a_forward_confirmed_reporter_is_verified => a_forward_confirmed_reporter_is_verified,
);
