//! What a run sees, fetched at once: this cluster's worker instances (EC2), its nodes and
//! pods (Kubernetes), the metrics (Prometheus), the last scaling times and the recorded
//! actions (DynamoDB); and the workers as `decide` sees them.
use jiff::Timestamp;

use super::Context;
use crate::cluster::{self, ClusterView, NodeInfo};
use crate::config::Config;
use crate::decide::forecast::History;
use crate::decide::{Observed, Template, Worker, WorkerState};
use crate::ec2::Instance;
use crate::error::Error;
use crate::prometheus::Queries;
use crate::store::{Action, State};

pub(super) struct Observation {
    pub instances: Vec<Instance>,
    pub view: ClusterView,
    pub state: State,
    /// The actions recorded by earlier runs, not yet finished.
    pub actions: Vec<Action>,
    /// `decide`'s input.
    pub observed: Observed,
    pub unjoined: Vec<Unjoined>,
    /// The forecast's history of demand; empty (never read) while it is off.
    pub demand: History,
}

/// An instance that did not become a Ready node within JOIN_TIMEOUT_SEC of its launch.
pub(super) struct Unjoined {
    pub instance: String,
    /// The Node it registered, if it got that far (deleted with the instance).
    pub node: Option<String>,
}

pub(super) async fn observe(
    ctx: &Context,
    kube: &kube::Client,
    prometheus: &str,
    now: Timestamp,
) -> Result<Observation, Error> {
    let c = &ctx.config;
    let queries = Queries {
        cpu: &c.cpu_query,
        pending: c.pending_query.as_deref(),
        idle_down: c.policy.idle_down,
        cpu_down: c.policy.cpu_down,
    };
    let (instances, view, metrics, state, actions, unneeded, demand) = futures_util::try_join!(
        async { ctx.ec2.workers(&c.tags).await.map_err(Error::from) },
        async { cluster::observe(kube).await.map_err(Error::from) },
        async {
            ctx.prometheus
                .metrics(prometheus, &queries, now)
                .await
                .map_err(Error::from)
        },
        async { ctx.store.state().await.map_err(Error::from) },
        async { ctx.store.actions().await.map_err(Error::from) },
        async { ctx.store.unneeded().await.map_err(Error::from) },
        async {
            if !c.forecast.on() {
                return Ok(History::new());
            }
            ctx.store.demand().await.map_err(Error::from)
        },
    )?;
    let (workers, unjoined) = classify(c, &instances, &view, &actions, now);
    let template = Template::learnt(
        ready_nodes(&view, &workers),
        Template::configured(c.worker_cpu_milli, c.worker_memory_bytes),
    );
    let observed = Observed {
        now,
        metrics,
        template,
        unschedulable: view.unschedulable.clone(),
        workers,
        last_up: state.last_up.and_then(|s| Timestamp::from_second(s).ok()),
        last_down: state.last_down.and_then(|s| Timestamp::from_second(s).ok()),
        disruptions_allowed: view.disruptions_allowed.clone(),
        unneeded: unneeded
            .into_iter()
            .filter_map(|(id, t)| Some((id, Timestamp::from_second(t).ok()?)))
            .collect(),
    };
    Ok(Observation {
        instances,
        view,
        state,
        actions,
        observed,
        unjoined,
        demand,
    })
}

/// The Ready workers' nodes as templates (matched by provider id; cordoned ones left out).
fn ready_nodes<'a>(
    view: &'a ClusterView,
    workers: &'a [Worker],
) -> impl Iterator<Item = Template> + 'a {
    view.nodes
        .iter()
        .filter(|n| {
            n.ready
                && !n.unschedulable
                && workers.iter().any(|w| {
                    w.state == WorkerState::Ready
                        && n.instance_id.as_deref() == Some(&w.instance_id)
                })
        })
        .map(|n| n.template())
}

