//! `msa keys rotate`: gives processes of a running `msa up` new token keys, without a
//! restart and without one refused request.
//!
//! Three steps, each taken only when every process has loaded the one before
//! (`kit::identity::keyring` notes what each loaded in `DATA_DIR/keys/loaded/`):
//! 1. introduce: each rotated process holds a new secret beside its old one, and every
//!    process accepts tokens under the new key as well as the old;
//! 2. switch: the rotated processes sign with the new secret, and the others address them
//!    under it; tokens under the old key are still accepted;
//! 3. retire, after the longest time a token made under the old key could still arrive:
//!    the old key is gone everywhere.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use kit::identity::TOKEN_LIFETIME_SECONDS;
use kit::identity::keyring::{loaded_digest, loaded_file, parse_public_keys, public_keys_file};
use kit::identity::options::{PARTIES, default_key_file};
use kit::identity::token::{CLOCK_LEEWAY_SECONDS, parse_secrets};

/// The longest a token lives, with the verifiers' leeway: after a switch, no token made
/// under an old key is accepted for longer than this.
const GRACE_SECONDS: u64 = (TOKEN_LIFETIME_SECONDS + CLOCK_LEEWAY_SECONDS) as u64;

/// What `msa keys rotate` reads.
#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// The data directory of the running `msa up`, whose `keys/` this rotates.
    #[arg(long, env = "MSA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// A process whose key to rotate; repeat for several [default: all four].
    #[arg(long = "party", value_parser = clap::builder::PossibleValuesParser::new(PARTIES))]
    pub parties: Vec<String>,

    /// Seconds between switching and retiring: the longest a token made under an old key
    /// may still be on its way.
    #[arg(long, default_value_t = GRACE_SECONDS)]
    pub grace_seconds: u64,

    /// Seconds to wait for every process to load a step before giving up (the keys then
    /// stay as that step left them, every one of them still accepted).
    #[arg(long, default_value_t = 30)]
    pub wait_seconds: u64,

    /// The shop is not running: take the three steps at once, waiting for no process.
    #[arg(long)]
    pub offline: bool,

    /// Take only this step on the files and print the digest each process logs once it
    /// holds them, waiting for none: for deployments that read copies of these files
    /// (Kubernetes Secrets, compose secrets), published between the steps.
    #[arg(long, value_enum, conflicts_with = "offline")]
    pub step: Option<Step>,
}

/// One step of a rotation, for [`RotateArgs::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Each rotated process gets a new secret beside its current one; every process
    /// accepts both.
    Introduce,
    /// The new secrets sign; the old ones are still accepted.
    Switch,
    /// The old secrets are gone (after the grace time since the switch was loaded).
    Retire,
}

/// One process's key file during the rotation.
struct Rotated {
    party: String,
    file: PathBuf,
    old: String,
    new: String,
}

pub async fn run(args: RotateArgs) -> anyhow::Result<()> {
    let public_file = public_keys_file(&args.data_dir);
    let parties: Vec<String> = if args.parties.is_empty() {
        PARTIES.iter().map(|&party| party.to_owned()).collect()
    } else {
        args.parties.clone()
    };
    anyhow::ensure!(
        public_file.is_file(),
        "{} does not exist: `msa keys rotate` rotates the keys of `msa up` in this data \
         directory (start it once first), or those `msa keys --data-dir` made for a \
         deployment (with --step; docs/deploy.md shows the steps)",
        public_file.display()
    );
    if let Some(step) = args.step {
        return one_step(&args.data_dir, &parties, step);
    }
    let started = Instant::now();
    let wait = Duration::from_secs(args.wait_seconds);
    if !args.offline {
        all_loaded(&args.data_dir, Duration::ZERO).await.context(
            "not every process holds the keys in this data directory now: is `msa up` \
             running with it? (--offline rotates the keys of a stopped shop)",
        )?;
    }
    let rotated = to_rotate(&args.data_dir, &parties, Step::Introduce)?;
    let names = parties.join(", ");

    step(&format!("introducing new keys for {names}"), started);
    write_step(&rotated, &public_file, |r| {
        [r.old.as_str(), &r.new].to_vec()
    })?;
    settle(&args, wait, started).await?;

    step(&format!("switching {names} to the new keys"), started);
    write_step(&rotated, &public_file, |r| {
        [r.new.as_str(), &r.old].to_vec()
    })?;
    settle(&args, wait, started).await?;
    if !args.offline {
        step(
            &format!(
                "waiting {} s for tokens made under the old keys to expire",
                args.grace_seconds
            ),
            started,
        );
        tokio::time::sleep(Duration::from_secs(args.grace_seconds)).await;
    }

    step("retiring the old keys", started);
    write_step(&rotated, &public_file, |r| [r.new.as_str()].to_vec())?;
    settle(&args, wait, started).await?;
    step(
        &format!("done: {names} sign with new keys; the old ones are gone"),
        started,
    );
    Ok(())
}

