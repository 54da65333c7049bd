//! `execbox images build`: builds the runtime images named by the runtime
//! table from the Dockerfiles embedded from `images/`.
//!
//! Each Dockerfile starts `FROM ${BASE}`. BASE is `debian:bookworm-slim` when
//! the engine has it or can pull it; where no registry is reachable, execbox
//! makes a local bookworm base with `debootstrap --variant=minbase` and
//! imports it as [`LOCAL_BASE`] (once; later builds reuse it). The launcher
//! (`images/launcher/`) is compiled first, into [`LAUNCHER_IMAGE`], from
//! Debian's gcc on the same base; every runtime image copies it from there.
//! Docker's layer cache makes a second build take seconds.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use std::io::IsTerminal;

use anyhow::{bail, Context};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures::StreamExt;

use crate::runtimes::Runtimes;
use crate::sandbox::Engine;

pub(crate) const REGISTRY_BASE: &str = "debian:bookworm-slim";
pub(crate) const LOCAL_BASE: &str = "execbox/debian-base:bookworm";
/// The image that holds the compiled launcher (`images/launcher/`).
pub(crate) const LAUNCHER_IMAGE: &str = "execbox/launcher:latest";
const DEBIAN_MIRROR: &str = "http://deb.debian.org/debian";

/// Builds every runtime image (or those of `only`, by language or alias).
pub(crate) async fn build(engine: &Engine, runtimes: &Runtimes, only: &[String]) -> anyhow::Result<()> {
    engine.ping().await.context("`execbox images build` needs a Docker engine")?;
    let mut wanted = Vec::new();
    for name in only {
        let rt = runtimes
            .resolve(name)
            .with_context(|| format!("unknown language {name:?}; known: {}", runtimes.describe()))?;
        wanted.push(rt.language.clone());
    }
    let base = ensure_base(engine).await?;
    build_one(engine, "launcher", LAUNCHER_IMAGE, &base).await?;
    let mut done = BTreeSet::new();
    for rt in runtimes.all() {
        if !wanted.is_empty() && !wanted.contains(&rt.language) {
            continue;
        }
        if !done.insert(rt.image.clone()) {
            continue;
        }
        build_one(engine, &rt.build, &rt.image, &base).await?;
    }
    Ok(())
}

/// `execbox images list`: each runtime's image, whether this engine has it,
/// its size, and whether its launcher is older than execbox's.
pub(crate) async fn list(engine: &Engine, runtimes: &Runtimes) -> anyhow::Result<()> {
    engine.ping().await.context("`execbox images list` needs a Docker engine")?;
    let mut rows = vec![["LANGUAGE".to_string(), "VERSION".into(), "IMAGE".into(), "SIZE".into()]];
    for rt in runtimes.all() {
        let size = match engine.image(&rt.image).await? {
            Some(image) => {
                let size = format!("{:.0} MB", image.size_bytes as f64 / 1e6);
                if image.launcher_is_current() {
                    size
                } else {
                    format!("{size}, older launcher: execbox images build {}", rt.language)
                }
            }
            None => format!("missing: execbox images build {}", rt.language),
        };
        rows.push([rt.language.clone(), rt.version.clone(), rt.image.clone(), size]);
    }
    let width = |i: usize| rows.iter().map(|r| r[i].len()).max().unwrap_or(0);
    let (w0, w1, w2) = (width(0), width(1), width(2));
    for [language, version, image, size] in &rows {
        println!("{language:<w0$}  {version:<w1$}  {image:<w2$}  {size}");
    }
    Ok(())
}

/// Tar of the embedded `images/` directory: the build context of every image.
fn context_tar() -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in crate::embedded::IMAGE_FILES {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, *data)?;
    }
    Ok(tar.into_inner()?)
}

async fn build_one(engine: &Engine, dir: &str, tag: &str, base: &str) -> anyhow::Result<()> {
    let dockerfile = format!("{dir}/Dockerfile");
    if !crate::embedded::IMAGE_FILES.iter().any(|(p, _)| *p == dockerfile) {
        bail!("no images/{dockerfile} for image {tag}");
    }
    let progress = Progress::new(tag);
    progress.say(&format!("building {tag} (images/{dockerfile}, FROM {base})"));
    let started = std::time::Instant::now();
    let args = std::collections::HashMap::from([("BASE", base), ("LAUNCHER", LAUNCHER_IMAGE)]);
    // Which launcher protocol the image's launcher speaks.
    let protocol = crate::sandbox::launcher::PROTOCOL.to_string();
    let labels = std::collections::HashMap::from([(crate::sandbox::launcher::PROTOCOL_LABEL, protocol.as_str())]);
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile)
        .t(tag)
        .rm(true)
        .forcerm(true)
        .buildargs(&args)
        .labels(&labels)
        .build();
    let body = bollard::body_full(context_tar()?.into());
    let mut stream = engine.docker().build_image(opts, None, Some(body));
    while let Some(item) = stream.next().await {
        let info = item.with_context(|| format!("building {tag} failed"))?;
        if let Some(err) = info.error_detail.and_then(|d| d.message) {
            progress.fail();
            bail!("building {tag} failed: {err}");
        }
        if let Some(line) = info.stream {
            progress.line(line.trim_end());
        }
    }
    progress.done(&format!("{tag} ready in {:.1}s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// Build progress: a bar per image on a terminal (steps parsed from the
/// builder's "Step N/M" lines), plain lines otherwise (CI logs).
struct Progress {
    tag: String,
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(tag: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(1);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} [{bar:20}] {pos}/{len} {wide_msg}")
                    .unwrap()
                    .progress_chars("=> "),
            );
            bar.set_prefix(tag.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Progress { tag: tag.to_string(), bar }
    }

    fn say(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_string()),
            None => eprintln!("==> {msg}"),
        }
    }

    fn line(&self, line: &str) {
        if line.is_empty() {
            return;
        }
        match &self.bar {
            Some(b) => {
                if let Some((n, m)) = parse_step(line) {
                    b.set_length(m);
                    b.set_position(n.saturating_sub(1));
                }
                b.set_message(line.chars().take(100).collect::<String>());
            }
            None => eprintln!("    [{}] {line}", self.tag),
        }
    }

    fn done(&self, msg: &str) {
        match &self.bar {
            Some(b) => {
                b.set_position(b.length().unwrap_or(1));
                b.finish_with_message(msg.to_string());
            }
            None => eprintln!("==> {msg}"),
        }
    }

    fn fail(&self) {
        if let Some(b) = &self.bar {
            b.abandon();
        }
    }
}

