//! Hallpass: an email data-loss-prevention filter for UK schools.
//!
//! The library holds everything the front ends share: the configuration, the school
//! directory, the scanner and the policy. The binary (`main.rs`) is only the CLI.

pub mod config;
pub mod directory;
pub mod identifiers;
pub mod policy;
pub mod scan;
pub mod synth;
pub mod text;
