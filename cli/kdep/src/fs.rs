//! The real file system behind the compiler's `Vfs`, and atomic writes for everything kdep writes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kdep_compiler::{DirEntry, PathKind, Vfs};

/// Reads from the operating system's file system.
pub struct OsFs;

impl Vfs for OsFs {
    fn read(&self, path: &Path, limit: u64) -> io::Result<Vec<u8>> {
        // One open, one metadata call on the open handle and one read of exactly the size it
        // reports: loading is a large share of a build of many small files. Opening without
        // blocking lets a FIFO named `*.kdep` be opened and then refused (it is not a regular
        // file) instead of waiting for a writer; reads of regular files ignore the flag.
        let file = open_nonblocking(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if meta.len() > limit {
            return Err(io::Error::from(io::ErrorKind::FileTooLarge));
        }
        let len = usize::try_from(meta.len()).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
        let mut buf = Vec::with_capacity(len);
        // Reading at most the reported size keeps the limit even if the file grows meanwhile
        // (what is read is then a prefix, as with any file changed while it is read); the
        // buffer is filled by one read and `take` ends there without asking the kernel again.
        file.take(meta.len()).read_to_end(&mut buf)?;
        Ok(buf)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            let is_dir = entry.file_type()?.is_dir();
            out.push(DirEntry { path: entry.path(), is_dir });
        }
        Ok(out)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn is_file(&self, path: &Path) -> bool {
        path.is_file()
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        let file_type = std::fs::metadata(path)?.file_type();
        Ok(if file_type.is_file() {
            PathKind::File
        } else if file_type.is_dir() {
            PathKind::Dir
        } else {
            PathKind::Other
        })
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Writes `contents` to `path` atomically: a temporary file in the same folder is written,
/// flushed and renamed over the target, so readers see the old or the new file, never a part.
///
/// Replacing a file must not change anything but its contents: a symlink is written through
/// (the link stays, its target changes), the existing permissions are kept (a `0600` file must
/// not become world-readable), and a read-only file is refused. The rename would bypass that
/// last check, which root ignores anyway.
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let resolved;
    let mut path = path;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = std::fs::canonicalize(path)?;
        path = &resolved;
    }
    let existing = match std::fs::metadata(path) {
        Ok(meta) => Some(meta.permissions()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if existing.as_ref().is_some_and(std::fs::Permissions::readonly) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "the file is read-only"));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.kdep-tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents)?;
        if let Some(permissions) = existing {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
