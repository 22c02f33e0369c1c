//! Writing answers: JSON for machines, lines for people.

use anyhow::Result;

/// Print `v` as pretty JSON on stdout.
pub fn print_json(v: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}
