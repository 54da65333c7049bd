//! Which walls a worker builds (the deployment's isolation and the
//! runtimes' own), whether its engine can build them, and, when it cannot,
//! the sentence that says how to make it able. A worker refuses to start
//! rather than run a session behind a weaker wall than it was told to.

use std::collections::BTreeSet;

use crate::config::Limits;
use crate::model::Isolation;
use crate::runtimes::Runtimes;

/// Every wall this worker's sessions may get.
pub(crate) fn needed(runtimes: &Runtimes, limits: &Limits) -> BTreeSet<Isolation> {
    std::iter::once(limits.isolation)
        .chain(limits.anonymous_isolation)
        .chain(runtimes.all().iter().filter_map(|rt| rt.isolation))
        .collect()
}

/// What stops the engine (whose OCI runtimes are `engine`) from building
/// `walls`: `None` when nothing does, else one sentence with the fix.
pub(crate) fn missing(walls: &BTreeSet<Isolation>, engine: &[String], limits: &Limits) -> Option<String> {
    let lacking: Vec<Isolation> =
        walls.iter().copied().filter(|w| !engine.iter().any(|r| r == limits.oci_runtime(*w))).collect();
    let first = *lacking.first()?;
    let name = limits.oci_runtime(first);
    Some(match first {
        Isolation::Gvisor => format!(
            "this worker runs sessions under gVisor (EXECBOX_ISOLATION=gvisor, or a runtime's own `isolation`), \
             and its Docker engine has no OCI runtime named {name:?} (it has: {}); it will not run them behind a \
             weaker wall. Fix: install gVisor (`apt-get install runsc` on Debian), add \
             \"runtimes\": {{\"{name}\": {{\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": [\"--network=none\"]}}}} \
             to /etc/docker/daemon.json, and reload the engine (`systemctl reload docker` or SIGHUP to dockerd)",
            engine.join(", ")
        ),
        Isolation::Runc => format!(
            "this worker's Docker engine has no OCI runtime named \"runc\" (it has: {}); \
             fix: use an engine with Docker's default runtime",
            engine.join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_the_engine_cannot_build_is_named_with_its_fix() {
        let limits = Limits { gvisor_runtime: "gvisor-ptrace".into(), ..Limits::default() };
        let both: BTreeSet<Isolation> = [Isolation::Runc, Isolation::Gvisor].into();
        let runc: BTreeSet<Isolation> = [Isolation::Runc].into();
        let engine = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        #[rustfmt::skip]
        let table: &[(&BTreeSet<Isolation>, Vec<String>, Option<&str>)] = &[
            (&runc, engine(&["runc"]), None),
            (&both, engine(&["runc", "gvisor-ptrace"]), None),
            (&both, engine(&["runc", "runsc"]), Some("no OCI runtime named \"gvisor-ptrace\" (it has: runc, runsc)")),
            (&runc, engine(&["crun"]), Some("no OCI runtime named \"runc\"")),
        ];
        for (walls, engine, want) in table {
            let said = missing(walls, engine, &limits);
            match (want, &said) {
                (None, None) => {}
                (Some(w), Some(s)) => assert!(s.contains(w), "{s}"),
                _ => panic!("{walls:?} on {engine:?}: {said:?}"),
            }
        }
        let said = missing(&both, &engine(&["runc"]), &limits).unwrap();
        assert!(
            said.contains(
                r#""runtimes": {"gvisor-ptrace": {"path": "/usr/bin/runsc", "runtimeArgs": ["--network=none"]}}"#
            ),
            "{said}"
        );
    }

    #[test]
    fn runtimes_add_their_own_walls() {
        let mut rt = Runtimes::builtin().resolve("python").unwrap().clone();
        let limits = Limits { isolation: Isolation::Gvisor, ..Limits::default() };
        assert_eq!(needed(&Runtimes::of(rt.clone()), &limits), [Isolation::Gvisor].into());
        rt.isolation = Some(Isolation::Runc);
        rt.isolation_reason = Some("a test".into());
        assert_eq!(needed(&Runtimes::of(rt), &limits), [Isolation::Runc, Isolation::Gvisor].into());
    }
}
