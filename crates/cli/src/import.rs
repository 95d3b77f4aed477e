//! `rapport import FILE`: members provisioned by the community's ids, from JSON Lines or CSV, for
//! the first load and for nightly syncs. Each line goes through the same use case as
//! `PUT /api/v1/admin/members/by-external-id/{id}`: a line is applied whole or not at all, a
//! refused line is reported with its number and reason and the rest go on, and running the same
//! file again changes nothing (every line is `unchanged`).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use rapport_app::{App, AppError, ProvisionInput};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    /// A JSON Lines file (one object per line) or a CSV file with a header row; the columns or
    /// fields: external_id, email, name, headline, company, location, status.
    file: PathBuf,
    /// Read the file as this format instead of guessing it from its name and first character.
    #[arg(long, value_parser = ["jsonl", "csv"])]
    format: Option<String>,
}

/// One line of the file, as the community describes a member.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    external_id: String,
    email: String,
    name: String,
    #[serde(default)]
    headline: Option<String>,
    #[serde(default)]
    company: Option<String>,
    #[serde(default)]
    location: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

/// A CSV cell left empty means "not given", as a missing JSON field does.
fn given(s: Option<String>) -> Option<String> {
    s.filter(|v| !v.trim().is_empty())
}

impl Line {
    fn into_input(self) -> (String, ProvisionInput) {
        (
            self.external_id,
            ProvisionInput {
                email: self.email,
                name: self.name,
                headline: given(self.headline),
                company: given(self.company),
                location: given(self.location),
                status: given(self.status),
            },
        )
    }
}

/// The file's lines: (line number, the line or why it cannot be read).
type Parsed = Vec<(u64, Result<Line, String>)>;

fn parse_jsonl(text: &str) -> Parsed {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let line =
                serde_json::from_str::<Line>(l).map_err(|e| format!("not a member as JSON: {e}"));
            (i as u64 + 1, line)
        })
        .collect()
}

fn parse_csv(text: &str) -> anyhow::Result<Parsed> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .context("reading the CSV header row")?
        .clone();
    for required in ["external_id", "email", "name"] {
        if !headers.iter().any(|h| h == required) {
            anyhow::bail!("the CSV header row has no {required} column (columns: external_id, email, name, headline, company, location, status)");
        }
    }
    Ok(reader
        .records()
        .map(|r| match r {
            Ok(record) => {
                let n = record.position().map_or(0, |p| p.line());
                let line = record
                    .deserialize::<Line>(Some(&headers))
                    .map_err(|e| format!("not a member as CSV: {e}"));
                (n, line)
            }
            Err(e) => (
                e.position().map_or(0, |p| p.line()),
                Err(format!("not a CSV row: {e}")),
            ),
        })
        .collect())
}

fn is_jsonl(path: &Path, text: &str, format: Option<&str>) -> bool {
    match format {
        Some(f) => f == "jsonl",
        None => match path.extension().and_then(|e| e.to_str()) {
            Some("csv") => false,
            Some("jsonl" | "ndjson" | "json") => true,
            _ => text.trim_start().starts_with('{'),
        },
    }
}

/// Why a line was refused, in words for the person who runs the import.
fn reason(e: &AppError) -> String {
    match e {
        AppError::Rule(rapport_domain::RuleError::EmailTaken) => {
            "email: another member has this address".into()
        }
        other => other.to_string(),
    }
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub refused: u64,
}

pub async fn run(app: &App, args: Args) -> anyhow::Result<Summary> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    // A byte order mark, as spreadsheet programs write, is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
    let lines = if is_jsonl(&args.file, &text, args.format.as_deref()) {
        parse_jsonl(&text)
    } else {
        parse_csv(&text)?
    };
    let bar = ProgressBar::new(lines.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>9} [{bar:32}] {human_pos}/{human_len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message("importing");
    let mut summary = Summary::default();
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (n, line) in lines {
        let outcome = match line {
            Err(why) => Err(why),
            Ok(line) => {
                let (external_id, input) = line.into_input();
                match seen.get(&external_id) {
                    Some(first) => Err(format!(
                        "external_id {external_id:?} is on line {first} already; each member once"
                    )),
                    None => {
                        seen.insert(external_id.clone(), n);
                        match app.provision(&external_id, input).await {
                            Ok(p) => Ok(p.outcome),
                            // The store cannot be reached or failed: stop, nothing of this line
                            // was written, and running the file again picks up from here.
                            Err(
                                e @ (AppError::Unavailable(_)
                                | AppError::StorageFull(_)
                                | AppError::WritesQueued(_)
                                | AppError::Internal(_)),
                            ) => {
                                bar.abandon();
                                anyhow::bail!("line {n}: {e}; lines before it were applied, run the import again");
                            }
                            Err(e) => Err(reason(&e)),
                        }
                    }
                }
            }
        };
        match outcome {
            Ok("created") => summary.created += 1,
            Ok("updated") => summary.updated += 1,
            Ok(_) => summary.unchanged += 1,
            Err(why) => {
                summary.refused += 1;
                bar.suspend(|| eprintln!("line {n}: refused: {why}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "created {}, updated {}, unchanged {}, refused {}",
        summary.created, summary.updated, summary.unchanged, summary.refused
    );
    Ok(summary)
}
