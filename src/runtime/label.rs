//! Label keys: the AI Toolkit's (kept so existing containers are found) and this handler's.
//!
//! Schema 2 splits them by what their values may be. [`SELECTORS`] hold valid Kubernetes
//! label values (at most 63 characters, letters or digits at both ends) and are what
//! containers are found by; [`ANNOTATIONS`] hold values that may be anything (the raw model
//! name, the full spec hash): labels on Docker, which takes any value, annotations on
//! Kubernetes. Schema 1 (the first release) had no `model-key` or `spec-id` and is still read:
//! its `model` and `spec-sha256` mean what they mean in schema 2.

/// The toolkit's marker of a managed container (value empty).
pub const LEGACY_CONTAINER: &str = "mltk_container";
/// The toolkit's model label (the raw name, as the toolkit writes it on Docker).
pub const LEGACY_MODEL: &str = "mltk_model";
/// Who manages the container.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The value of [`MANAGED_BY`].
pub const MANAGER: &str = "dsdl-handler";
/// The search head that started it (splunkd's server guid, a UUID): nobody else touches it.
pub const MANAGER_ID: &str = "com.splunk.mltk/manager-id";
/// The model's selector ([`crate::names::label_value`] of its name): what a model's
/// containers are found by. Schema 2.
pub const MODEL_KEY: &str = "com.splunk.mltk/model-key";
/// The model name as given.
pub const MODEL: &str = "com.splunk.mltk/model";
/// `dev` or `prod`.
pub const MODE: &str = "com.splunk.mltk/mode";
/// The spec hash cut to a valid label value ([`super::plan::spec_id`]). Schema 2.
pub const SPEC_ID: &str = "com.splunk.mltk/spec-id";
/// Hash of what makes two starts the same (image, mode, GPU), in full: 64 hex digits.
pub const SPEC: &str = "com.splunk.mltk/spec-sha256";
/// Version of this label scheme.
pub const SCHEMA: &str = "com.splunk.mltk/schema";
/// The [`SCHEMA`] value written now.
pub const SCHEMA_VERSION: &str = "2";
/// Keys whose values are valid label values on both runtimes: labels everywhere.
pub const SELECTORS: &[&str] = &[
    LEGACY_CONTAINER,
    MANAGED_BY,
    MANAGER_ID,
    MODEL_KEY,
    MODE,
    SPEC_ID,
    SCHEMA,
];
/// Keys whose values may be anything: labels on Docker, annotations on Kubernetes (where
/// the toolkit's own model label is `mltk-model` with a cleaned value); never selected on.
pub const ANNOTATIONS: &[&str] = &[LEGACY_MODEL, MODEL, SPEC];
