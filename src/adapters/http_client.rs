//! Outbound HTTP (reqwest), as every caller builds it: no redirect is
//! followed (an agent's 3xx is its answer, an error, not a pointer to
//! another host, perhaps an internal one), and a failed call is called in
//! our logs and rows by a category of our own: reqwest's own text carries
//! the URL, query string and userinfo included, so it is never used.

/// A client builder for every outbound call: agents, Twilio, the doctor.
pub fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("sms-router/", env!("CARGO_PKG_VERSION")))
}

/// The category of a failed call.
pub fn failure(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "the answer's body could not be read"
    } else if e.is_builder() {
        "the request could not be built"
    } else {
        "the request failed"
    }
}
