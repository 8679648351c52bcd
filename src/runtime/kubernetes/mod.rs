//! The Kubernetes runtime, first step: a client for each `auth_mode` of the saved connection.
//! [`settings`] reads and checks the `[kubernetes]` stanza and its secrets (pure); [`client`]
//! turns them into kube's `Config` and client, with [`eks`] minting the aws-iam mode's tokens
//! (and looking up an EKS cluster's endpoint and CA when no `cluster_url` is saved) and
//! [`proxy`] choosing the proxy. Credentials stay in memory: no certificate, key or token is
//! ever written to a file. [`diagnose`] is the staged connection test, [`access`] the
//! permissions the runtime needs, [`error`] what a failed kube call means; [`manifest`] builds
//! the objects a start applies (pure), with [`quantity`] checking resource values;
//! [`observe`] reads a Deployment and its pods as a state and [`address`] its Service as URLs
//! (both pure). [`cluster`] is the runtime itself: the [`crate::runtime::Runtime`] verbs on a
//! cluster, written with all of the above.

pub mod access;
pub mod address;
pub mod client;
pub mod cluster;
pub mod diagnose;
pub mod eks;
pub mod error;
pub mod manifest;
pub mod observe;
pub mod proxy;
pub mod quantity;
pub mod settings;
