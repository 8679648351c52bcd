//! Helpers shared by the integration tests. Each test crate uses only part of them.
#![allow(dead_code)]

pub mod contract;
pub mod devserver;
pub mod docker;
pub mod driver;
pub mod flood_engine;
pub mod kube;
pub mod wire;
