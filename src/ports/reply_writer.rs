//! Turns the domain's reply into what the messaging provider expects.

use crate::domain::reply::Reply;

pub trait ReplyWriter: Send + Sync + 'static {
    fn render(&self, reply: &Reply) -> String;
}
