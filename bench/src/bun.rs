//! Bun, the highest peer (uWebSockets inside): installed from the npm
//! registry once per target directory (`npm install --prefix <target>/bun
//! bun@VERSION`, then cached), and the two scripts it runs from
//! `bench/bun/`. When it cannot be installed the harness says why and
//! runs without it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pinned version of the npm package `bun`.
pub const VERSION: &str = "1.4.5";

/// Where Bun's servers are: `bench/bun/echo.js` and `bench/bun/fanout.js`.
pub fn script(fanout: bool) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("bun")
        .join(if fanout { "fanout.js" } else { "echo.js" })
}

/// The Bun binary of [`VERSION`] under `target/bun`, installed with `npm`
/// when it is not there yet; `Err` says why there is none.
pub fn install(target: &Path) -> Result<PathBuf, String> {
    let prefix = target.join("bun");
    if let Some(bun) = find(&prefix) {
        return Ok(bun);
    }
    eprintln!("== npm install --prefix {} bun@{VERSION}", prefix.display());
    std::fs::create_dir_all(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
    let status = Command::new("npm")
        .args(["install", "--prefix"])
        .arg(&prefix)
        .args(["--no-save", "--no-audit", "--no-fund"])
        .arg(format!("bun@{VERSION}"))
        .stdin(Stdio::null())
        .stdout(std::io::stderr()) // stdout is for the results
        .status()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !status.success() {
        return Err(format!("`npm install bun@{VERSION}` failed: {status}"));
    }
    find(&prefix).ok_or_else(|| {
        format!(
            "npm installed bun@{VERSION} but no binary under {} answers `--version` with {VERSION}",
            prefix.display()
        )
    })
}

/// The first binary under `prefix/node_modules` that says it is
/// [`VERSION`]: the platform package's (`@oven/bun-linux-x64/bin/bun`),
/// or where the package's postinstall script moves it (`bun/bin/bun.exe`).
fn find(prefix: &Path) -> Option<PathBuf> {
    let modules = prefix.join("node_modules");
    let platforms = std::fs::read_dir(modules.join("@oven"))
        .into_iter()
        .flatten();
    let mut candidates: Vec<PathBuf> = platforms
        .flatten()
        .map(|entry| entry.path().join("bin").join("bun"))
        .collect();
    candidates.sort();
    candidates.push(modules.join("bun").join("bin").join("bun.exe"));
    candidates.into_iter().find(|bin| {
        Command::new(bin)
            .arg("--version")
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == VERSION.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_exist_and_an_empty_prefix_has_no_bun() {
        assert!(script(false).is_file() && script(true).is_file());
        let empty = std::env::temp_dir().join(format!("cheese-bench-bun-{}", std::process::id()));
        assert_eq!(find(&empty), None);
    }
}
