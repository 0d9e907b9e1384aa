//! Integration tests: the real app on loopback, a fresh SQLite file each.

mod admin;
mod bad_input;
mod caching;
mod cli;
mod faults;
mod helpers;
mod ops;
mod outbound;
mod outcomes;
mod replies;
mod reports;
mod signature;
mod statuses;
mod verification;