/// Workers as `decide` sees them, and the instances that never joined in time.
pub(super) fn classify(
    c: &Config,
    instances: &[Instance],
    view: &ClusterView,
    actions: &[Action],
    now: Timestamp,
) -> (Vec<Worker>, Vec<Unjoined>) {
    let mut workers = Vec::new();
    let mut unjoined = Vec::new();
    for i in instances {
        let node = view.node_of(i);
        let leaving = actions.iter().any(|a| a.instance_id == i.id);
        let overdue = now.as_second() - i.launched >= c.join_timeout.as_secs() as i64;
        let state = match node {
            _ if leaving => WorkerState::Leaving,
            Some(n) if n.ready => WorkerState::Ready,
            // Registered but never Ready by the join deadline: as good as never joined.
            Some(n) if n.never_ready && overdue => {
                unjoined.push(Unjoined {
                    instance: i.id.clone(),
                    node: Some(n.name.clone()),
                });
                continue;
            }
            Some(_) => WorkerState::NotReady,
            None if !overdue => WorkerState::Joining,
            None => {
                unjoined.push(Unjoined {
                    instance: i.id.clone(),
                    node: None,
                });
                continue;
            }
        };
        workers.push(Worker {
            instance_id: i.id.clone(),
            zone: i.zone.clone(),
            state,
            requested_cpu_milli: node.map_or(0, |n| n.requested_cpu_milli),
            allocatable_cpu_milli: node.map_or(c.worker_cpu_milli, |n| n.allocatable_cpu_milli),
            pods: node.map_or(0, |n| n.pods as u32),
            blocked: node.and_then(|n| {
                if n.unschedulable {
                    Some("node is cordoned".to_owned())
                } else {
                    n.blocked.clone()
                }
            }),
            node: node.map(NodeInfo::detail).unwrap_or_default(),
        });
    }
    (workers, unjoined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ActionKind;

    const NOW: i64 = 1_800_000_000;

    fn instance(id: &str, age: i64) -> Instance {
        Instance {
            id: id.into(),
            zone: "z".into(),
            private_ip: None,
            private_dns: None,
            launched: NOW - age,
            state: "running".into(),
            spot: true,
            tags: vec![],
        }
    }

    fn node(name: &str, id: &str, ready: bool, never_ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            uid: format!("uid-{name}"),
            instance_id: Some(id.into()),
            internal_ip: None,
            ready,
            never_ready,
            unschedulable: false,
            allocatable_cpu_milli: 4000,
            allocatable_memory_bytes: 8 << 30,
            allocatable_pods: None,
            labels: Default::default(),
            taints: Vec::new(),
            requested_cpu_milli: 300,
            requested_memory_bytes: 0,
            residents: Vec::new(),
            blocked: None,
            pods: 1,
        }
    }

    #[test]
    fn instances_become_workers_or_orphans() {
        let c = Config::from_env(lambda_support::Env::from_pairs(
            crate::config::tests::minimal(),
        ))
        .unwrap();
        let late = c.join_timeout.as_secs() as i64;
        let mut cordoned = node("n-cordoned", "i-cordoned", true, false);
        cordoned.unschedulable = true;
        let mut blocked = node("n-blocked", "i-blocked", true, false);
        blocked.blocked = Some("no PDB".into());
        let view = ClusterView {
            nodes: vec![
                node("n-ready", "i-ready", true, false),
                node("n-failed", "i-failed", false, false),
                node("n-never", "i-never", false, true),
                node("n-young", "i-young", false, true),
                node("n-leaving", "i-leaving", true, false),
                cordoned,
                blocked,
            ],
            ..ClusterView::default()
        };
        let instances = [
            instance("i-ready", late),
            instance("i-failed", late),
            instance("i-never", late),
            instance("i-young", 60),
            instance("i-joining", late - 1),
            instance("i-lost", late),
            instance("i-leaving", late),
            instance("i-cordoned", late),
            instance("i-blocked", late),
        ];
        let actions = [crate::apply::action::record(
            "i-leaving",
            "n-leaving",
            ActionKind::ScaleDown,
            "periodic",
            "idle".into(),
            Timestamp::from_second(NOW).unwrap(),
            c.drain_timeout,
        )];
        let now = Timestamp::from_second(NOW).unwrap();
        let (workers, unjoined) = classify(&c, &instances, &view, &actions, now);
        let seen: Vec<_> = workers
            .iter()
            .map(|w| {
                let cpu = (w.requested_cpu_milli, w.allocatable_cpu_milli);
                (w.instance_id.as_str(), w.state, cpu, w.blocked.as_deref())
            })
            .collect();
        use WorkerState::*;
        let on_node = (300, 4000);
        assert_eq!(
            seen,
            [
                ("i-ready", Ready, on_node, None),
                ("i-failed", NotReady, on_node, None),
                ("i-young", NotReady, on_node, None),
                ("i-joining", Joining, (0, c.worker_cpu_milli), None),
                ("i-leaving", Leaving, on_node, None),
                ("i-cordoned", Ready, on_node, Some("node is cordoned")),
                ("i-blocked", Ready, on_node, Some("no PDB")),
            ]
        );
        let orphans: Vec<_> = unjoined
            .iter()
            .map(|u| (u.instance.as_str(), u.node.as_deref()))
            .collect();
        assert_eq!(orphans, [("i-never", Some("n-never")), ("i-lost", None)]);
        let nodes: Vec<_> = ready_nodes(&view, &workers).collect();
        assert_eq!(
            nodes.len(),
            2,
            "Ready, schedulable workers' nodes only: {nodes:?}"
        );
    }
}
