//! The real file system behind the compiler's `Vfs`, and atomic writes for everything kdep writes.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use kdep_compiler::{DirEntry, PathKind, Vfs};

/// Reads from the operating system's file system.
pub struct OsFs;

/// Fewest files worth a reading thread of their own.
const MIN_FILES_PER_READER: usize = 64;

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

    /// A package's module files are read on up to [`crate::cmd::build_threads`] threads, in
    /// contiguous parts (files are small and alike): opening, reading and closing thousands of
    /// files is system time that no other work of the load overlaps, spent before any
    /// parallel phase starts. Results keep the order of `paths`.
    fn read_all(&self, paths: &[&Path], limit: u64) -> Vec<io::Result<Vec<u8>>> {
        let threads = crate::cmd::build_threads().min(paths.len() / MIN_FILES_PER_READER).max(1);
        let part = paths.len().div_ceil(threads).max(1);
        let mut parts = paths.chunks(part);
        let first = parts.next().unwrap_or_default();
        let read_part = |part: &[&Path]| part.iter().map(|path| self.read(path, limit)).collect::<Vec<_>>();
        std::thread::scope(|scope| {
            let spawned: Vec<_> = parts
                .map(|part| {
                    (
                        part,
                        std::thread::Builder::new()
                            .name("kdep-read".into())
                            .spawn_scoped(scope, move || read_part(part)),
                    )
                })
                .collect();
            let mut out = read_part(first);
            for (part, handle) in spawned {
                match handle {
                    Ok(handle) => match handle.join() {
                        Ok(results) => out.extend(results),
                        Err(panic) => std::panic::resume_unwind(panic),
                    },
                    // No thread to be had: this part is read here.
                    Err(_) => out.extend(read_part(part)),
                }
            }
            out
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Enough files for several reading threads, with a missing one and a folder among them:
    /// every result is the one of its own path, in the order given, errors included.
    #[test]
    fn read_all_keeps_each_result_with_its_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = Vec::new();
        for i in 0..300 {
            let path = dir.path().join(format!("f{i}.kdep"));
            match i {
                17 => {}
                230 => std::fs::create_dir(&path).expect("folder"),
                _ => std::fs::write(&path, format!("let x{i} = {i}\n")).expect("write"),
            }
            paths.push(path);
        }
        let refs: Vec<&Path> = paths.iter().map(PathBuf::as_path).collect();
        let results = OsFs.read_all(&refs, 1024);
        assert_eq!(results.len(), 300);
        for (i, result) in results.into_iter().enumerate() {
            match (i, result) {
                (17, Err(e)) => assert_eq!(e.kind(), io::ErrorKind::NotFound),
                (230, Err(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidInput),
                (i, Ok(bytes)) => assert_eq!(bytes, format!("let x{i} = {i}\n").into_bytes(), "file {i}"),
                (i, Err(e)) => panic!("file {i}: {e}"),
            }
        }
    }
}
