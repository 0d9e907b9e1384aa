//! Pure logic in the domain's words: no SQL, no HTTP, no runtime.

pub mod admin;
pub mod delivery;
pub mod events;
pub mod keyword;
pub mod message;
pub mod outbound;
pub mod phone;
pub mod policy;
pub mod reply;
pub mod report;
pub mod retention;
pub mod router;
pub mod segments;
pub mod settings;
pub mod usage;
pub mod user;
pub mod verification;
