//! Twilio's request signature: base64 of HMAC-SHA1, keyed by the auth token,
//! over the URL Twilio called followed by every parameter's name and value,
//! sorted by name (a repeated name's values sorted, identical values once).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;

type HmacSha1 = Hmac<Sha1>;

fn mac(auth_token: &str, url: &str, params: &[(String, String)]) -> HmacSha1 {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    // An HMAC takes a key of any length: this cannot fail.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(url.as_bytes());
    for (name, values) in sorted {
        for value in values {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
    }
    mac
}

/// The signature Twilio sends for these parameters posted to `url`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, url, params).finalize().into_bytes())
}

/// Whether `signature` is Twilio's for `url` (tried also with its default
/// port added or removed, as Twilio's helper libraries do), compared in
/// constant time.
pub fn is_valid(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(expected) = STANDARD.decode(signature.trim()) else {
        return false;
    };
    [Some(url.to_owned()), with_default_port_toggled(url)]
        .into_iter()
        .flatten()
        .any(|candidate| mac(auth_token, &candidate, params).verify_slice(&expected).is_ok())
}

/// `url` with `:443`/`:80` removed when it names its scheme's default port,
/// or added when it names none; `None` for any other port.
fn with_default_port_toggled(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_start = authority.rfind('@').map_or(0, |i| i + 1);
    let host = &authority[host_start..];
    // The port follows the last ':' unless that is inside an IPv6 literal.
    let port_colon = host.rfind(':').filter(|&i| !host[i..].contains(']'));
    let new_host = match port_colon {
        Some(i) if &host[i + 1..] == default_port => host[..i].to_owned(),
        Some(_) => return None,
        None => format!("{host}:{default_port}"),
    };
    Some(format!("{scheme}://{}{new_host}{tail}", &authority[..host_start]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    /// The example of Twilio's security page.
    #[test]
    fn twilio_security_page_vector() {
        let params = p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &params), "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(is_valid("12345", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(is_valid(
            "12345",
            "https://mycompany.com:443/myapp.php?foo=1&bar=2",
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!is_valid("12346", url, &params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!is_valid("12345", url, &params, "not base64!"));
    }

    #[test]
    fn default_ports_toggle() {
        assert_eq!(
            with_default_port_toggled("https://a.com/x").as_deref(),
            Some("https://a.com:443/x")
        );
        assert_eq!(
            with_default_port_toggled("https://a.com:443/x?y").as_deref(),
            Some("https://a.com/x?y")
        );
        assert_eq!(
            with_default_port_toggled("http://u:p@a.com?q").as_deref(),
            Some("http://u:p@a.com:80?q")
        );
        assert_eq!(
            with_default_port_toggled("http://[::1]:80/").as_deref(),
            Some("http://[::1]/")
        );
        assert_eq!(
            with_default_port_toggled("http://[::1]/").as_deref(),
            Some("http://[::1]:80/")
        );
        assert_eq!(with_default_port_toggled("http://a.com:8080/"), None);
    }

    #[test]
    fn repeated_names_sort_their_values_and_count_identical_ones_once() {
        let a = p(&[("MediaUrl0", "b"), ("X", "2"), ("MediaUrl0", "a"), ("X", "2")]);
        let b = p(&[("X", "2"), ("MediaUrl0", "a"), ("MediaUrl0", "b")]);
        assert_eq!(sign("t", "https://h/p", &a), sign("t", "https://h/p", &b));
    }

    proptest! {
        #[test]
        fn any_change_breaks_the_signature(
            params in proptest::collection::vec(("[A-Za-z]{1,8}", "\\PC{0,16}"), 0..8),
            extra in "[a-z]{1,4}",
        ) {
            let params: Vec<(String, String)> = params;
            let url = "https://h.example/sms-router/webhook/sms";
            let good = sign("token", url, &params);
            prop_assert!(is_valid("token", url, &params, &good));
            let mut changed = params.clone();
            changed.push(("Zz".to_owned() + &extra, "1".to_owned()));
            prop_assert!(!is_valid("token", url, &changed, &good));
            let other_url = format!("{url}/{extra}");
            prop_assert!(!is_valid("token", &other_url, &params, &good));
        }
    }
}
