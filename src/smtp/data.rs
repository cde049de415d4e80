//! The message data of one DATA command (RFC 5321 4.1.1.4 and 4.5.2), read strictly: only
//! `<CRLF>.<CRLF>` at a line start ends it (the first line after the 354 is a line start, so
//! `.` at once is an empty message), every line that starts with a dot loses that dot (the
//! first line too), and a bare CR, a bare LF or a NUL taints the message. A tainted message
//! still ends only at a true `<CRLF>.<CRLF>`; the session refuses it and closes the
//! connection, so nothing after it is ever read as a command (SMTP smuggling: no byte
//! sequence ends or splits a message here that a next hop could read differently).
//!
//! Our own reader rather than smtp-proto's `DataReceiver`: that one ends data at
//! `<CRLF>.<CR>…<LF>` (so `<CRLF>.<CR><CR><LF>` ended a message and the rest of the stream
//! was read as commands) and leaves the first line stuffed. This is the one place where
//! exactness beats reuse; it is pure and synchronous (bytes in, message out) and tested
//! against every published end-of-data variant.

/// The end-of-data variants published by the SMTP smuggling research (SEC Consult, 2023)
/// and their NUL forms: none of them ends or splits a message here (tested in this module and
/// through `hallpass serve` in tests/wire.rs).
pub const SMUGGLING_ENDINGS: &[&[u8]] = &[
    b"\n.\n",
    b"\n.\r",
    b"\r.\n",
    b"\r.\r",
    b"\n.\r\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r\n.\r",
    b"\r\n.\r\r\n",
    b"\r\r\n.\r\r\n",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n\n.\r\n",
];

/// What makes message data unacceptable: a byte sequence that some MTA reads as a line end
/// (or an end of string) and another does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taint {
    BareCr,
    BareLf,
    Nul,
}

impl Taint {
    /// For the SMTP reply: what was found.
    pub fn describe(self) -> &'static str {
        match self {
            Taint::BareCr => "a bare CR (carriage return not followed by LF)",
            Taint::BareLf => "a bare LF (line feed not preceded by CR)",
            Taint::Nul => "a NUL byte",
        }
    }
}

/// The first bare CR, bare LF or NUL in raw message bytes (BDAT chunks, which carry the
/// message unstuffed); `None` when every line ends in CRLF and no NUL is present.
pub fn first_taint(data: &[u8]) -> Option<Taint> {
    let mut rest = data;
    while let Some(i) = memchr::memchr3(b'\r', b'\n', 0, rest) {
        match rest[i] {
            0 => return Some(Taint::Nul),
            b'\n' => return Some(Taint::BareLf),
            _ if rest.get(i + 1) == Some(&b'\n') => rest = &rest[i + 2..],
            _ => return Some(Taint::BareCr),
        }
    }
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// After a CRLF (or at the start of the data).
    LineStart,
    /// A dot at a line start (dropped: unstuffed, or the end marker).
    Dot,
    /// `.` `CR` at a line start: an LF next ends the data.
    DotCr,
    /// Inside a line.
    Mid,
    /// After a CR inside a line: an LF next ends the line.
    Cr,
}

/// The data of one DATA command, fed as it arrives.
pub struct DataReader {
    state: State,
    message: Vec<u8>,
    limit: usize,
    too_big: bool,
    taint: Option<Taint>,
}

/// A message's data once its end was read.
#[derive(Debug)]
pub struct Data {
    /// Unstuffed, up to and including the CRLF before the final dot; empty when too big.
    pub message: Vec<u8>,
    /// Over the size limit (the data was read to its end and dropped).
    pub too_big: bool,
    /// The first bare CR, bare LF or NUL seen.
    pub taint: Option<Taint>,
}

