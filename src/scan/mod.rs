//! The scanner: the bytes of a message and its envelope in, a [`Report`] out.
//!
//! Pure and synchronous: no I/O, no async, no knowledge of SMTP. Every front end (relay,
//! milter, `hallpass scan`) calls [`Scanner::scan`]. The MIME walk (`mime`) turns the message
//! into text [`Segment`]s with their location; attachment extractors (`extract`) turn
//! attachment bytes into segments; the detectors (`detectors`) find pupil data in segments.
//! What could not be read is listed in `not_scanned`, never silently passed as clean.

//!
//! The files form a one-way chain: `segment`, `envelope`, `budget` (with `ocr`) and `report`
//! are leaves; `html`, `extract` and `mime` read; `detectors` find; `scanner` runs them
//! all. This module only declares them and re-exports what the rest of Hallpass uses.

mod budget;
pub mod detectors;
mod envelope;
pub mod extract;
pub mod html;
pub mod mime;
pub mod ocr;
mod report;
mod scanner;
mod segment;

pub use budget::{Budget, Limits};
pub use envelope::Envelope;
pub use report::{Finding, FindingKind, NotScanned, Report, kind_names};
pub use scanner::Scanner;
pub use segment::{Location, Segment, Table, TableText};
