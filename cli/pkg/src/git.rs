//! Git sources through the `git` binary (as Go and cargo's `net.git-fetch-with-cli` do): a bare
//! mirror per repository in the cache, revisions resolved to commits there, and the tree of a
//! commit read with `git archive`.

use std::path::Path;
use std::process::{Command, Stdio};

use kdep_compiler::package_toml::GitRef;

use crate::cache::Cache;

fn git(dir: Option<&Path>) -> Command {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    // Never stop to ask for a password: a missing credential is an error.
    cmd.env("GIT_TERMINAL_PROMPT", "0").env("GIT_ASKPASS", "true").stdin(Stdio::null());
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("cannot run git to {what}: {e} (is git installed?)"))?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let err = err.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("; ");
        Err(format!("cannot {what}: {err}"))
    }
}

/// Brings the cache's mirror of `url` up to date (cloning it the first time); returns its folder.
pub fn update_mirror(cache: &Cache, url: &str) -> Result<std::path::PathBuf, String> {
    let dir = cache.git_dir(url);
    if dir.join("HEAD").is_file() {
        let mut cmd = git(Some(&dir));
        cmd.args(["fetch", "--quiet", "--prune", "--tags", "--force", "--", url, "+refs/heads/*:refs/heads/*"]);
        run(cmd, &format!("fetch `{url}`"))?;
        return Ok(dir);
    }
    let tmp = cache.temp_dir()?;
    let work = tmp.join("mirror.git");
    let mut cmd = git(None);
    cmd.args(["clone", "--quiet", "--mirror", "--"]).arg(url).arg(&work);
    let result = run(cmd, &format!("clone `{url}`")).and_then(|_| {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        match std::fs::rename(&work, &dir) {
            Ok(()) => Ok(()),
            Err(_) if dir.join("HEAD").is_file() => Ok(()),
            Err(e) => Err(format!("cannot move the mirror into `{}`: {e}", dir.display())),
        }
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| dir)
}

/// The commit a tag or revision names in a mirror, if it has it.
pub fn resolve(mirror: &Path, reference: &GitRef) -> Option<String> {
    let spec = match reference {
        GitRef::Tag(t) => format!("refs/tags/{t}^{{commit}}"),
        GitRef::Rev(r) => format!("{r}^{{commit}}"),
    };
    let mut cmd = git(Some(mirror));
    cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options", &spec]);
    let out = run(cmd, "resolve a revision").ok()?;
    let commit = String::from_utf8_lossy(&out).trim().to_owned();
    (commit.len() >= 40 && commit.bytes().all(|b| b.is_ascii_hexdigit())).then_some(commit)
}

/// The tree of `commit` as a tar archive; with `subdir`, the tree of that folder (its files at
/// the archive's root, as a package folder holds them).
pub fn archive(mirror: &Path, commit: &str, subdir: Option<&str>) -> Result<Vec<u8>, String> {
    let tree = match subdir {
        None => commit.to_owned(),
        Some(dir) => {
            let tree = format!("{commit}:{dir}");
            // (`<commit>:<path>^{tree}` would read `^{tree}` as part of the path.)
            let mut check = git(Some(mirror));
            check.args(["cat-file", "-t", &tree]);
            if run(check, "find a folder").map_or(true, |t| t.trim_ascii() != b"tree") {
                return Err(format!("the repository has no folder `{dir}` at commit {commit}"));
            }
            tree
        }
    };
    let mut cmd = git(Some(mirror));
    cmd.args(["archive", "--format=tar", &tree]);
    run(cmd, &format!("read commit {commit}"))
}
