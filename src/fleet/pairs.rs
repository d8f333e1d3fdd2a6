//! Pair files (SPEC §9): a directory of configs, one per (store, spreadsheet, tab), each
//! with a `[fleet]` section saying how the pair runs.
//!
//! A pair file is read with the ordinary config parser, so it stays a valid `--config`
//! for every other command; on top of that it may not set `sync.state_dir` (a fleet keeps
//! its state in the shared database), must have `[fleet]`, and must write its store,
//! spreadsheet and tab out, since they are the pair's identity on every worker. The text
//! is kept as written, `${VAR}` unresolved: secrets stay in each worker's environment and
//! are resolved there ([`Pair::config`]). Loading a directory reports every problem of
//! every file at once, and two files naming the same (store, spreadsheet, tab) as one
//! error naming both. Storing pairs, leases and running them is not this module's job.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::fleet::PairMode;
use crate::config::{Config, ConfigError};
use crate::state::Scope;

/// One pair file, checked.
#[derive(Debug, Clone)]
pub struct Pair {
    /// The file's name without `.toml`: how `fleet` commands name the pair.
    pub name: String,
    pub path: PathBuf,
    /// The file's text as written, `${VAR}` unresolved: what the shared state stores.
    pub text: String,
    /// The pair's identity: store, spreadsheet (its id, even when the file gives a URL)
    /// and tab, exactly as the single-machine writer lock keys them.
    pub scope: Scope,
    pub mode: PairMode,
}

/// What can be wrong with a directory of pair files; each names the file(s) to fix.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("cannot read pair directory {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Refused so that a mistyped directory can never look like "the fleet has no pairs"
    /// to a command that prunes.
    #[error("no pair files (*.toml) in {dir}")]
    Empty { dir: PathBuf },
    #[error(
        "pair file {path}: {name:?} is not a pair name: the file's name (without .toml) is the \
         pair's name in `fleet` commands; use letters, digits, `-`, `_` and `.`"
    )]
    Name { path: PathBuf, name: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(
        "pair files {first} and {second} name the same store, spreadsheet and tab \
         (shop {shop}, spreadsheet {spreadsheet_id}, tab {tab:?}): a pair has exactly one file"
    )]
    Duplicate {
        first: PathBuf,
        second: PathBuf,
        shop: String,
        spreadsheet_id: String,
        tab: String,
    },
}

/// Every problem found in a directory, one per line.
#[derive(Debug, thiserror::Error)]
#[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct PairsError {
    pub problems: Vec<PairError>,
}

impl From<PairError> for PairsError {
    fn from(e: PairError) -> Self {
        PairsError { problems: vec![e] }
    }
}

/// Reads every `*.toml` file of `dir` (not its subdirectories; hidden entries such as a
/// Kubernetes ConfigMap's `..data` are skipped, symlinks followed), sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Pair>, PairsError> {
    let read_dir = |source| PairError::ReadDir {
        dir: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_dir)? {
        let path = entry.map_err(read_dir)?.path();
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if file_name.starts_with('.') || !file_name.ends_with(".toml") {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap mounts each key as a link into `..data`.
        if std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(PairError::Empty {
            dir: dir.to_owned(),
        }
        .into());
    }

    let mut pairs = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(source) => {
                problems.push(ConfigError::Read { path, source }.into());
                continue;
            }
        };
        match Pair::parse(&path, text) {
            Ok(pair) => pairs.push(pair),
            Err(e) => problems.push(e),
        }
    }
    problems.extend(duplicates(&pairs));
    if problems.is_empty() {
        Ok(pairs)
    } else {
        Err(PairsError { problems })
    }
}

/// Two files for one (store, spreadsheet, tab), each reported once against the first
/// file that named it. `pairs` is in path order, so "first" is stable.
fn duplicates(pairs: &[Pair]) -> Vec<PairError> {
    let mut first: HashMap<&Scope, &Path> = HashMap::new();
    let mut found = Vec::new();
    for pair in pairs {
        match first.get(&pair.scope) {
            Some(earlier) => found.push(PairError::Duplicate {
                first: earlier.to_path_buf(),
                second: pair.path.clone(),
                shop: pair.scope.shop.clone(),
                spreadsheet_id: pair.scope.spreadsheet_id.clone(),
                tab: pair.scope.tab.clone(),
            }),
            None => {
                first.insert(&pair.scope, &pair.path);
            }
        }
    }
    found
}

