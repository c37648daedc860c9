//! Fixture resources and the resource template.

use super::*;

/// Fixture resources, appended to `resources/list`.
pub(crate) fn resources() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT_URI, "static-text")
            .with_description("Conformance fixture: a static text resource")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY_URI, "static-binary")
            .with_description("Conformance fixture: a static binary (PNG) resource")
            .with_mime_type("image/png"),
        Resource::new(WATCHED_URI, "watched-resource")
            .with_description("Conformance fixture: a resource clients may subscribe to")
            .with_mime_type("text/plain"),
    ]
}

/// Fixture resource templates, appended to `resources/templates/list`.
pub(crate) fn resource_templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE_URI, "template-data")
            .with_description("Conformance fixture: JSON data for any id")
            .with_mime_type("application/json"),
    ]
}

/// True for the fixture resources `resources/subscribe` accepts.
pub(crate) fn subscribable(uri: &str) -> bool {
    read_resource(uri).is_some()
}

/// Reads a fixture resource; `None` when `uri` is not one (the caller reports not-found).
pub(crate) fn read_resource(uri: &str) -> Option<ResourceContents> {
    match uri {
        STATIC_TEXT_URI => Some(
            ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain"),
        ),
        STATIC_BINARY_URI => Some(ResourceContents::blob(TEST_IMAGE_BASE64, uri).with_mime_type("image/png")),
        WATCHED_URI => Some(ResourceContents::text("Watched resource content", uri).with_mime_type("text/plain")),
        _ => {
            let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
            if id.is_empty() || id.len() > MAX_TEMPLATE_ID || id.contains('/') {
                return None;
            }
            let body = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            Some(ResourceContents::text(body.to_string(), uri).with_mime_type("application/json"))
        }
    }
}
