//! The SMTP envelope a message is judged with. A leaf of `scan`.

/// The envelope of a message: the SMTP sender and recipients, plus the header sender's
/// display name (for "a name that is the sender's own").
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
}
