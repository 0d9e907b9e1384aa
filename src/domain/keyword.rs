//! The carrier keywords every SMS service must honour.

/// What a message means when it is a keyword alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
    Help,
}

const STOP: [&str; 8] = [
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
];
const START: [&str; 3] = ["START", "YES", "UNSTOP"];
const HELP: [&str; 2] = ["HELP", "INFO"];

impl Keyword {
    /// The keyword a body is, when it is one alone; case and surrounding
    /// white space do not matter.
    pub fn of_body(body: &str) -> Option<Self> {
        let word = body.trim();
        let is = |list: &[&str]| list.iter().any(|k| k.eq_ignore_ascii_case(word));
        if is(&STOP) {
            Some(Keyword::Stop)
        } else if is(&START) {
            Some(Keyword::Start)
        } else if is(&HELP) {
            Some(Keyword::Help)
        } else {
            None
        }
    }

    /// Twilio's `OptOutType` field: `STOP`, `START` or `HELP`.
    pub fn of_opt_out_type(value: &str) -> Option<Self> {
        match value.trim().to_ascii_uppercase().as_str() {
            "STOP" => Some(Keyword::Stop),
            "START" => Some(Keyword::Start),
            "HELP" => Some(Keyword::Help),
            _ => None,
        }
    }

    /// Twilio's reading wins over ours: it knows its own keyword settings.
    pub fn of_message(body: &str, opt_out_type: Option<Keyword>) -> Option<Self> {
        opt_out_type.or_else(|| Keyword::of_body(body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_alone_in_any_case() {
        assert_eq!(Keyword::of_body(" stop "), Some(Keyword::Stop));
        assert_eq!(Keyword::of_body("OptOut"), Some(Keyword::Stop));
        assert_eq!(Keyword::of_body("\tunstop\n"), Some(Keyword::Start));
        assert_eq!(Keyword::of_body("Info"), Some(Keyword::Help));
    }

    #[test]
    fn keywords_inside_text_do_not_count() {
        assert_eq!(Keyword::of_body("please stop"), None);
        assert_eq!(Keyword::of_body("help me"), None);
        assert_eq!(Keyword::of_body(""), None);
    }

    #[test]
    fn opt_out_type_wins() {
        assert_eq!(
            Keyword::of_message("hello", Keyword::of_opt_out_type("stop")),
            Some(Keyword::Stop)
        );
        assert_eq!(Keyword::of_message("STOP", None), Some(Keyword::Stop));
    }
}
