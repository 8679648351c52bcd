//! splunkd-dev: the local stand-in for the parts of splunkd this handler relies on.
//!
//! HTTP(S) front with Splunk's namespaces and auth, routing by the app's own restmap.conf to a
//! pool of persistent driver processes, `configs/conf-*` and `storage/passwords` stores, and
//! fixture capture. See DESIGN.md, section "splunkd-dev".
//!
//! Module map: [`types`] (request/response/caller shared by all parts), [`home`] (SPLUNK_HOME
//! layout), [`confs`] (configs/conf-*), [`passwords`] (storage/passwords), [`secret`] (`$7$`).

pub mod types;
pub mod confs;
pub mod passwords;
