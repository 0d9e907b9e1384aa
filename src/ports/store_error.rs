//! The failure every store port shares: the store could not be read or written.

use std::error::Error;
use std::fmt;

/// The store failed for a reason no caller can act on but by retrying later.
///
/// It carries the adapter's own error as its source (whatever the
/// technology), so the domain names none; its text is the whole chain.
#[derive(Debug)]
pub struct StoreError(Box<dyn Error + Send + Sync>);

impl StoreError {
    /// The store failed because of `cause`: an adapter's error, or a text
    /// of ours (`&str`, `String`).
    pub fn new(cause: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self(cause.into())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the store is unavailable: {}", self.0)?;
        let mut cause = self.0.source();
        while let Some(inner) = cause {
            write!(f, ": {inner}")?;
            cause = inner.source();
        }
        Ok(())
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn its_text_is_the_whole_chain() {
        let err = StoreError::new(Outer(std::io::Error::other("inner")));
        assert_eq!(err.to_string(), "the store is unavailable: outer: inner");
        assert_eq!(StoreError::new("plain").to_string(), "the store is unavailable: plain");
    }
}