impl Pair {
    /// Checks one pair file's text; `path` gives the pair's name and labels errors.
    pub fn parse(path: &Path, text: String) -> Result<Pair, PairError> {
        let name = pair_name(path)?;
        let invalid = |message: String| {
            PairError::Config(ConfigError::Invalid {
                path: path.to_owned(),
                message,
            })
        };
        // The pair-file rules first: a variable in the identity would otherwise surface
        // as a confusing check of its placeholder. Text that is not even TOML of the
        // right types is left to the config parser, which names the line.
        let probe: Probe = toml::from_str(&text).unwrap_or_default();
        let mut problems = Vec::new();
        if let Some(state_dir) = probe.sync.as_ref().and_then(|s| s.state_dir.as_ref()) {
            problems.push(format!(
                "sync.state_dir at line {} is not allowed in a pair file: a fleet keeps \
                 its state in the shared database (SHEETSYNC_STATE_URL); remove the key",
                line(&text, state_dir.span().start)
            ));
        }
        let identity = [
            (
                "sheet.spreadsheet_id",
                probe.sheet.as_ref().and_then(|s| s.spreadsheet_id.as_ref()),
            ),
            (
                "sheet.tab",
                probe.sheet.as_ref().and_then(|s| s.tab.as_ref()),
            ),
            (
                "shopify.shop",
                probe.shopify.as_ref().and_then(|s| s.shop.as_ref()),
            ),
        ];
        for (key, value) in identity {
            if let Some(value) = value
                && names_a_variable(value.get_ref())
            {
                problems.push(format!(
                    "{key} at line {} uses a variable: a pair's store, spreadsheet and tab \
                     are its identity on every worker, so write them out",
                    line(&text, value.span().start)
                ));
            }
        }
        if !problems.is_empty() {
            return Err(invalid(problems.join("; ")));
        }

        // Variables resolve to placeholders here, so a file is checked the same wherever
        // it is loaded, and no secret is needed to load it. Each worker checks the real
        // values when it resolves the file in its own environment.
        let config = Config::parse(&text, path, &placeholder)?;
        let Some(fleet) = &config.fleet else {
            return Err(invalid(
                "a pair file needs a [fleet] section: mode = \"watch\" (interval, full_every) \
                 or mode = \"schedule\" (cron or every)"
                    .to_owned(),
            ));
        };
        Ok(Pair {
            name,
            path: path.to_owned(),
            scope: Scope::of(&config),
            mode: fleet.mode.clone(),
            text,
        })
    }

    /// The pair's config with `${VAR}` resolved through `env` (a worker's environment).
    /// Relative paths stay relative: to the worker's working directory.
    pub fn config(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        Config::parse(&self.text, &self.path, env)
    }

    /// SHA-256 of the text: a worker reloads a pair whose digest changed.
    pub fn sha256(&self) -> [u8; 32] {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        out
    }
}

/// What a variable stands for while a pair file is checked: a distinct value per name
/// (two headers written as two variables stay two headers) that is also a valid https
/// URL, so an API address given as a variable passes too.
fn placeholder(name: &str) -> Option<String> {
    Some(format!("https://placeholder.invalid/{name}"))
}

/// Whether a config string holds a `${…}` reference (`$${` is a literal `${`).
fn names_a_variable(raw: &str) -> bool {
    raw.replace("$${", "").contains("${")
}

fn pair_name(path: &Path) -> Result<String, PairError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".toml"))
        .unwrap_or_default();
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(PairError::Name {
            path: path.to_owned(),
            name: name.to_owned(),
        })
    }
}

/// One-based line of byte offset `at`.
fn line(text: &str, at: usize) -> usize {
    text.get(..at).unwrap_or(text).matches('\n').count() + 1
}

/// The few keys a pair file is checked for beyond the config's own checks, with their
/// place in the text. Everything else is ignored here: `Config::parse` has seen it.
#[derive(Default, Deserialize)]
struct Probe {
    sheet: Option<ProbeSheet>,
    shopify: Option<ProbeShopify>,
    sync: Option<ProbeSync>,
}

#[derive(Deserialize)]
struct ProbeSheet {
    spreadsheet_id: Option<Spanned<String>>,
    tab: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct ProbeShopify {
    shop: Option<Spanned<String>>,
}

#[derive(Deserialize)]
struct ProbeSync {
    state_dir: Option<Spanned<toml::Value>>,
}

#[cfg(test)]
mod tests;
