//! `sheetsync runs` and `runs show ID`: past runs from the local journal. Read-only: the
//! state is opened read-only and never created, and the writer lock is not taken.

use super::{Cli, CommandError, Failure, RunsCommand};
use crate::report::ExitStatus;
use crate::state::{self, Scope};

pub fn run(cli: &Cli, show: Option<&RunsCommand>, json: bool) -> Result<ExitStatus, Failure> {
    let (_, config) = super::load_config(cli)?;
    let scope = Scope::of(&config);
    let state = state::open_reader_for(&config, &scope)?;
    match show {
        Some(RunsCommand::Show {
            id,
            json: show_json,
        }) => {
            let report = state
                .as_ref()
                .map(|s| s.run_report(id))
                .transpose()?
                .flatten();
            let Some(report) = report else {
                // A run that died (kill -9, power loss) is journaled without a report.
                let unfinished = match &state {
                    Some(s) => s
                        .list_runs(usize::MAX)?
                        .into_iter()
                        .find(|r| r.run_id == *id),
                    None => None,
                };
                return Err(CommandError::Usage(match unfinished {
                    Some(r) => format!(
                        "run {id:?} (started {}) did not finish: it was killed or is still \
                         running, so it has no report; the next sync settles what it left open",
                        r.started_at
                    ),
                    None => format!("no run {id:?} in {}", state::describe(&config)),
                })
                .into());
            };
            if json || *show_json {
                println!("{report}");
            } else {
                let parsed: crate::report::Report = serde_json::from_str(&report).map_err(|e| {
                    CommandError::Local(format!("journal entry for {id} is unreadable: {e}"))
                })?;
                print!(
                    "{}",
                    crate::report::human::render(&parsed, super::color_enabled())
                );
            }
        }
        None => {
            let runs = match &state {
                Some(s) => s.list_runs(100)?,
                None => Vec::new(),
            };
            if json {
                let list: Vec<serde_json::Value> = runs
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "run_id": r.run_id, "command": r.command,
                            "started_at": r.started_at, "finished_at": r.finished_at,
                            "dry_run": r.dry_run, "exit_code": r.exit_code, "summary": r.summary,
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into())
                );
            } else if runs.is_empty() {
                println!("no runs yet");
            } else {
                for r in &runs {
                    let s = &r.summary;
                    if r.finished_at.is_none() {
                        println!(
                            "{}  {}  did not finish (killed, or still running)",
                            r.run_id, r.started_at
                        );
                        continue;
                    }
                    if r.command == "pull" {
                        // A pull writes the sheet only: its count is the cells it wrote.
                        let cells = state
                            .as_ref()
                            .and_then(|st| st.run_report(&r.run_id).ok().flatten())
                            .and_then(|text| {
                                serde_json::from_str::<crate::report::Report>(&text).ok()
                            })
                            .map_or(0, |rep| {
                                rep.pulled
                                    .iter()
                                    .filter(|p| p.status == Some(crate::report::Status::Applied))
                                    .count()
                            });
                        println!(
                            "{}  {}  exit {}  pull: {cells} sheet cells written",
                            r.run_id,
                            r.started_at,
                            r.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                        );
                        continue;
                    }
                    println!(
                        "{}  {}  exit {}  applied {} failed {} skipped {} errors {}",
                        r.run_id,
                        r.started_at,
                        r.exit_code.map_or_else(|| "-".into(), |c| c.to_string()),
                        s["applied"],
                        s["failed"],
                        s["skipped"],
                        s["errors"]
                    );
                }
            }
        }
    }
    Ok(ExitStatus::Done)
}
