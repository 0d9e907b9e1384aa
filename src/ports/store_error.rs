//! The failure every store port shares: the store could not be read or written.

/// The store failed for a reason no caller can act on but by retrying later.
#[derive(Debug, thiserror::Error)]
#[error("the store is unavailable: {0:#}")]
pub struct StoreError(#[source] pub anyhow::Error);
