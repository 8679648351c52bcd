//! The Kubernetes runtime, first step: a client for each `auth_mode` of the saved connection.
//! [`settings`] reads and checks the `[kubernetes]` stanza and its secrets (pure); [`eks`]
//! mints the aws-iam mode's EKS tokens. Credentials stay in memory: no certificate, key or
//! token is ever written to a file.

pub mod eks;
pub mod settings;
