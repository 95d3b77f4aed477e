//! Load generator (filled in below).
#[derive(clap::Args)]
pub struct Args {}
pub async fn run(_args: Args) -> anyhow::Result<()> {
    Ok(())
}
