//! One module per technology. Adapters depend on the domain and the ports,
//! never on each other.

pub mod agent;
pub mod breaker;
pub mod cache;
pub mod deadline;
pub mod events_worker;
pub mod forward;
pub mod http;
pub mod http_client;
pub mod import;
pub mod log_metadata;
pub mod metrics;
pub mod outbox_worker;
pub mod postgres;
pub mod rate_limit;
pub mod recent_replies;
pub mod retention;
pub mod rows;
pub mod sqlite;
pub mod system;
pub mod twilio_rest;
pub mod twiml;
