//! sms-router: one Twilio number, many users, each answered by their own AI
//! agent. `main` is thin over this crate so that tests start the real app.

pub mod adapters;
pub mod cli;
pub mod config;
pub mod database;
pub mod doctor;
pub mod domain;
pub mod ports;
pub mod startup;
pub mod telemetry;
#[cfg(test)]
pub mod testing;
