//! Package archives: a deterministic `tar.gz` of a package's `kdep.toml` and modules (the OCI
//! layer `kdep mod publish` pushes), and the checked reading of archives and git trees.
//!
//! Determinism: entries in path order, every header the same but for path and size (mode
//! 0644, owner 0, time 0), gzip without a name or time. Same sources, same bytes, same digest.
//! Reading refuses anything but plain files at plain relative paths, and bounds sizes, so a
//! hostile archive cannot write outside the cache or fill the disk.

use std::collections::BTreeMap;
use std::io::Read;

use kdep_compiler::loader::{module_path, package_checksum, package_files, PACKAGE_TOML};
use kdep_compiler::package_toml::{parse_package_toml, PackageConfig};

/// Largest archive (unpacked) kdep reads: packages are hand-written text.
pub const MAX_UNPACKED_BYTES: u64 = 64 * 1024 * 1024;

/// The files of one package as the compiler reads them, with their checksum.
#[derive(Clone, Debug)]
pub struct PackageFiles {
    /// `/`-separated path relative to the package folder → text; `kdep.toml` and modules only.
    pub files: BTreeMap<String, String>,
    pub config: PackageConfig,
    /// [`package_checksum`] of the files: what `kdep.lock` records.
    pub checksum: String,
}

impl PackageFiles {
    /// Selects the package's files from an archive's or tree's entries and checks them: a
    /// `kdep.toml` that parses, modules in UTF-8. Errors are messages for the user.
    pub fn from_entries(entries: Vec<(String, Vec<u8>)>) -> Result<PackageFiles, String> {
        let keep: Vec<String> =
            package_files(entries.iter().map(|(p, _)| p.as_str())).into_iter().map(str::to_owned).collect();
        let mut files = BTreeMap::new();
        for (path, bytes) in entries {
            if !keep.contains(&path) {
                continue;
            }
            let text = String::from_utf8(bytes).map_err(|_| format!("`{path}` is not valid UTF-8"))?;
            files.insert(path, text);
        }
        let Some(toml) = files.get(PACKAGE_TOML) else {
            return Err(format!("there is no `{PACKAGE_TOML}` at the top"));
        };
        let config = parse_package_toml(toml).map_err(|e| format!("its `{PACKAGE_TOML}` is invalid: {}", e.message))?;
        let checksum = checksum_of(&files);
        Ok(PackageFiles { files, config, checksum })
    }
}

/// The loader's checksum of these files: modules by module path, the first file of a module
/// path in path order winning, as in the loader.
fn checksum_of(files: &BTreeMap<String, String>) -> String {
    let mut modules: BTreeMap<String, &str> = BTreeMap::new();
    for (path, text) in files {
        if path != PACKAGE_TOML {
            modules.entry(module_path(std::path::Path::new(path))).or_insert(text);
        }
    }
    let toml = files.get(PACKAGE_TOML).map_or("", String::as_str);
    package_checksum(toml, modules.iter().map(|(m, t)| (m.as_str(), *t)))
}

/// Packs files into a deterministic `tar.gz`.
pub fn pack(files: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    let gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, text) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, text.as_bytes()).map_err(|e| format!("cannot pack `{path}`: {e}"))?;
    }
    let gz = tar.into_inner().map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// Reads a `tar.gz` (or, with `gzip == false`, a plain tar such as `git archive` writes):
/// regular files only; folders are implied; links, devices and paths that are absolute or
/// contain `..` are refused.
pub fn unpack(bytes: &[u8], gzip: bool) -> Result<Vec<(String, Vec<u8>)>, String> {
    let reader: Box<dyn Read + '_> = if gzip { Box::new(flate2::read::GzDecoder::new(bytes)) } else { Box::new(bytes) };
    let mut archive = tar::Archive::new(reader.take(MAX_UNPACKED_BYTES + 1));
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt archive: {e}"))?;
        let kind = entry.header().entry_type();
        let path = entry.path().map_err(|e| format!("corrupt archive: {e}"))?.to_string_lossy().replace('\\', "/");
        let path = path.trim_start_matches("./").to_owned();
        match kind {
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            // A link could point anywhere; kdep packages never need one.
            _ => {
                if kdep_compiler::loader::package_files([path.as_str()]).is_empty() {
                    continue;
                }
                return Err(format!("`{path}` is a link or special file; packages hold plain files only"));
            }
        }
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|s| s == ".." || s.is_empty()) {
            return Err(format!("the archive has an unsafe path `{path}`"));
        }
        total = total.saturating_add(entry.size());
        if total > MAX_UNPACKED_BYTES {
            return Err(format!("the archive unpacks to more than {} MiB", MAX_UNPACKED_BYTES / (1024 * 1024)));
        }
        let mut data = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(1 << 20));
        entry.read_to_end(&mut data).map_err(|e| format!("corrupt archive: {e}"))?;
        out.push((path, data));
    }
    Ok(out)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a failing test should stop at once")]
mod tests {
    use super::*;

    fn files() -> BTreeMap<String, String> {
        [
            ("kdep.toml", "[package]\nname = \"p\"\nversion = \"1.0.0\"\n"),
            ("web.kdep", "let x = 1\n"),
            ("nested/deep.kdep", "let y = 2\n"),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_owned(), t.to_owned()))
        .collect()
    }

    #[test]
    fn packing_is_deterministic_and_round_trips() {
        let a = pack(&files()).unwrap();
        let b = pack(&files()).unwrap();
        assert_eq!(a, b);
        let entries = unpack(&a, true).unwrap();
        let back = PackageFiles::from_entries(entries).unwrap();
        assert_eq!(back.files, files());
        assert_eq!(back.config.name, "p");
        let mut changed = files();
        changed.insert("web.kdep".into(), "let x = 2\n".into());
        assert_ne!(
            PackageFiles::from_entries(unpack(&pack(&changed).unwrap(), true).unwrap()).unwrap().checksum,
            back.checksum
        );
    }

    #[test]
    fn hostile_archives_are_refused() {
        assert!(unpack(b"not gzip at all", true).unwrap_err().contains("archive"));
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // `append_data` refuses `..`, so the name is written into the header directly.
        header.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"../evil.kdep\0");
        header.set_cksum();
        tar.append(&header, &b"x"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        assert_eq!(unpack(&bytes, false).unwrap_err(), "the archive has an unsafe path `../evil.kdep`");
        let no_toml = vec![("web.kdep".to_owned(), b"let x = 1\n".to_vec())];
        assert_eq!(PackageFiles::from_entries(no_toml).unwrap_err(), "there is no `kdep.toml` at the top");
    }
}
