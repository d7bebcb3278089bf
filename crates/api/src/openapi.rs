//! The OpenAPI 3.1 document, generated from the handlers: every route is registered through
//! `utoipa_axum::routes!`, which takes the path and method from the handler's
//! `#[utoipa::path]`, so the router and the document cannot disagree.
//!
//! The error answers every operation shares (401 for a bad credential, 413 for a large body,
//! 503 for an unavailable store, ...) are added here by rule rather than repeated on each
//! handler, so that a new handler cannot forget them.

use std::sync::Arc;

use axum::Extension;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response as OpenApiResponse, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Components, ContentBuilder, OpenApi as OpenApiDoc, Ref, RefOr};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::ErrorEnvelope;

/// The document's fixed parts; paths and their schemas come from the routers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "stsd",
        description = "Hosted MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): accounts, tenants, \
            API tokens, domains and their policies.\n\nAuthenticate with `Authorization: Bearer \
            <token>`, where the token is either a short-lived access token (JWT) from \
            `/api/v1/auth/login` or an API token (`stsd_…`). Errors are always \
            `{\"error\": {\"code\", \"message\", \"details\"}}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Accounts and sessions"),
        (name = "tenants", description = "Tenants: the unit of ownership and billing"),
        (name = "members", description = "Who may do what in a tenant"),
        (name = "tokens", description = "API tokens for automation"),
        (name = "domains", description = "Domain registrations and their DNS records"),
        (name = "policies", description = "MTA-STS policies, their versions and the mode switch"),
        (name = "audit", description = "The tenant's audit log"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document, the API reference and metrics"),
    ),
    components(schemas(ErrorEnvelope)),
)]
struct ApiDoc;

/// The routes serving the document, the reference page and the metrics.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The serialized document, computed once when the router is built.
#[derive(Clone, Debug)]
pub(crate) struct Document(pub(crate) Arc<str>);

/// This OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object))
)]
async fn openapi_json(Extension(doc): Extension<Document>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.to_string(),
    )
        .into_response()
}

/// Starts a router holding the document's fixed parts.
pub(crate) fn base() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// Completes the document gathered from the routers: version, security schemes and the shared
/// error answers.
pub(crate) fn finish(doc: &mut OpenApiDoc) {
    Conventions.modify(doc);
}

/// Shared error answers, as `components/responses`: (name, status, description).
const SHARED: &[(&str, &str, &str)] = &[
    (
        "BadRequest",
        "400",
        "The body is not valid JSON, or a path parameter is unreadable (`bad_request`)",
    ),
    (
        "Unauthorized",
        "401",
        "Missing, invalid, expired or revoked credentials (`unauthorized`)",
    ),
    (
        "Forbidden",
        "403",
        "The caller's role or token scope does not allow this (`forbidden`)",
    ),
    (
        "NotFound",
        "404",
        "No such tenant, or one the caller is not a member of, or no such resource in it \
         (`not_found`)",
    ),
    (
        "PayloadTooLarge",
        "413",
        "The body is over 64 KiB (`payload_too_large`)",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not sent as `application/json` (`unsupported_media_type`)",
    ),
    (
        "ValidationFailed",
        "422",
        "Well-formed, but some fields or parameters are invalid (`validation_failed`); \
         `details` names each bad field",
    ),
    (
        "Unavailable",
        "503",
        "A backing service (the database) is unavailable; retry later (`unavailable`)",
    ),
];

struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut OpenApiDoc) {
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        let components = doc.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token (JWT) from login, signup or refresh, or an API token \
                         (`stsd_…`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "refresh_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "stsd_refresh",
                "The refresh token, set by signup and login (HttpOnly; sent to /api/v1/auth \
                 only). Requests using it must also send `X-Requested-With`.",
            ))),
        );
        for (name, _, description) in SHARED {
            components
                .responses
                .insert((*name).to_owned(), RefOr::T(error_response(description)));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                add_shared_errors(path, op);
            }
        }
    }
}

fn error_response(description: &str) -> OpenApiResponse {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                .build(),
        )
        .build()
}

/// Adds the shared answers an operation can give, judged from what it takes.
fn add_shared_errors(path: &str, op: &mut Operation) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_params_in = |place: ParameterIn| {
        params
            .iter()
            .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let has_path_params = has_params_in(ParameterIn::Path);
    let has_query_params = has_params_in(ParameterIn::Query);
    // Credentials are required when every security alternative names a scheme.
    let needs_credentials = op
        .security
        .as_ref()
        .is_some_and(|s| !s.is_empty() && !s.iter().any(|r| r == &Default::default()));
    let mut shared = Vec::new();
    if op.request_body.is_some() || has_path_params {
        shared.push("BadRequest");
    }
    if needs_credentials {
        shared.push("Unauthorized");
    }
    if path.contains("{tenant}") {
        shared.extend(["Forbidden", "NotFound"]);
    }
    if op.request_body.is_some() {
        shared.extend([
            "PayloadTooLarge",
            "UnsupportedMediaType",
            "ValidationFailed",
        ]);
    }
    if has_query_params {
        shared.push("ValidationFailed");
    }
    if path.starts_with("/api/v1/") && path != "/api/v1/openapi.json" {
        shared.push("Unavailable");
    }
    for name in shared {
        let Some((_, status, _)) = SHARED.iter().find(|(n, _, _)| *n == name) else {
            continue;
        };
        op.responses
            .responses
            .entry((*status).to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}
