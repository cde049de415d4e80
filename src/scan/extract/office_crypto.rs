//! Password trials against encrypted Office Open XML files ([MS-OFFCRYPTO]): is this candidate
//! the password of this `EncryptionInfo`? Agile encryption (2.3.4.10–2.3.4.13: the password
//! key encryptor's verifier, SHA-1/256/384/512, AES-128/192/256-CBC) and standard encryption
//! (2.3.4.5–2.3.4.9: SHA-1 and AES-ECB). Only the verifier is decrypted, never the package.
//!
//! The derivation hashes the password `spinCount` times, and the file chooses that number, so
//! a verifier asking for more than [`MAX_SPIN`] rounds is not tried (the caller then falls
//! back to the stated-password rule).
//!
//! The `office-crypto` crate was considered: it decrypts the whole package without checking
//! the password (a wrong one yields garbage, not an error), takes any spin count, and indexes
//! unchecked slices of the (hostile) streams.

use aes::cipher::{BlockModeDecrypt, KeyInit, KeyIvInit};
use base64::Engine;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Agile files use 100,000 rounds; allow ten times that, refuse beyond.
pub const MAX_SPIN: u32 = 1_000_000;
/// Standard encryption's fixed round count.
const STANDARD_SPIN: u32 = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn parse(s: &str) -> Option<Hash> {
        Some(match s.to_ascii_uppercase().replace('-', "").as_str() {
            "SHA1" => Hash::Sha1,
            "SHA256" => Hash::Sha256,
            "SHA384" => Hash::Sha384,
            "SHA512" => Hash::Sha512,
            _ => return None,
        })
    }

    fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        fn run<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
            let mut d = D::new();
            for p in parts {
                d.update(p);
            }
            d.finalize().to_vec()
        }
        match self {
            Hash::Sha1 => run::<Sha1>(parts),
            Hash::Sha256 => run::<Sha256>(parts),
            Hash::Sha384 => run::<Sha384>(parts),
            Hash::Sha512 => run::<Sha512>(parts),
        }
    }
}

/// What is needed to test a password, read from an `EncryptionInfo` stream.
#[derive(Debug, Clone)]
pub enum Verifier {
    Agile {
        hash: Hash,
        spin: u32,
        key_bytes: usize,
        salt: Vec<u8>,
        verifier_input: Vec<u8>,
        verifier_hash: Vec<u8>,
    },
    Standard {
        key_bytes: usize,
        salt: Vec<u8>,
        verifier: Vec<u8>,
        verifier_hash: Vec<u8>,
    },
}

impl Verifier {
    /// Reads the verifier of an `EncryptionInfo` stream; `None` for a form this cannot test
    /// (extensible encryption, a certificate-only key encryptor, an unknown algorithm, a spin
    /// count over [`MAX_SPIN`], or a damaged stream).
    pub fn parse(info: &[u8]) -> Option<Verifier> {
        match info.get(..4)? {
            [4, 0, 4, 0] => agile(info.get(8..)?),
            [2..=4, 0, 2, 0] => standard(info),
            _ => None,
        }
    }

    /// True when `password` is this file's password.
    pub fn opens(&self, password: &str) -> bool {
        let utf16: Vec<u8> = password.encode_utf16().flat_map(u16::to_le_bytes).collect();
        match self {
            Verifier::Agile {
                hash,
                spin,
                key_bytes,
                salt,
                verifier_input,
                verifier_hash,
            } => {
                let h = spun(*hash, salt, &utf16, *spin);
                let key = |block: &[u8]| {
                    let mut k = hash.digest(&[&h, block]);
                    k.resize(*key_bytes, 0x36);
                    k
                };
                const INPUT: [u8; 8] = [0xfe, 0xa7, 0xd2, 0x76, 0x3b, 0x4b, 0x9e, 0x79];
                const VALUE: [u8; 8] = [0xd7, 0xaa, 0x0f, 0x6d, 0x30, 0x61, 0x34, 0x4e];
                let mut iv = salt.clone();
                iv.resize(16, 0x36);
                let (Some(input), Some(value)) = (
                    aes_cbc(&key(&INPUT), &iv, verifier_input),
                    aes_cbc(&key(&VALUE), &iv, verifier_hash),
                ) else {
                    return false;
                };
                let input = &input[..salt.len().min(input.len())];
                let expected = hash.digest(&[input]);
                value.len() >= expected.len() && value[..expected.len()] == expected[..]
            }
            Verifier::Standard {
                key_bytes,
                salt,
                verifier,
                verifier_hash,
            } => {
                let h = spun(Hash::Sha1, salt, &utf16, STANDARD_SPIN);
                let h = Hash::Sha1.digest(&[&h, &0u32.to_le_bytes()]);
                // 2.3.4.7: X1 = H(0x36-block ^ h), X2 = H(0x5c-block ^ h), key = (X1‖X2)[..n].
                let pad = |byte: u8| {
                    let mut b = [byte; 64];
                    for (x, y) in b.iter_mut().zip(&h) {
                        *x ^= y;
                    }
                    Hash::Sha1.digest(&[&b])
                };
                let mut key = pad(0x36);
                key.extend(pad(0x5c));
                key.truncate(*key_bytes);
                let (Some(v), Some(vh)) = (aes_ecb(&key, verifier), aes_ecb(&key, verifier_hash))
                else {
                    return false;
                };
                let expected = Hash::Sha1.digest(&[&v[..16.min(v.len())]]);
                vh.len() >= 20 && vh[..20] == expected[..]
            }
        }
    }
}