impl DataReader {
    /// A reader that keeps at most `limit` bytes of message.
    pub fn new(limit: usize) -> DataReader {
        DataReader {
            state: State::LineStart,
            message: Vec::new(),
            limit,
            too_big: false,
            taint: None,
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.too_big {
            return;
        }
        if self.message.len() + bytes.len() > self.limit {
            self.too_big = true;
            self.message = Vec::new();
        } else {
            self.message.extend_from_slice(bytes);
        }
    }

    fn taint(&mut self, t: Taint) {
        self.taint.get_or_insert(t);
    }

    /// Reads `input`; `Some(n)` when the end of data was found after `n` bytes of it (what
    /// follows is the next command), `None` when all of it was data and more is needed.
    pub fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                State::LineStart if b == b'.' => {
                    i += 1;
                    self.state = State::Dot;
                }
                State::Dot if b == b'\r' => {
                    i += 1;
                    self.state = State::DotCr;
                }
                State::DotCr if b == b'\n' => return Some(i + 1),
                State::DotCr => {
                    // `.` CR then not LF: the CR was a line's text; read b again after it.
                    self.emit(b"\r");
                    self.state = State::Cr;
                }
                State::Cr if b == b'\n' => {
                    i += 1;
                    self.emit(b"\n");
                    self.state = State::LineStart;
                }
                State::Cr => {
                    self.taint(Taint::BareCr);
                    self.state = State::Mid;
                }
                State::LineStart | State::Dot | State::Mid => {
                    // Text up to the next CR, LF or NUL is copied as it is.
                    let rest = &input[i..];
                    let Some(k) = memchr::memchr3(b'\r', b'\n', 0, rest) else {
                        self.emit(rest);
                        self.state = State::Mid;
                        return None;
                    };
                    self.emit(&rest[..=k]);
                    i += k + 1;
                    self.state = match rest[k] {
                        b'\r' => State::Cr,
                        b'\n' => {
                            self.taint(Taint::BareLf);
                            State::Mid
                        }
                        _ => {
                            self.taint(Taint::Nul);
                            State::Mid
                        }
                    };
                }
            }
        }
        None
    }

    /// The message, once [`DataReader::feed`] found its end.
    pub fn finish(self) -> Data {
        Data {
            message: self.message,
            too_big: self.too_big,
            taint: self.taint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `stream` in pieces of `step` bytes; the message and the bytes left after it.
    fn read(stream: &[u8], step: usize) -> Option<(Data, Vec<u8>)> {
        let mut r = DataReader::new(1 << 20);
        let mut at = 0;
        while at < stream.len() {
            let end = (at + step).min(stream.len());
            if let Some(n) = r.feed(&stream[at..end]) {
                return Some((r.finish(), stream[at + n..].to_vec()));
            }
            at = end;
        }
        None
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs_every_line() {
        for step in [1, 2, 3, 7, 1000] {
            let (d, rest) = read(b"..first\r\nb\r\n..c\r\n.\r\nQUIT\r\n", step).unwrap();
            assert_eq!(d.message, b".first\r\nb\r\n.c\r\n", "step {step}");
            assert_eq!(d.taint, None);
            assert_eq!(rest, b"QUIT\r\n");
            let (d, rest) = read(b".\r\nNOOP\r\n", step).unwrap();
            assert!(d.message.is_empty() && d.taint.is_none());
            assert_eq!(rest, b"NOOP\r\n");
        }
    }

    #[test]
    fn smuggling_endings_never_end_the_data() {
        for e in SMUGGLING_ENDINGS {
            let mut s = b"Subject: a\r\n\r\nfirst".to_vec();
            s.extend_from_slice(e);
            s.extend_from_slice(b"MAIL FROM:<evil@example.com>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n");
            for step in [1, 2, 5, 4096] {
                let (d, rest) = read(&s, step).unwrap();
                assert!(d.taint.is_some(), "{e:?} step {step}");
                assert_eq!(rest, b"QUIT\r\n", "{e:?} step {step}: ended early");
            }
        }
    }

    #[test]
    fn taint_kinds_and_limit() {
        assert_eq!(
            read(b"a\nb\r\n.\r\n", 9).unwrap().0.taint,
            Some(Taint::BareLf)
        );
        assert_eq!(
            read(b"a\rb\r\n.\r\n", 9).unwrap().0.taint,
            Some(Taint::BareCr)
        );
        assert_eq!(read(b"a\0b\r\n.\r\n", 9).unwrap().0.taint, Some(Taint::Nul));
        let mut r = DataReader::new(4);
        assert_eq!(r.feed(b"abcdef\r\n.\r\n"), Some(11));
        let d = r.finish();
        assert!(d.too_big && d.message.is_empty());
        assert_eq!(first_taint(b"a\r\nb\r\n"), None);
        assert_eq!(first_taint(b"a\r\nb\n"), Some(Taint::BareLf));
        assert_eq!(first_taint(b"a\rb"), Some(Taint::BareCr));
        assert_eq!(first_taint(b"a\r"), Some(Taint::BareCr));
        assert_eq!(first_taint(b"a\r\n\0"), Some(Taint::Nul));
    }

    proptest::proptest! {
        /// Random mixes of CR, LF, dot, NUL and text: the data ends at the first true
        /// `<CRLF>.<CRLF>` (or the start's `.<CRLF>`) whatever the pieces, and an untainted
        /// message stuffed again reads back the same.
        #[test]
        fn random_streams(
            bytes in proptest::collection::vec(proptest::sample::select(vec![b'\r', b'\n', b'.', 0u8, b'a', b' ']), 0..64),
            step in 1usize..9,
        ) {
            let mut s = bytes.clone();
            s.extend_from_slice(b"\r\n.\r\nTAIL");
            // The reference: the first ".\r\n" at the start or after a CRLF.
            let mut end = None;
            for i in 0..s.len() {
                let at_line_start = i == 0 || (i >= 2 && &s[i - 2..i] == b"\r\n");
                if at_line_start && s[i..].starts_with(b".\r\n") {
                    end = Some(i + 3);
                    break;
                }
            }
            let (d, rest) = read(&s, step).unwrap();
            proptest::prop_assert_eq!(rest, s[end.unwrap()..].to_vec());
            let body = &s[..end.unwrap() - 3];
            let clean = first_taint(body).is_none();
            proptest::prop_assert_eq!(d.taint.is_none(), clean);
            if clean {
                // The reference unstuffing: one dot dropped at each line start.
                let unstuffed: Vec<u8> = body
                    .iter()
                    .enumerate()
                    .filter(|&(j, &b)| !(b == b'.' && (j == 0 || body[..j].ends_with(b"\r\n"))))
                    .map(|(_, &b)| b)
                    .collect();
                proptest::prop_assert_eq!(d.message, unstuffed);
            }
        }
    }
}
