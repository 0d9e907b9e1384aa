//! The metadata of usage-log rows, as both stores write it (JSON text).

use crate::domain::usage::InboundRecord;
use crate::ports::OutboxItem;

/// An outbound row's metadata: the request that sent it, and how many files
/// went with it.
pub fn outbound(request_id: Option<&str>, media: u32) -> Option<String> {
    let mut metadata = serde_json::Map::new();
    if let Some(id) = request_id {
        metadata.insert("request_id".into(), id.into());
    }
    if media > 0 {
        metadata.insert("num_media".into(), media.into());
    }
    (!metadata.is_empty()).then(|| serde_json::Value::Object(metadata).to_string())
}

/// An answered inbound message's metadata: the number it was sent to, its
/// files, its request, and whether its reply was sent later.
pub fn inbound(record: &InboundRecord) -> String {
    let mut metadata = serde_json::json!({
        "to": record.to,
        "num_media": record.num_media,
        "request_id": record.request_id.0,
    });
    if record.deferred {
        metadata["deferred"] = serde_json::Value::Bool(true);
    }
    metadata.to_string()
}

/// The metadata of an outbox item's send: which item, which attempt, and
/// how many files went with it.
pub fn outbox_send(item: &OutboxItem) -> String {
    let mut metadata = serde_json::json!({ "outbox_id": item.id.0, "attempts": item.attempts + 1 });
    if let Some(id) = &item.request_id {
        metadata["request_id"] = id.0.clone().into();
    }
    if !item.media.is_empty() {
        metadata["num_media"] = item.media.len().into();
    }
    metadata.to_string()
}
