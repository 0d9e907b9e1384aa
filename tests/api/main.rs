//! Integration tests: the real app on loopback, a fresh SQLite file each.

// The client generated from the spec (`helpers::spec`) names `::reqwest`
// and wants reqwest 0.13: the tests' HTTP calls all use that one.
extern crate reqwest013 as reqwest;

mod admin;
mod backup;
mod bad_input;
mod breaker;
mod caching;
mod chaos;
mod cli;
mod concurrency;
mod console;
mod dashboard;
mod deaths;
mod deploy;
mod doctor;
mod documented_statuses;
mod durability;
mod events;
mod faults;
mod faulty_store;
mod helpers;
mod hostile;
mod import;
mod instances;
mod layout;
mod lookup;
mod media;
mod new_surface;
mod newcomer;
mod on_postgres;
mod ops;
mod outbound;
mod outcomes;
mod own_agents;
// Shared with the contract suite, which uses all of it.
#[allow(dead_code)]
#[path = "../common/postgres.rs"]
mod postgres_cluster;
mod privacy;
#[allow(dead_code)]
#[path = "../common/proxy.rs"]
mod proxy;
mod recovery;
mod replies;
mod reports;
mod retention;
mod signature;
mod spec_client;
mod statuses;
mod store_faults;
mod traces;
mod verification;
#[allow(dead_code)]
#[path = "../common/wait.rs"]
mod wait;
