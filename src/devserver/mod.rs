//! splunkd-dev: the local stand-in for the parts of splunkd this handler relies on.
//!
//! HTTP(S) front with Splunk's namespaces and auth, routing by the app's own restmap.conf to a
//! pool of persistent driver processes, `configs/conf-*` and `storage/passwords` stores, and
//! fixture capture. See DESIGN.md, section "splunkd-dev".
//!
//! Module map: [`types`] (request/response/caller shared by all parts), [`home`] (SPLUNK_HOME
//! layout), [`confs`] (configs/conf-*), [`passwords`] (storage/passwords), [`lookups`]
//! (data/lookup-table-files), [`secret`] (`$7$`).
//!
//! The HTTP front: [`cli`] (flags, start-up) → [`server`] (connections, routing) using
//! [`namespace`] (URL → namespace + REST path), [`auth`] with [`users`], [`roles`] and
//! [`tokens`] (who is calling, what they may do; [`tokens_rest`] serves
//! `authorization/tokens`), [`restmap`] and [`capexpr`] (the apps' handlers and
//! their capability rules), [`builtin`] (login, server/info, the stores), [`properties`]
//! (the older conf view splunklib reads), [`persist`] (the request JSON), [`pool`] (driver
//! processes), [`translate`] (reply JSON → HTTP), [`capture`] (fixtures), [`certs`]
//! (the `--tls` certificate), [`splunkd_log`].

pub mod apps;
pub mod auth;
pub mod builtin;
pub mod capexpr;
pub mod capture;
pub mod certs;
pub mod cli;
pub mod confs;
pub mod confstore;
pub mod eai;
pub mod home;
pub mod lookups;
pub mod namespace;
pub mod passwords;
pub mod persist;
pub mod pool;
pub mod properties;
pub mod restmap;
pub mod roles;
pub mod secret;
pub mod server;
pub mod splunkd_log;
pub mod tokens;
pub mod tokens_rest;
pub mod translate;
pub mod types;
pub mod users;
