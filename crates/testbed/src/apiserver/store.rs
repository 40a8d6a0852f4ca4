//! The object store: JSON objects by group-resource, namespace and name, with one global
//! resourceVersion counter (like etcd's revision), and the event history watches replay.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::util::{Rng, name_of, namespace_of};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct Event {
    pub rv: u64,
    /// Group-resource, e.g. `deployments.apps`.
    pub gr: String,
    pub kind: EventType,
    pub object: Value,
    /// The previous state for MODIFIED, so a watch with a selector can tell an object that
    /// stopped matching (sent as DELETED) from one that started (ADDED).
    pub old: Option<Value>,
}

/// Past events to replay and the receiver of the ones to come.
pub type WatchStart = (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>);

/// How many past events a watch can resume from; older resourceVersions get 410 Gone.
const HISTORY: usize = 4096;

/// Group-resources whose writes invalidate the cached RBAC snapshot / identity sources.
const SECURITY: &[&str] = &[
    "roles.rbac.authorization.k8s.io",
    "rolebindings.rbac.authorization.k8s.io",
    "clusterroles.rbac.authorization.k8s.io",
    "clusterrolebindings.rbac.authorization.k8s.io",
];

pub struct Store {
    objects: HashMap<String, BTreeMap<(String, String), Value>>,
    rv: u64,
    history: VecDeque<Arc<Event>>,
    tx: broadcast::Sender<Arc<Event>>,
    pub rng: Rng,
    /// Bumped by writes to RBAC objects, so the authorizer's snapshot is rebuilt only then.
    pub rbac_generation: u64,
    /// Objects removed so far: garbage collection has work only after one is.
    pub removals: u64,
}

impl Store {
    pub fn new(seed: u64) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Store {
            objects: HashMap::new(),
            rv: 1000,
            history: VecDeque::new(),
            tx,
            rng: Rng::new(seed),
            rbac_generation: 0,
            removals: 0,
        }
    }

    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    pub fn get(&self, gr: &str, ns: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(gr)?
            .get(&(ns.to_string(), name.to_string()))
    }

    /// Objects of a group-resource, in one namespace or all, ordered by namespace then name.
    pub fn list(&self, gr: &str, ns: Option<&str>) -> Vec<&Value> {
        let Some(m) = self.objects.get(gr) else {
            return Vec::new();
        };
        match ns {
            None => m.values().collect(),
            Some(ns) => m
                .range((ns.to_string(), String::new())..)
                .take_while(|((n, _), _)| n == ns)
                .map(|(_, v)| v)
                .collect(),
        }
    }

    /// Owned copies, for code that writes while iterating.
    pub fn list_owned(&self, gr: &str, ns: Option<&str>) -> Vec<Value> {
        self.list(gr, ns).into_iter().cloned().collect()
    }

    pub fn group_resources(&self) -> Vec<String> {
        self.objects.keys().cloned().collect()
    }

    fn bump(&mut self, gr: &str) -> u64 {
        self.rv += 1;
        if SECURITY.contains(&gr) {
            self.rbac_generation += 1;
        }
        self.rv
    }

    fn emit(&mut self, gr: &str, kind: EventType, object: &Value, old: Option<Value>) {
        let ev = Arc::new(Event {
            rv: self.rv,
            gr: gr.to_string(),
            kind,
            object: object.clone(),
            old,
        });
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(ev.clone());
        let _ = self.tx.send(ev);
    }

    /// Stores a new object: sets uid, creationTimestamp, generation and resourceVersion.
    /// The caller has checked that it does not exist.
    pub fn create(&mut self, gr: &str, mut obj: Value, now: &str) -> Value {
        let rv = self.bump(gr);
        let uid = self.rng.uid();
        let meta = &mut obj["metadata"];
        if meta
            .get("uid")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            meta["uid"] = json!(uid);
        }
        meta["creationTimestamp"] = json!(now);
        meta["resourceVersion"] = json!(rv.to_string());
        if meta.get("generation").is_none() {
            meta["generation"] = json!(1);
        }
        let key = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        self.emit(gr, EventType::Added, &obj, None);
        self.objects
            .entry(gr.to_string())
            .or_default()
            .insert(key, obj.clone());
        obj
    }

    /// Replaces an existing object with a new resourceVersion. Writes nothing (and returns
    /// the stored object) when nothing changed, as the real server does for no-op updates.
    pub fn update(&mut self, gr: &str, mut obj: Value) -> Value {
        let key = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        let old = self.objects.get(gr).and_then(|m| m.get(&key)).cloned();
        if let Some(old) = &old {
            obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
            if *old == obj {
                return obj;
            }
        }
        let rv = self.bump(gr);
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.emit(gr, EventType::Modified, &obj, old);
        self.objects
            .entry(gr.to_string())
            .or_default()
            .insert(key, obj.clone());
        obj
    }

    pub fn delete(&mut self, gr: &str, ns: &str, name: &str) -> Option<Value> {
        let mut obj = self
            .objects
            .get_mut(gr)?
            .remove(&(ns.to_string(), name.to_string()))?;
        let rv = self.bump(gr);
        self.removals += 1;
        obj["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.emit(gr, EventType::Deleted, &obj, None);
        Some(obj)
    }

    /// Events after `rv` (for a watch resuming there) and a receiver for the ones to come.
    /// `None` when `rv` is older than the history kept: the client must re-list (410 Gone).
    pub fn watch_from(&self, rv: u64) -> Option<WatchStart> {
        let oldest = self.history.front().map(|e| e.rv).unwrap_or(self.rv + 1);
        if rv + 1 < oldest && rv < self.rv {
            return None;
        }
        let past = self.history.iter().filter(|e| e.rv > rv).cloned().collect();
        Some((past, self.tx.subscribe()))
    }
}