/// "Step 3/7 : RUN ..." -> (3, 7)
fn parse_step(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("Step ")?;
    let (frac, _) = rest.split_once(' ').unwrap_or((rest, ""));
    let (n, m) = frac.split_once('/')?;
    Some((n.parse().ok()?, m.parse().ok()?))
}

/// The runtime images the engine does not have yet, or has from an older
/// execbox.
pub(crate) async fn missing(engine: &Engine, runtimes: &Runtimes) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for rt in runtimes.all() {
        if !engine.runtime_image_ready(&rt.image).await? {
            out.push(rt.language.clone());
        }
    }
    Ok(out)
}

/// Picks (and if needed makes) the base image.
async fn ensure_base(engine: &Engine) -> anyhow::Result<String> {
    if let Ok(b) = std::env::var("EXECBOX_BASE_IMAGE") {
        if !b.is_empty() {
            return Ok(b);
        }
    }
    for candidate in [REGISTRY_BASE, LOCAL_BASE] {
        if engine.image_exists(candidate).await? {
            return Ok(candidate.to_string());
        }
    }
    eprintln!("==> trying to pull {REGISTRY_BASE}");
    if pull(engine, REGISTRY_BASE).await.is_ok() {
        return Ok(REGISTRY_BASE.to_string());
    }
    eprintln!("==> no registry reachable: making {LOCAL_BASE} with debootstrap (about a minute, once)");
    make_local_base(engine).await?;
    Ok(LOCAL_BASE.to_string())
}

async fn pull(engine: &Engine, image: &str) -> anyhow::Result<()> {
    let opts = CreateImageOptionsBuilder::default().from_image(image).build();
    let work = async {
        let mut s = engine.docker().create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            item?;
        }
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(30), work).await.context("pull timed out")?
}

async fn make_local_base(engine: &Engine) -> anyhow::Result<()> {
    if which("debootstrap").is_none() {
        if crate::dev::is_root() && Path::new("/etc/debian_version").exists() {
            eprintln!("==> apt-get install -y debootstrap");
            let _ = tokio::process::Command::new("apt-get").args(["update", "-qq"]).status().await;
            let ok = tokio::process::Command::new("apt-get")
                .args(["install", "-y", "-qq", "debootstrap"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .await
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok || which("debootstrap").is_none() {
                bail!("cannot install debootstrap; fix: `apt-get update && apt-get install -y debootstrap`, then run this again");
            }
        } else {
            bail!("no base image and no registry: install debootstrap (`apt-get install -y debootstrap`) and run this again as root");
        }
    }
    // Removed when dropped, whatever happens.
    let dir = tempfile::Builder::new().prefix("execbox-rootfs-").tempdir()?;
    let status = tokio::process::Command::new("debootstrap")
        .args(["--variant=minbase", "bookworm"])
        .arg(dir.path())
        .arg(DEBIAN_MIRROR)
        .status()
        .await
        .context("cannot run debootstrap")?;
    if !status.success() {
        bail!("debootstrap failed ({status}); it needs root and access to {DEBIAN_MIRROR}");
    }
    import_dir(engine, dir.path(), LOCAL_BASE).await
}

/// `docker import` of a directory, streamed through `tar`.
async fn import_dir(engine: &Engine, dir: &Path, tag: &str) -> anyhow::Result<()> {
    let mut child = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(dir)
        .args(["-c", "."])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run tar")?;
    let stdout = child.stdout.take().unwrap();
    let bytes = tokio_util::io::ReaderStream::new(stdout);
    let (repo, tag_part) = tag.rsplit_once(':').unwrap_or((tag, "latest"));
    let opts = CreateImageOptionsBuilder::default().from_src("-").repo(repo).tag(tag_part).build();
    let mut s = engine.docker().create_image(Some(opts), Some(bollard::body_try_stream(bytes)), None);
    while let Some(item) = s.next().await {
        item.context("docker import failed")?;
    }
    let status = child.wait().await?;
    if !status.success() {
        bail!("tar of the debootstrap directory failed ({status})");
    }
    eprintln!("==> imported {tag}");
    Ok(())
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    crate::dev::install::which(cmd)
}
