//! What a failed outbound HTTP call (reqwest) is called in our logs and
//! rows: a category of our own. reqwest's own text carries the URL, query
//! string and userinfo included, so it is never used.

/// The category of a failed call.
pub fn failure(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the answer's body could not be read"
    } else if e.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    }
}
