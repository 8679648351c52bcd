//! splunkd's persistent REST protocol: framing, the request JSON and the reply JSON.

pub mod fields;
pub mod frame;
pub mod reply;
pub mod request;
