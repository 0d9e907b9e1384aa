//! The metadata of usage-log rows, as both stores write it (JSON text).

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
