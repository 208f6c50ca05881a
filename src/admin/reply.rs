//! Answers of the admin API: JSON bodies with an `ETag`, and the one place that maps every
//! error to its HTTP status and `{"error":{code,message,field}}` body.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::reindex::Owners;
use crate::catalog::writer::UpdateError;
use crate::routing::CatalogError;

/// A successful answer: status, optional JSON body, optional catalog version (`ETag`).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub etag: Option<u64>,
}

impl Reply {
    /// `200` with a body.
    pub fn ok(body: Value, version: u64) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            etag: Some(version),
        }
    }

    /// `201` with a body.
    pub fn created(body: Value, version: u64) -> Reply {
        Reply {
            status: StatusCode::CREATED,
            body: Some(body),
            etag: Some(version),
        }
    }

    /// `204`, no body.
    pub fn no_content(version: u64) -> Reply {
        Reply {
            status: StatusCode::NO_CONTENT,
            body: None,
            etag: Some(version),
        }
    }

    /// Turns the reply into an HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = match self.body {
            Some(v) => json_response(self.status, &v),
            None => {
                let mut r = Response::new(Full::new(Bytes::new()));
                *r.status_mut() = self.status;
                r
            }
        };
        if let Some(v) = self.etag {
            if let Ok(h) = HeaderValue::from_str(&format!("\"{v}\"")) {
                resp.headers_mut().insert(header::ETAG, h);
            }
        }
        resp
    }
}

/// One problem in a request, with the JSON field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    pub field: String,
    pub message: String,
}

/// Every way a request can fail; [`ApiError::into_response`] is the only mapping to HTTP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method {method} is not allowed here (allowed: {})", .allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<&'static str>,
    },
    #[error("{message}")]
    Conflict {
        message: String,
        field: Option<String>,
    },
    /// A change that takes a tenant past its quota (409 `quota_exceeded`, `field` = kind).
    #[error("{message}")]
    QuotaExceeded { message: String, kind: &'static str },
    #[error("the catalog is at version {current}, not the version in If-Match")]
    PreconditionFailed { current: u64 },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request body must be JSON (content-type: application/json)")]
    UnsupportedMediaType,
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
        details: Vec<Detail>,
    },
    #[error(
        "the catalog is managed in the configuration file (no [store] dir): the API is read-only"
    )]
    ReadOnly,
    #[error("{0}")]
    Internal(String),
    /// The shared catalog store (etcd) cannot be reached: 503, try again later.
    #[error("{0}")]
    StoreUnavailable(String),
}

impl ApiError {
    /// A 400 about one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            message: message.into(),
            field: Some(field.into()),
            details: Vec::new(),
        }
    }

    /// A 409 about one field.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Conflict {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A 404 naming what was looked for.
    pub fn not_found(kind: &str, name: &str) -> ApiError {
        ApiError::NotFound(format!("no {kind} {name:?}"))
    }

    /// The catalog's validation errors: the first one's path as `field`, all in `details`.
    pub fn from_catalog(errors: Vec<CatalogError>) -> ApiError {
        let details: Vec<Detail> = errors
            .into_iter()
            .map(|e| Detail {
                field: e.path,
                message: e.message,
            })
            .collect();
        let message = match details.first() {
            Some(d) if details.len() == 1 => format!("{}: {}", d.field, d.message),
            Some(d) => format!(
                "{}: {} (and {} more)",
                d.field,
                d.message,
                details.len() - 1
            ),
            None => "the change makes the catalog invalid".into(),
        };
        ApiError::Invalid {
            message,
            field: details.first().map(|d| d.field.clone()),
            details,
        }
    }

    /// The error as tenant `tenant`'s caller may see it: catalog errors renumbered to
    /// the tenant's own objects of `owners` (the catalog the change produced), and errors
    /// about other scopes' objects dropped (see [`super::reindex`]).
    pub fn redacted(self, owners: &Owners, tenant: &str) -> ApiError {
        match self {
            ApiError::Invalid { details, .. } if !details.is_empty() => {
                let errors = details
                    .into_iter()
                    .filter_map(|d| owners.reindex(CatalogError::new(d.field, d.message), tenant))
                    .collect();
                ApiError::from_catalog(errors)
            }
            other => other,
        }
    }

    /// The status and the stable `code` of the error body.
    pub fn status_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed { .. } => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
            }
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::QuotaExceeded { .. } => (StatusCode::CONFLICT, "quota_exceeded"),
            ApiError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
            }
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::ReadOnly => (StatusCode::CONFLICT, "read_only"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::StoreUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        }
    }

    /// The error as an HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let (status, code) = self.status_code();
        let mut error = json!({ "code": code, "message": self.to_string() });
        match &self {
            ApiError::Conflict { field: Some(f), .. } => error["field"] = json!(f),
            ApiError::QuotaExceeded { kind, .. } => error["field"] = json!(kind),
            ApiError::Invalid { field, details, .. } => {
                if let Some(f) = field {
                    error["field"] = json!(f);
                }
                if !details.is_empty() {
                    error["details"] = details
                        .iter()
                        .map(|d| json!({ "field": d.field, "message": d.message }))
                        .collect();
                }
            }
            _ => {}
        }
        let mut resp = json_response(status, &json!({ "error": error }));
        let headers = resp.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                if let Ok(v) = HeaderValue::from_str(&allowed.join(", ")) {
                    headers.insert(header::ALLOW, v);
                }
            }
            ApiError::PreconditionFailed { current } => {
                if let Ok(v) = HeaderValue::from_str(&format!("\"{current}\"")) {
                    headers.insert(header::ETAG, v);
                }
            }
            ApiError::PayloadTooLarge { .. } => {
                // The rest of an oversized body is not read: the connection cannot be reused.
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        resp
    }
}

impl From<UpdateError<ApiError>> for ApiError {
    fn from(e: UpdateError<ApiError>) -> ApiError {
        match e {
            UpdateError::ReadOnly => ApiError::ReadOnly,
            UpdateError::Conflict { current } => ApiError::PreconditionFailed { current },
            UpdateError::Invalid(errors) => ApiError::from_catalog(errors),
            UpdateError::Rejected(e) => e,
            UpdateError::Quota(e) => ApiError::QuotaExceeded {
                message: format!(
                    "{e}; delete some or ask the operator to raise tenant {:?}'s quota",
                    e.tenant
                ),
                kind: e.kind.as_str(),
            },
            UpdateError::Unavailable(e) => ApiError::StoreUnavailable(format!(
                "the catalog store is unavailable, nothing was changed; try again later ({e})"
            )),
            UpdateError::Store(e) => {
                tracing::error!(error = %e, "admin API: catalog store write failed; nothing changed");
                ApiError::Internal(format!("the catalog could not be saved: {e}"))
            }
        }
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(bytes)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