/// H0 = H(salt ‖ password), Hn = H(n ‖ Hn-1) for n in 0..spin.
fn spun(hash: Hash, salt: &[u8], utf16: &[u8], spin: u32) -> Vec<u8> {
    let mut h = hash.digest(&[salt, utf16]);
    for i in 0..spin {
        h = hash.digest(&[&i.to_le_bytes(), &h]);
    }
    h
}

/// Runs a block-mode decryptor over whole 16-byte blocks.
macro_rules! blocks {
    ($dec:expr, $data:expr) => {{
        let mut dec = $dec.ok()?;
        let mut out = $data.to_vec();
        for block in out.as_chunks_mut::<16>().0 {
            dec.decrypt_block(block.into());
        }
        out
    }};
}

fn aes_cbc(key: &[u8], iv: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    Some(match key.len() {
        16 => blocks!(
            cbc::Decryptor::<aes::Aes128>::new_from_slices(key, iv),
            data
        ),
        24 => blocks!(
            cbc::Decryptor::<aes::Aes192>::new_from_slices(key, iv),
            data
        ),
        32 => blocks!(
            cbc::Decryptor::<aes::Aes256>::new_from_slices(key, iv),
            data
        ),
        _ => return None,
    })
}

fn aes_ecb(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    Some(match key.len() {
        16 => blocks!(ecb::Decryptor::<aes::Aes128>::new_from_slice(key), data),
        24 => blocks!(ecb::Decryptor::<aes::Aes192>::new_from_slice(key), data),
        32 => blocks!(ecb::Decryptor::<aes::Aes256>::new_from_slice(key), data),
        _ => return None,
    })
}

