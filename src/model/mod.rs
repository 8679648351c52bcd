//! The objects the API deals in, as pure data and decisions (no I/O), so they are tested
//! without splunkd: deployment records and the image catalog.

pub mod image;
pub mod record;
