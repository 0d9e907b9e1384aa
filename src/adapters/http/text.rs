//! A JSON string and nothing else. poem-openapi's `String` also takes a
//! number or a boolean and turns it into text (`{"full_name": 42}` made a
//! user named "42"); request fields declared as strings use `Text`, so
//! that a value of another type is a 400 naming the field. The field's
//! name comes from a marker type, since poem-openapi's errors do not say
//! which field failed.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde_json::Value;

/// The name of a request field, for its errors.
pub trait Field: Send + Sync + 'static {
    const NAME: &'static str;
}

macro_rules! fields {
    ($($marker:ident = $name:literal),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $marker;

        impl super::Field for $marker {
            const NAME: &'static str = $name;
        }
    )*};
}

/// The request fields that are text, by name.
pub mod field {
    fields!(
        FullName = "full_name",
        Email = "email",
        PhoneNumber = "phone_number",
        Value = "value",
        Description = "description",
        Body = "body",
        Code = "code",
        AgentUrl = "agent_url",
        AgentToken = "agent_token",
    );
}

/// The text of the request field `F`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<F>(pub String, PhantomData<F>);

impl<F: Field> Type for Text<F> {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl<F: Field> ParseFromJSON for Text<F> {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let kind = match value.unwrap_or_default() {
            Value::String(text) => return Ok(Text(text, PhantomData)),
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        Err(ParseError::custom(format!(
            "`{}` must be a string, not {kind}",
            F::NAME
        )))
    }
}

impl<F: Field> ToJSON for Text<F> {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

impl<F> std::ops::Deref for Text<F> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// For examples in the spec.
impl<F> From<&str> for Text<F> {
    fn from(text: &str) -> Self {
        Text(text.to_owned(), PhantomData)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_json_string_is_text_and_a_refusal_names_the_field() {
        assert_eq!(
            Text::<field::FullName>::parse_from_json(Some(Value::String("Ada".into()))).ok(),
            Some(Text::from("Ada"))
        );
        for other in [serde_json::json!(42), serde_json::json!(true), serde_json::json!(null)] {
            let refused = Text::<field::FullName>::parse_from_json(Some(other.clone())).err();
            assert!(refused.is_some_and(|e| e.message().contains("`full_name`")), "{other}");
        }
    }
}
