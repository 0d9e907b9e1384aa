//! How often one sender may be served.

use futures_util::future::BoxFuture;

use super::StoreError;

/// Boxed futures, so that the limiter can be chosen at start (in memory for
/// one instance, in the database for several) behind one `Arc<dyn _>`.
pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one token of `sender`'s bucket; false when it is empty.
    ///
    /// # Errors
    /// `StoreError` when a shared limiter's store fails; nothing is taken.
    fn try_acquire<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Whether the next message of `sender` would be refused; takes nothing.
    ///
    /// # Errors
    /// As `try_acquire`.
    fn is_limited<'a>(&'a self, sender: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}
