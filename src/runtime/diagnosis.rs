//! The result of a staged connection test, on any runtime: each stage says passed, failed,
//! skipped or warning, with what was found and a hint.

use crate::error::ApiError;
use serde_json::{Value, json};

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Fine.
    Passed,
    /// The connection cannot be used.
    Failed,
    /// Not run (not applicable, or an earlier stage failed).
    Skipped,
    /// Usable, with a limitation.
    Warning,
}

/// One stage's result.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage name.
    pub name: &'static str,
    /// How it ended.
    pub outcome: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about a failure or warning.
    pub hint: String,
}

impl Stage {
    /// The reply form.
    pub fn to_json(&self) -> Value {
        json!({
            "stage": self.name,
            "result": match self.outcome {
                Verdict::Passed => "passed",
                Verdict::Failed => "failed",
                Verdict::Skipped => "skipped",
                Verdict::Warning => "warning",
            },
            "detail": self.detail,
            "hint": self.hint,
        })
    }
}

/// All stages and, when one failed, the error to answer with.
#[derive(Debug)]
pub struct Diagnosis {
    /// Every stage, in order.
    pub stages: Vec<Stage>,
    /// The failure (status and message), if any.
    pub failure: Option<ApiError>,
    /// The engine's version, when reached.
    pub engine_version: Option<String>,
    /// Warnings every reply on this connection carries (TLS checks skipped by setting).
    pub warnings: Vec<String>,
}
