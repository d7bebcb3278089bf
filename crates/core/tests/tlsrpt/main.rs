//! The parser on the sample reports of `tests/data` (see its README for their origin).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test with its location"
)]

mod properties;
mod samples;
