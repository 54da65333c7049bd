//! The reaper's decision, as pure functions of what it saw: which managed
//! containers of this database are garbage, and which depend on whether
//! their session is still live. Unknown means keep: a container is removed
//! only on positive evidence that nobody owns it.

use std::collections::HashMap;

use uuid::Uuid;

use crate::sandbox::policy::Owner;

/// Containers whose fate depends on their (session, attempt) being live.
pub(super) type Ask = Vec<(String, (Uuid, i32))>;

/// What this worker knows of its own.
pub(super) struct Mine<'a> {
    pub(super) worker_id: &'a str,
    /// Its runs: session → attempt.
    pub(super) runs: &'a HashMap<Uuid, i32>,
    /// Whether its warm pool owns a container (idle or in use).
    pub(super) pool_owns: &'a (dyn Fn(&str) -> bool + Sync),
}

/// Containers to remove now, and session containers whose fate depends on
/// whether their (session, attempt) is live. `alive`: the ids of live
/// workers, or None when that could not be learned.
pub(super) fn classify(seen: &[(String, Owner)], mine: &Mine<'_>, alive: Option<&[String]>) -> (Vec<String>, Ask) {
    let mut garbage = Vec::new();
    let mut ask = Vec::new();
    for (cid, owner) in seen {
        match owner {
            Owner::Pool { worker: Some(w) } if w == mine.worker_id => {
                if !(mine.pool_owns)(cid) {
                    garbage.push(cid.clone());
                }
            }
            Owner::Pool { worker: Some(w) } => {
                if alive.is_some_and(|alive| !alive.contains(w)) {
                    garbage.push(cid.clone());
                }
            }
            Owner::Pool { worker: None } | Owner::Unknown => garbage.push(cid.clone()),
            Owner::Session { id, attempt } if mine.runs.get(id) == Some(attempt) => {}
            Owner::Session { id, attempt } => ask.push((cid.clone(), (*id, *attempt))),
        }
    }
    (garbage, ask)
}

/// Of the asked-about containers, those whose run is not live.
pub(super) fn dead(ask: Ask, live: &[(Uuid, i32)]) -> Vec<String> {
    ask.into_iter().filter(|(_, run)| !live.contains(run)).map(|(cid, _)| cid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_garbage() {
        let (s1, s2, s3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let runs = HashMap::from([(s1, 2)]);
        let owns = |cid: &str| cid == "my-warm";
        let mine = Mine { worker_id: "me", runs: &runs, pool_owns: &owns };
        let pool = |w: Option<&str>| Owner::Pool { worker: w.map(String::from) };
        let seen = vec![
            ("my-warm".to_string(), pool(Some("me"))),
            ("my-lost".to_string(), pool(Some("me"))),
            ("their-warm".to_string(), pool(Some("alive-worker"))),
            ("dead-warm".to_string(), pool(Some("dead-worker"))),
            ("ownerless-warm".to_string(), pool(None)),
            ("strange".to_string(), Owner::Unknown),
            ("my-run".to_string(), Owner::Session { id: s1, attempt: 2 }),
            ("my-old-attempt".to_string(), Owner::Session { id: s1, attempt: 1 }),
            ("other-run".to_string(), Owner::Session { id: s2, attempt: 1 }),
            ("finished-run".to_string(), Owner::Session { id: s3, attempt: 1 }),
        ];
        let table: Vec<(Option<Vec<String>>, Vec<&str>)> = vec![
            (Some(vec!["alive-worker".into()]), vec!["my-lost", "dead-warm", "ownerless-warm", "strange"]),
            // Liveness unknown: other workers' warm containers are kept.
            (None, vec!["my-lost", "ownerless-warm", "strange"]),
        ];
        for (alive, want) in table {
            let (garbage, ask) = classify(&seen, &mine, alive.as_deref());
            assert_eq!(garbage, want, "alive = {alive:?}");
            let asked: Vec<&str> = ask.iter().map(|(c, _)| c.as_str()).collect();
            assert_eq!(asked, ["my-old-attempt", "other-run", "finished-run"]);
            let live = [(s2, 1)];
            assert_eq!(dead(ask, &live), ["my-old-attempt", "finished-run"]);
        }
    }
}
