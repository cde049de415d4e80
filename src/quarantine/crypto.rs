//! Encryption at rest for held messages: a keyring file of XChaCha20-Poly1305 keys
//! (`quarantine.key` in the data directory, created with mode 0600 on first start, refused
//! if group or others can read it). Each blob is `nonce (24 bytes) ‖ ciphertext`, sealed
//! with the item's reference and field as associated data, so a blob cannot be moved to
//! another item unnoticed. The last key in the file seals; every key in it opens, which
//! is what makes rotation safe (see `docs/quarantine.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("{path}: {message}")]
    KeyFile { path: PathBuf, message: String },
    #[error("blob sealed with key {0:?}, which is not in the keyring")]
    UnknownKey(String),
    #[error("blob does not open: wrong key or tampered data")]
    Open,
    #[error("random source: {0}")]
    Random(String),
}

pub struct Keyring {
    path: PathBuf,
    keys: Vec<(String, XChaCha20Poly1305)>,
    raw: Vec<(String, [u8; 32])>,
}

fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(b)
}

fn new_key_id() -> Result<String, CryptoError> {
    let b: [u8; 6] = random()?;
    Ok(format!(
        "k{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

impl Keyring {
    /// Opens the keyring at `path`, creating it (one fresh key, mode 0600; its directory
    /// too) when absent.
    pub fn open_or_create(path: &Path) -> Result<Keyring, CryptoError> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| CryptoError::KeyFile {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            }
            let id = new_key_id()?;
            let key: [u8; 32] = random()?;
            write_keyfile(path, &[(id, key)], true)?;
        }
        Keyring::open(path)
    }

    pub fn open(path: &Path) -> Result<Keyring, CryptoError> {
        let err = |message: String| CryptoError::KeyFile {
            path: path.to_path_buf(),
            message,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(|e| err(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "key file is readable by others (mode {:o}); run chmod 600 on it",
                    mode & 0o777
                )));
            }
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut raw = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, k) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| err(format!("line {}: expected 'KEY-ID BASE64-KEY'", n + 1)))?;
            let bytes = B64
                .decode(k.trim())
                .map_err(|e| err(format!("line {}: {e}", n + 1)))?;
            let key: [u8; 32] = bytes
                .try_into()
                .map_err(|_| err(format!("line {}: a key is 32 bytes", n + 1)))?;
            raw.push((id.to_string(), key));
        }
        if raw.is_empty() {
            return Err(err("no key in the file".into()));
        }
        let keys = raw
            .iter()
            .map(|(id, k)| (id.clone(), XChaCha20Poly1305::new(k.into())))
            .collect();
        Ok(Keyring {
            path: path.to_path_buf(),
            keys,
            raw,
        })
    }

    /// The key file this keyring was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every key's id, the sealing one last.
    pub fn ids(&self) -> Vec<String> {
        self.raw.iter().map(|(id, _)| id.clone()).collect()
    }

    /// The id of the key that seals new blobs.
    pub fn current_id(&self) -> &str {
        &self.keys.last().expect("non-empty keyring").0
    }

    pub fn seal(&self, aad: &str, plain: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (_, cipher) = self.keys.last().expect("non-empty keyring");
        let nonce: [u8; 24] = random()?;
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(24 + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub fn open_blob(&self, key_id: &str, aad: &str, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(id, _)| id == key_id)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        if blob.len() < 24 {
            return Err(CryptoError::Open);
        }
        let nonce: [u8; 24] = blob[..24].try_into().map_err(|_| CryptoError::Open)?;
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &blob[24..],
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Open)
    }

    /// A message authentication code of `data` under the current key (HMAC-SHA256, first
    /// 128 bits, hex): for links that must not be guessable, such as "false alarm".
    pub fn mac(&self, data: &[u8]) -> String {
        use hmac::{KeyInit as _, Mac};
        let (_, key) = self.raw.last().expect("non-empty keyring");
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
        m.update(data);
        m.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Rotation, step 1: adds a fresh key that seals from now on (old keys still open).
    pub fn add_key(&mut self) -> Result<String, CryptoError> {
        let id = new_key_id()?;
        let key: [u8; 32] = random()?;
        self.raw.push((id.clone(), key));
        self.keys
            .push((id.clone(), XChaCha20Poly1305::new((&key).into())));
        write_keyfile(&self.path, &self.raw, false)?;
        Ok(id)
    }

    /// Rotation, last step: drops every key but the current one (after all blobs were
    /// resealed with it).
    pub fn retire_old_keys(&mut self) -> Result<(), CryptoError> {
        let n = self.raw.len();
        self.raw.drain(..n - 1);
        self.keys.drain(..n - 1);
        write_keyfile(&self.path, &self.raw, false)
    }
}

fn write_keyfile(path: &Path, keys: &[(String, [u8; 32])], new: bool) -> Result<(), CryptoError> {
    let err = |e: std::io::Error| CryptoError::KeyFile {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut text = String::from(
        "# Hallpass quarantine keys: KEY-ID BASE64-KEY. The last key seals; all open.\n\
         # Losing this file makes every held message unreadable: back it up apart from the data.\n",
    );
    for (id, k) in keys {
        text.push_str(&format!("{id} {}\n", B64.encode(k)));
    }
    let tmp = path.with_extension("key.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let target = if new { path } else { &tmp };
    if new {
        opts.create_new(true);
    }
    let mut f = opts.open(target).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    if !new {
        std::fs::rename(&tmp, path).map_err(err)?;
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quarantine.key");
        let mut ring = Keyring::open_or_create(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let old = ring.current_id().to_string();
        let blob = ring.seal("HP-1/meta", b"Olivia Smith").unwrap();
        assert!(!blob.windows(6).any(|w| w == b"Olivia"));
        assert_eq!(
            ring.open_blob(&old, "HP-1/meta", &blob).unwrap(),
            b"Olivia Smith"
        );
        // Another item's aad does not open it.
        assert!(ring.open_blob(&old, "HP-2/meta", &blob).is_err());
        let mut tampered = blob.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ring.open_blob(&old, "HP-1/meta", &tampered).is_err());
        let new = ring.add_key().unwrap();
        assert_ne!(new, old);
        let reopened = Keyring::open(&path).unwrap();
        assert_eq!(reopened.current_id(), new);
        assert!(reopened.open_blob(&old, "HP-1/meta", &blob).is_ok());
        ring.retire_old_keys().unwrap();
        let reopened = Keyring::open(&path).unwrap();
        assert!(matches!(
            reopened.open_blob(&old, "HP-1/meta", &blob),
            Err(CryptoError::UnknownKey(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_key_file_others_can_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("quarantine.key");
        Keyring::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Keyring::open(&path).err().unwrap().to_string();
        assert!(e.contains("chmod 600"), "{e}");
    }
}