/// Reads the key file of each of `parties` for `step`, which needs one secret in each
/// before it introduces a new one, and two after.
fn to_rotate(data_dir: &Path, parties: &[String], step: Step) -> anyhow::Result<Vec<Rotated>> {
    let mut rotated = Vec::new();
    for party in parties {
        let file = default_key_file(data_dir, party);
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("Failed to read {}", file.display()))?;
        let lines: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        let (old, new) = match (step, lines.as_slice()) {
            (Step::Introduce, [current]) => {
                (current.clone(), kit::identity::token::new_secret_line())
            }
            // After the introduction the new secret is second; after the switch, first.
            (Step::Switch, [old, new]) | (Step::Retire, [new, old]) => (old.clone(), new.clone()),
            (Step::Introduce, _) => anyhow::bail!(
                "{} holds {} keys: a rotation is under way or was cut short. Finish it with \
                 --step switch and --step retire, or keep the first line (the key in use), \
                 delete the others, and run this again",
                file.display(),
                lines.len()
            ),
            (_, _) => anyhow::bail!(
                "{} holds {} keys, not the two of a rotation under way: run --step \
                 introduce first",
                file.display(),
                lines.len()
            ),
        };
        rotated.push(Rotated {
            party: party.clone(),
            file,
            old,
            new,
        });
    }
    Ok(rotated)
}

/// Takes `step` on the files of `data_dir` and prints what each process logs once it
/// holds them.
fn one_step(data_dir: &Path, parties: &[String], step: Step) -> anyhow::Result<()> {
    let public_file = public_keys_file(data_dir);
    let rotated = to_rotate(data_dir, parties, step)?;
    write_step(&rotated, &public_file, |r| match step {
        Step::Introduce => [r.old.as_str(), &r.new].to_vec(),
        Step::Switch => [r.new.as_str(), &r.old].to_vec(),
        Step::Retire => [r.new.as_str()].to_vec(),
    })?;
    let public = std::fs::read(&public_file)?;
    eprintln!(
        "msa keys rotate: the {} step written to {}. Publish the key files and {} to the \
         processes; each holds them once it logs \"token keys loaded\" with its digest:",
        clap::ValueEnum::to_possible_value(&step)
            .map_or_else(String::new, |value| value.get_name().to_owned()),
        data_dir.join("keys").display(),
        public_file.display()
    );
    for party in PARTIES {
        let own = std::fs::read(default_key_file(data_dir, party))
            .with_context(|| format!("the key file of {party}"))?;
        println!(
            "{party} {}",
            kit::identity::keyring::short_digest(&loaded_digest(&own, &public))
        );
    }
    if step == Step::Switch {
        eprintln!(
            "Once every process holds these, wait {GRACE_SECONDS} s (the longest a token \
             made under an old key lives) before --step retire."
        );
    }
    Ok(())
}

fn step(what: &str, started: Instant) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// Writes each rotated process's key file with the secrets `secrets` gives (the current
/// one first), then the public keys file to match.
fn write_step(
    rotated: &[Rotated],
    public_file: &Path,
    secrets: impl Fn(&Rotated) -> Vec<&str>,
) -> anyhow::Result<()> {
    let mut public = parse_public_keys(&std::fs::read(public_file)?)
        .with_context(|| format!("{} does not parse", public_file.display()))?;
    for process in rotated {
        let lines = secrets(process);
        let text = lines
            .iter()
            .map(|line| format!("{line}\n"))
            .collect::<String>();
        let keys = parse_secrets(text.as_bytes()).expect("BUG: our own secrets parse");
        kit::files::write_private_file(&process.file, text.as_bytes())?;
        let listed = keys
            .iter()
            .map(kit::identity::token::PartyKey::public_key)
            .collect::<Vec<_>>()
            .join(",");
        public = public.replaced(&process.party, &listed);
    }
    kit::files::write_private_file(
        public_file,
        kit::identity::keyring::render_public_keys(&public).as_bytes(),
    )
}

/// Waits until every process holds the keys just written (unless offline).
async fn settle(args: &RotateArgs, wait: Duration, started: Instant) -> anyhow::Result<()> {
    if args.offline {
        return Ok(());
    }
    all_loaded(&args.data_dir, wait).await?;
    step("every process holds them", started);
    Ok(())
}

/// Waits up to `wait` until each process notes that it loaded the files as they are now.
async fn all_loaded(data_dir: &Path, wait: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + wait;
    let public = std::fs::read(public_keys_file(data_dir))?;
    loop {
        let mut behind = Vec::new();
        for party in PARTIES {
            let own = std::fs::read(default_key_file(data_dir, party))
                .with_context(|| format!("the key file of {party}"))?;
            let expected = loaded_digest(&own, &public);
            let noted = std::fs::read_to_string(loaded_file(data_dir, party)).unwrap_or_default();
            if noted.trim() != expected {
                behind.push(party);
            }
        }
        if behind.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "{} did not load the keys within {} s",
                behind.join(", "),
                wait.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
