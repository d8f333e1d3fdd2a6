//! The one-writer lock (SPEC §4.10): an OS file lock on a file in the state dir, one per
//! (shop, spreadsheet, tab). `File::try_lock` is `flock(LOCK_EX | LOCK_NB)` on Unix, so the
//! lock belongs to the open file description: the kernel drops it when the process exits,
//! kill -9 included, and two opens of the file conflict even inside one process.
//! The holder writes who it is into the file, so a refused writer can name it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{Scope, StateError, create_state_dir};

/// How much of a holder description a refused writer reads back.
const MAX_HOLDER_LEN: u64 = 1024;

/// Held while a writer runs; dropping it (or the process dying) releases the lock.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the writer lock for `scope` without waiting. `holder` describes this process
    /// for the others (e.g. "`sheetsync watch`, started 2026-11-28T08:15:00Z"); the pid is
    /// prepended here. Creates the state dir (0700) and the lock file (0600) if needed.
    pub fn acquire(dir: &Path, scope: &Scope, holder: &str) -> Result<WriterLock, StateError> {
        create_state_dir(dir)?;
        let path = dir.join(format!("writer-{}.lock", scope.hash_hex()));
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        // No truncate here: the file may hold the description of a live holder.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                return Err(StateError::Locked {
                    holder,
                    lock_path: path,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let description = format!("pid {}: {}\n", std::process::id(), holder.trim());
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(description.as_bytes()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(WriterLock { file, path })
    }

    /// The lock file (for diagnostics).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Still holding the lock here, so nobody reads a half-cleared file. Best effort:
        // a stale description is only ever read while someone holds the lock again.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// The description the holder wrote, or a placeholder when it has not written it yet
/// (it takes the lock first, then writes).
fn read_holder(file: &mut File) -> String {
    let mut buf = Vec::new();
    let read = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(MAX_HOLDER_LEN).read_to_end(&mut buf));
    let text = String::from_utf8_lossy(&buf).trim().to_owned();
    if read.is_err() || text.is_empty() {
        "a process that has not said who it is yet".to_owned()
    } else {
        text
    }
}