/// The `<keyEncryptor uri=".../password">`'s `p:encryptedKey` element of an agile
/// `EncryptionInfo` XML.
fn agile(xml: &[u8]) -> Option<Verifier> {
    let xml = std::str::from_utf8(xml).ok()?;
    let mut r = quick_xml::Reader::from_str(xml);
    let b64 = |v: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(v.trim())
            .ok()
    };
    loop {
        match r.read_event().ok()? {
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.local_name().as_ref() == "encryptedKey" =>
            {
                let mut get = std::collections::HashMap::new();
                for a in e.attributes().flatten() {
                    // Numbers, names and base64: nothing to unescape.
                    get.insert(a.key.local_name().as_ref().to_string(), a.value.to_string());
                }
                let spin: u32 = get.get("spinCount")?.parse().ok()?;
                let key_bits: usize = get.get("keyBits")?.parse().ok()?;
                if spin > MAX_SPIN
                    || !matches!(key_bits, 128 | 192 | 256)
                    || !get.get("cipherAlgorithm")?.eq_ignore_ascii_case("AES")
                    || !get
                        .get("cipherChaining")?
                        .eq_ignore_ascii_case("ChainingModeCBC")
                {
                    return None;
                }
                let salt = b64(get.get("saltValue")?)?;
                if salt.is_empty() || salt.len() > 64 {
                    return None;
                }
                return Some(Verifier::Agile {
                    hash: Hash::parse(get.get("hashAlgorithm")?)?,
                    spin,
                    key_bytes: key_bits / 8,
                    salt,
                    verifier_input: b64(get.get("encryptedVerifierHashInput")?)?,
                    verifier_hash: b64(get.get("encryptedVerifierHashValue")?)?,
                });
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// A standard `EncryptionInfo`: header then verifier (2.3.4.5).
fn standard(info: &[u8]) -> Option<Verifier> {
    let u32_at = |i: usize| Some(u32::from_le_bytes(info.get(i..i + 4)?.try_into().ok()?));
    let header_size = u32_at(8)? as usize;
    let header = 12;
    let alg_id = u32_at(header + 8)?;
    let key_bits = u32_at(header + 16)? as usize;
    // 0x660E/0x660F/0x6610: AES-128/192/256 (RC4 standard encryption is not tried).
    if !matches!(alg_id, 0x660E..=0x6610) || !matches!(key_bits, 128 | 192 | 256) {
        return None;
    }
    let v = header.checked_add(header_size)?;
    let salt_size = u32_at(v)? as usize;
    if salt_size != 16 {
        return None;
    }
    let salt = info.get(v + 4..v + 20)?.to_vec();
    let verifier = info.get(v + 20..v + 36)?.to_vec();
    let verifier_hash = info.get(v + 40..v + 72)?.to_vec();
    Some(Verifier::Standard {
        key_bytes: key_bits / 8,
        salt,
        verifier,
        verifier_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture_info() -> Vec<u8> {
        let bytes = std::fs::read("tests/fixtures/class-list-encrypted.xlsx").unwrap();
        let mut cf = ::cfb::CompoundFile::open(std::io::Cursor::new(bytes)).unwrap();
        let mut s = cf.open_stream("/EncryptionInfo").unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut out).unwrap();
        out
    }

    #[test]
    fn agile_verifier_accepts_only_the_password() {
        let v = Verifier::parse(&fixture_info()).expect("agile verifier");
        assert!(matches!(v, Verifier::Agile { .. }));
        assert!(v.opens("Sunflower22"));
        assert!(!v.opens("sunflower22"));
        assert!(!v.opens("Sunflower2"));
        assert!(!v.opens(""));
    }

    /// Standard encryption: the test vector of msoffcrypto-tool's ECMA376Standard docs
    /// (password "Password1234_", AES-128), laid out as an `EncryptionInfo` stream.
    #[test]
    fn standard_verifier_accepts_only_the_password() {
        let mut info = vec![3, 0, 2, 0];
        info.extend(0x24u32.to_le_bytes());
        info.extend(34u32.to_le_bytes()); // header size
        for v in [0x24u32, 0, 0x660E, 0x8004, 128, 0x18, 0, 0] {
            info.extend(v.to_le_bytes());
        }
        info.extend([0, 0]); // CSP name: empty UTF-16
        info.extend(16u32.to_le_bytes());
        info.extend(b"\xe8\x82fI\x0c[\xd1\xee\xbd+C\x94\xe3\xf80\xef");
        info.extend(b"Qos.\x96o\xac\x17\xb1\xc5\xd7\xd8\xcc6\xc9(");
        info.extend(20u32.to_le_bytes());
        info.extend(
            b"+ah\xda\xbe)\x11\xad+\xd3|\x17Ft\\\x14\xd3\xcf\x1b\xb1@\xa4\x8fNo=#\x88\x08r\xb1j",
        );
        let v = Verifier::parse(&info).expect("standard verifier");
        assert!(matches!(v, Verifier::Standard { .. }));
        assert!(v.opens("Password1234_"));
        assert!(!v.opens("Password1234"));
    }

    #[test]
    fn a_huge_spin_count_is_not_tried() {
        let info = fixture_info();
        let text = String::from_utf8_lossy(&info[8..])
            .replace("spinCount=\"100000\"", "spinCount=\"4000000000\"");
        let mut hostile = info[..8].to_vec();
        hostile.extend(text.as_bytes());
        assert!(Verifier::parse(&hostile).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn mutated_encryption_info_never_panics(flips in proptest::collection::vec((0usize..4096, any::<u8>()), 0..16), cut in 0usize..4096) {
            let mut info = fixture_info();
            for (i, b) in flips {
                if !info.is_empty() {
                    let n = info.len();
                    info[i % n] = b;
                }
            }
            info.truncate(cut.max(1));
            if let Some(v) = Verifier::parse(&info) {
                // Only cheap verifiers are tried in the test (a mutated spinCount may be large).
                if let Verifier::Agile { spin, .. } = v && spin > 200_000 {
                    return Ok(());
                }
                // A damaged verifier opens nothing (a chance hit is 2^-160).
                prop_assert!(!v.opens("x"));
            }
        }
    }
}
