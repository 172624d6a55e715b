//! The status page (`GET /`) and the JSON API behind it (`GET /api/v1/job`,
//! `/api/v1/partitions`, `/api/v1/checkpoints`, `/api/v1/dead-letters`), served
//! by the metrics endpoint. Every document is `{"jobs": [...]}`: one entry for
//! a job's own endpoint, one per task behind a [`MetricsHub`](super::MetricsHub)
//! (which also lists the assignment history in `/api/v1/partitions`).
//!
//! | file | role |
//! |---|---|
//! | `history.rs` | checkpoints, restarts and dead letters of the past, in bounded lists |
//! | `documents.rs` | the JSON documents, built from a job's live values |
//! | `rates.rs` | per-second rates over the last second or more |
//! | `page.html` | the page: plain HTML, CSS and JavaScript, no outside asset |
//!
//! The page is one file compiled into the binary (`include_str!`), so
//! `cargo build` alone gives a working page and nothing is fetched from the
//! internet; it polls the API every 1.5 s.

mod documents;
mod history;
mod rates;

use serde::Serialize;

pub(crate) use documents::PlanEdge;
pub(crate) use history::{millis, History};
pub(crate) use rates::RateWindow;

use super::JobMetrics;

/// The page served at `/`.
pub(crate) const PAGE: &str = include_str!("page.html");

/// One document of the API.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum ApiDocument {
    Job,
    Partitions,
    Checkpoints,
    DeadLetters,
}

impl ApiDocument {
    /// The document a request path names, if any.
    pub(crate) fn of_path(path: &str) -> Option<Self> {
        Some(match path.trim_end_matches('/') {
            "/api/v1/job" => ApiDocument::Job,
            "/api/v1/partitions" => ApiDocument::Partitions,
            "/api/v1/checkpoints" => ApiDocument::Checkpoints,
            "/api/v1/dead-letters" => ApiDocument::DeadLetters,
            _ => return None,
        })
    }
}

/// One job's part of a document.
pub(crate) fn job_part(metrics: &JobMetrics, document: ApiDocument) -> serde_json::Value {
    let value = match document {
        ApiDocument::Job => serde_json::to_value(metrics.job_document()),
        ApiDocument::Partitions => serde_json::to_value(metrics.partitions_document()),
        ApiDocument::Checkpoints => serde_json::to_value(metrics.checkpoints_document()),
        ApiDocument::DeadLetters => serde_json::to_value(metrics.dead_letters_document()),
    };
    // The documents are plain structs of strings and numbers: they always encode.
    value.unwrap_or(serde_json::Value::Null)
}

/// A whole document: the jobs' parts, and what the endpoint adds (a hub's
/// assignment history).
#[derive(Debug, Serialize)]
pub(crate) struct Document<A: Serialize, S: Serialize = ()> {
    pub(crate) jobs: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) assignments: Option<A>,
    /// A hub's scaling signal, by consumer group (`/api/v1/job`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scaling: Option<S>,
}
