//! The admin API as its spec describes it: a client progenitor generates
//! from `openapi/openapi.json`, so a test sets things up and reads results
//! in the spec's types, and a change to the spec shows here first.
//! `TestApp::admin` (raw JSON) stays for tests of the wire itself: statuses,
//! error bodies, and input no typed client can send.

progenitor::generate_api!(spec = "openapi/openapi.json", interface = Builder);

/// An error answer's status, checking it carries our error body.
pub fn status_of<T>(result: Result<T, progenitor_client::Error<types::ErrorBody>>) -> u16 {
    refused(result).0
}

/// An error answer's status and body (checked not empty); a success or a
/// failed call fails the test.
pub fn refused<T>(result: Result<T, progenitor_client::Error<types::ErrorBody>>) -> (u16, types::ErrorBody) {
    match result {
        Err(progenitor_client::Error::ErrorResponse(answer)) => {
            assert!(!answer.error.is_empty() && !answer.message.is_empty());
            (answer.status().as_u16(), answer.into_inner())
        }
        Err(other) => panic!("expected an error answer, got {other:?}"),
        Ok(_) => panic!("expected an error answer, got a success"),
    }
}

/// The status of an answer, success or not, documented or not.
pub fn status<T>(answer: &Answer<T>) -> u16 {
    match answer {
        Ok(value) => value.status().as_u16(),
        Err(progenitor_client::Error::ErrorResponse(answer)) => answer.status().as_u16(),
        Err(progenitor_client::Error::UnexpectedResponse(answer)) => answer.status().as_u16(),
        Err(other) => panic!("the admin API could not be called: {other}"),
    }
}

/// A client of the server at `base`, with `token` as its bearer token.
pub fn client(base: &str, token: Option<&str>) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a token is a header value"),
        );
    }
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("a client");
    Client::new_with_client(base, http)
}

/// What a call of the generated client answers.
pub type Answer<T> = Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<types::ErrorBody>>;

/// The value of a successful answer; any other fails the test, naming it.
pub fn ok<T>(answer: Answer<T>) -> T {
    match answer {
        Ok(value) => value.into_inner(),
        Err(progenitor_client::Error::ErrorResponse(answer)) => {
            panic!("the admin API answered {}: {:?}", answer.status(), answer.into_inner())
        }
        Err(other) => panic!("the admin API could not be called: {other}"),
    }
}
