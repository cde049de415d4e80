//! UK pupil and person identifiers: UPN, ULN, NHS number and National Insurance number.
//!
//! This module owns the check algorithms exactly as `shared/reference/identifiers.md` states
//! them (canonical normalisation: trim, drop spaces and hyphens, ASCII upper-case, reject any
//! non-ASCII). It validates one candidate value; deciding which spans of free text are
//! candidates belongs to the scanner's identifier detector. It never logs or stores values.

/// The 23-letter UPN alphabet: A–Z without I, O and S. A letter's value is its index.
const ALPHA23: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// Canonical normalisation: trim, remove every space and hyphen, ASCII-uppercase.
/// `None` when the input holds any non-ASCII character.
pub fn normalise(s: &str) -> Option<String> {
    let t = s.trim();
    if !t.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(t.len());
    out.extend(
        t.bytes()
            .filter(|b| *b != b' ' && *b != b'-')
            .map(|b| b.to_ascii_uppercase() as char),
    );
    Some(out)
}

fn alpha23_value(c: u8) -> Option<u32> {
    ALPHA23.iter().position(|a| *a == c).map(|p| p as u32)
}

/// A Unique Pupil Number (permanent or temporary) with a correct check letter.
pub fn upn_valid(s: &str) -> bool {
    normalise(s).is_some_and(|n| upn_valid_normalised(n.as_bytes()))
}

/// UPN check on an already-normalised (upper-case, compact) value.
pub fn upn_valid_normalised(n: &[u8]) -> bool {
    if n.len() != 13 {
        return false;
    }
    let Some(check) = alpha23_value(n[0]) else {
        return false;
    };
    if !n[1..12].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let last = if n[12].is_ascii_digit() {
        (n[12] - b'0') as u32
    } else {
        match alpha23_value(n[12]) {
            Some(v) => v,
            None => return false,
        }
    };
    let mut total: u32 = 0;
    for (i, c) in n[1..12].iter().enumerate() {
        total += (i as u32 + 2) * (*c - b'0') as u32;
    }
    total += 13 * last;
    total % 23 == check
}

/// Σ d_i × (11 − i) over ten digits, mod 11: 0 means an NHS number, 10 a ULN.
fn weighted10(n: &[u8]) -> Option<u32> {
    if n.len() != 10 || !n.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        n.iter()
            .enumerate()
            .map(|(i, d)| (10 - i as u32) * (*d - b'0') as u32)
            .sum::<u32>()
            % 11,
    )
}

/// A Unique Learner Number: ten digits, first non-zero, weighted sum ≡ 10 (mod 11).
pub fn uln_valid(s: &str) -> bool {
    normalise(s).is_some_and(|n| uln_valid_normalised(n.as_bytes()))
}

pub fn uln_valid_normalised(n: &[u8]) -> bool {
    n.first().is_some_and(|d| *d != b'0') && weighted10(n) == Some(10)
}

/// An NHS number by the NHS Data Dictionary check (placeholders such as `0000000000` pass the
/// algorithm; [`nhs_placeholder`] tells them apart for the detector).
pub fn nhs_valid(s: &str) -> bool {
    normalise(s).is_some_and(|n| nhs_valid_normalised(n.as_bytes()))
}

pub fn nhs_valid_normalised(n: &[u8]) -> bool {
    weighted10(n) == Some(0)
}

/// Repeated-digit strings pass the NHS check but are keying placeholders, never numbers.
pub fn nhs_placeholder(n: &[u8]) -> bool {
    n.len() == 10 && n.iter().all(|d| *d == n[0])
}

/// A National Insurance number under HMRC NIM39110 (prefix rules, suffix A–D).
pub fn nino_valid(s: &str) -> bool {
    normalise(s).is_some_and(|n| nino_valid_normalised(n.as_bytes()))
}

pub fn nino_valid_normalised(n: &[u8]) -> bool {
    if n.len() != 9 {
        return false;
    }
    let (p1, p2) = (n[0], n[1]);
    if !p1.is_ascii_uppercase() || !p2.is_ascii_uppercase() {
        return false;
    }
    if !n[2..8].iter().all(u8::is_ascii_digit) || !(b'A'..=b'D').contains(&n[8]) {
        return false;
    }
    if b"DFIQUV".contains(&p1) || b"DFIOQUV".contains(&p2) {
        return false;
    }
    const NOT_ALLOCATED: [&[u8; 2]; 15] = [
        b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ", // never allocated
        b"OO", b"CR", b"FY", b"MW", b"NC", b"PP", b"PY", b"PZ", // administrative
    ];
    !NOT_ALLOCATED.iter().any(|p| p[0] == p1 && p[1] == p2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every row of the shared reference vectors, as the reference defines `valid`.
    #[test]
    fn reference_vectors_all_pass() {
        let csv = include_str!("../tests/data/identifier-vectors.csv");
        let mut counted = std::collections::HashMap::new();
        let mut rdr = csv::Reader::from_reader(csv.as_bytes());
        for row in rdr.records() {
            let row = row.unwrap();
            let (kind, value, valid) = (&row[0], &row[1], &row[2] == "true");
            let got = match kind {
                "upn" => upn_valid(value),
                "uln" => uln_valid(value),
                "nhs_number" => nhs_valid(value),
                "ni_number" => nino_valid(value),
                other => panic!("unknown kind {other}"),
            };
            assert_eq!(got, valid, "{kind} {value:?} ({})", &row[3]);
            *counted.entry(kind.to_string()).or_insert(0) += 1;
        }
        assert_eq!(counted["upn"], 38);
        assert_eq!(counted["uln"], 25);
        assert_eq!(counted["nhs_number"], 26);
        assert_eq!(counted["ni_number"], 39);
    }

    #[test]
    fn non_ascii_is_rejected() {
        assert!(!upn_valid("B20143962322２"));
        assert!(!nhs_valid("９９９６１２０３８４"));
    }

    #[test]
    fn placeholders_are_recognised() {
        assert!(nhs_placeholder(b"0000000000"));
        assert!(!nhs_placeholder(b"9996120384"));
    }
}
