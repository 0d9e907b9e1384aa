//! How often one sender may be served.

pub trait RateLimiter: Send + Sync + 'static {
    /// Takes one token of `sender`'s bucket; false when it is empty.
    fn try_acquire(&self, sender: &str) -> bool;

    /// Whether the next message of `sender` would be refused; takes nothing.
    fn is_limited(&self, sender: &str) -> bool;
}
