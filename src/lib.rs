//! Hallpass: an email data-loss-prevention filter for UK schools.
//!
//! The library holds everything the front ends share: the configuration, the school
//! directory, the scanner and the policy, the relay (`smtp`), the next hop (`deliver`) and
//! the quarantine and its review page (`review`). The binary (`main.rs`) is only the CLI.

pub mod classes;
pub mod config;
pub mod deliver;
pub mod directory;
pub mod dispatch;
pub mod identifiers;
pub mod metrics;
pub mod milter;
pub mod notify;
pub mod policy;
pub mod quarantine;
pub mod review;
pub mod scan;
pub mod settings;
pub mod smtp;
pub mod synth;
pub mod text;
