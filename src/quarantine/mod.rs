//! The quarantine: where held messages wait for the data lead. A `QuarantineStore` trait;
//! the first backend is a file store under `data_dir/quarantine` (the message and its report,
//! each written to a temporary file, fsynced, renamed, and the directory fsynced) so a copy is
//! durable before the relay says 250. The SQLite/PostgreSQL stores with encryption at rest
//! come with the quarantine issue.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What is kept beside a held message.
#[derive(Debug, Clone, Serialize)]
pub struct HeldItem {
    pub reference: String,
    pub received: String,
    pub sender: String,
    pub held_recipients: Vec<String>,
    pub findings: Vec<crate::scan::Finding>,
    pub reasons: Vec<String>,
    pub status: &'static str,
}

pub trait QuarantineStore: Send + Sync {
    /// Stores a held message durably; returns only once it is on disk.
    fn hold(&self, item: &HeldItem, message: &[u8]) -> std::io::Result<()>;
    /// References of the held items.
    fn list(&self) -> std::io::Result<Vec<String>>;
}

pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    pub fn open(data_dir: &Path) -> std::io::Result<FileStore> {
        let dir = data_dir.join("quarantine");
        std::fs::create_dir_all(&dir)?;
        Ok(FileStore { dir })
    }
}

fn write_durably(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))
}

impl QuarantineStore for FileStore {
    fn hold(&self, item: &HeldItem, message: &[u8]) -> std::io::Result<()> {
        if !item
            .reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(std::io::Error::other("bad reference"));
        }
        write_durably(&self.dir, &format!("{}.eml", item.reference), message)?;
        let json = serde_json::to_vec_pretty(item).map_err(std::io::Error::other)?;
        write_durably(&self.dir, &format!("{}.json", item.reference), &json)?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    fn list(&self) -> std::io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(r) = name.strip_suffix(".json") {
                out.push(r.to_string());
            }
        }
        out.sort();
        Ok(out)
    }
}
