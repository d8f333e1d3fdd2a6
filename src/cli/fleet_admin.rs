//! `sheetsync fleet apply | status | pause | resume | import` (SPEC §9): parse nothing but the
//! state URL and the pair directory, call `fleet::admin`, print. Reads no config file and
//! no secret.

use std::path::Path;

use super::{Cli, CommandError, Failure};
use crate::fleet::admin::{self, AdminError, ApplyPlan, Shared, Status};
use crate::report::ExitStatus;

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Failure {
        match e {
            AdminError::State(e) => Failure::from(e),
            other => Failure::from(CommandError::Usage(other.to_string())),
        }
    }
}

/// The state URL or a usage error (2) saying how to give one.
pub(crate) fn require_url(cli: &Cli) -> Result<String, Failure> {
    super::state_url(cli).ok_or_else(|| {
        Failure::from(CommandError::Usage(
            "fleet commands need the shared state's URL: pass --state-url postgres://… or \
             set SHEETSYNC_STATE_URL (see docs/shared-state.md)"
                .to_owned(),
        ))
    })
}

async fn connect(cli: &Cli) -> Result<Shared, Failure> {
    Ok(Shared::connect(&require_url(cli)?).await?)
}

/// `fleet apply DIR [--prune] [--dry-run]`.
pub async fn apply(
    cli: &Cli,
    dir: &Path,
    prune: bool,
    dry_run: bool,
) -> Result<ExitStatus, Failure> {
    // The directory first: a broken pair file is reported without a database.
    let pairs = crate::fleet::load_dir(dir)
        .map_err(|e| Failure::from(CommandError::Usage(e.to_string())))?;
    let mut shared = connect(cli).await?;
    let plan = admin::apply(&mut shared, &pairs, prune, dry_run).await?;
    print!("{}", render_plan(&plan, dry_run));
    Ok(ExitStatus::Done)
}

fn render_plan(plan: &ApplyPlan, dry_run: bool) -> String {
    let mut out = String::new();
    let lead = if dry_run { "would be " } else { "" };
    for name in &plan.added {
        out.push_str(&format!("  + {name} ({lead}added)\n"));
    }
    for c in &plan.changed {
        match &c.moved_from {
            Some(from) => out.push_str(&format!(
                "  ~ {} ({lead}changed; moved from {from}: that scope's history stays there)\n",
                c.pair
            )),
            None => out.push_str(&format!("  ~ {} ({lead}changed)\n", c.pair)),
        }
    }
    for name in &plan.removed {
        if plan.pruned {
            out.push_str(&format!("  - {name} ({lead}removed)\n"));
        } else {
            out.push_str(&format!(
                "  ? {name} (its file is gone; kept: pass --prune to remove it)\n"
            ));
        }
    }
    let removed = if plan.pruned { plan.removed.len() } else { 0 };
    out.push_str(&format!(
        "{}{} added, {} changed, {} unchanged, {} removed{}\n",
        if dry_run { "Dry run: " } else { "" },
        plan.added.len(),
        plan.changed.len(),
        plan.unchanged.len(),
        removed,
        if dry_run { " (nothing written)" } else { "" }
    ));
    out
}

/// `fleet status [--json]`.
pub async fn status(cli: &Cli, json: bool) -> Result<ExitStatus, Failure> {
    let shared = connect(cli).await?;
    let status = admin::status(&shared).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render_status(&status));
    }
    Ok(ExitStatus::Done)
}

fn render_status(status: &Status) -> String {
    let mut out = String::new();
    if status.workers.is_empty() {
        out.push_str("Workers: none\n");
    } else {
        out.push_str("WORKER                           STATE     LAST SEEN             PAIRS\n");
        for w in &status.workers {
            let state = if w.live { "live" } else { "not live" };
            out.push_str(&format!(
                "{:<32} {:<9} {:<21} {}\n",
                w.id, state, w.last_seen, w.pairs
            ));
        }
    }
    out.push('\n');
    if status.pairs.is_empty() {
        out.push_str("Pairs: none (`fleet apply DIR` loads them)\n");
        return out;
    }
    out.push_str(
        "PAIR                     MODE      STATE    OWNER                  EPOCH  LEASE EXPIRES         LAST RUN\n",
    );
    for p in &status.pairs {
        let last = match &p.last_run {
            Some(r) => format!(
                "{} exit {} at {}",
                r.run_id,
                r.exit_code.map_or("-".to_owned(), |c| c.to_string()),
                r.finished_at
            ),
            None => "-".to_owned(),
        };
        out.push_str(&format!(
            "{:<24} {:<9} {:<8} {:<22} {:<6} {:<21} {}\n",
            p.pair,
            p.mode,
            if p.enabled { "enabled" } else { "paused" },
            p.owner.as_deref().unwrap_or("-"),
            p.epoch.map_or("-".to_owned(), |e| e.to_string()),
            p.lease_expires_at.as_deref().unwrap_or("-"),
            last
        ));
    }
    out
}

/// `fleet pause PAIR` (`enabled` false) / `fleet resume PAIR` (true).
pub async fn set_enabled(cli: &Cli, pair: &str, enabled: bool) -> Result<ExitStatus, Failure> {
    let shared = connect(cli).await?;
    let already = admin::set_enabled(&shared, pair, enabled).await?;
    let what = if enabled { "resumed" } else { "paused" };
    if already {
        eprintln!("Pair {pair} was already {what}.");
    } else if enabled {
        eprintln!("Pair {pair} resumed: a worker claims it within a lease renewal.");
    } else {
        eprintln!(
            "Pair {pair} paused: its owner finishes the batch in flight and stops it within \
             a lease renewal; no worker claims it until `fleet resume {pair}`."
        );
    }
    Ok(ExitStatus::Done)
}

/// `fleet import --from STATE_DIR [--merge-history]`: one line per scope; exit 2 when a
/// scope was refused (the others are imported).
pub async fn import(cli: &Cli, from: &Path, merge_history: bool) -> Result<ExitStatus, Failure> {
    use crate::fleet::import::Outcome;
    let mut shared = connect(cli).await?;
    let done = crate::fleet::import::import(&mut shared, from, merge_history).await?;
    if done.is_empty() {
        return Err(Failure::from(CommandError::Usage(format!(
            "no sheetsync state in {} (it holds no state.sqlite3 with a scope)",
            from.display()
        ))));
    }
    let mut refused = Vec::new();
    for (scope, outcome) in &done {
        let name = format!(
            "shop {}, spreadsheet {}, tab {:?}",
            scope.shop, scope.spreadsheet_id, scope.tab
        );
        match outcome {
            Outcome::Imported {
                runs,
                requests,
                baseline,
            } => println!(
                "  + {name}: {runs} runs, {requests} journaled requests, {baseline} baseline values imported"
            ),
            Outcome::Unchanged => println!("  = {name}: already imported, nothing to do"),
            Outcome::Refused { foreign_runs } => {
                println!(
                    "  ! {name}: refused: the shared state already has another history \
                     ({foreign_runs} runs not made here); pass --merge-history to add this \
                     machine's runs and keep the shared baseline"
                );
                refused.push(name);
            }
            Outcome::Leased { holder } => {
                println!(
                    "  ! {name}: refused: {holder} holds the pair's lease; import while nothing runs it"
                );
                refused.push(name);
            }
        }
    }
    if refused.is_empty() {
        Ok(ExitStatus::Done)
    } else {
        Err(Failure::from(CommandError::Usage(format!(
            "{} of {} scopes not imported: {}",
            refused.len(),
            done.len(),
            refused.join("; ")
        ))))
    }
}
