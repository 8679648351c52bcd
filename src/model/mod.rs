//! The objects the API deals in, as pure data and decisions (no I/O), so they are tested
//! without splunkd: deployment records, the image catalog and MLTK's model files.

pub mod image;
pub mod mltk;
pub mod record;
