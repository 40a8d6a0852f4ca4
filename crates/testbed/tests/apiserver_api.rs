//! Conformance of the testbed API server through kube-rs: CRUD and its error statuses,
//! pagination, selectors, patch kinds, scale and status subresources, CRDs, watch, faults.
mod apiserver_support;

use std::time::{Duration, Instant};

use apiserver_support::{api_err, client_no_retry, deployment, start};
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};
use testbed::apiserver::{FaultAction, FaultConfig, FaultRule};

fn cm(name: &str, labels: Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_conflict_not_found_invalid() {
    let tb = start(&[]).await;
    let api: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "default");
    let pp = PostParams::default();

    let created = api.create(&pp, &cm("a", json!({}))).await.unwrap();
    let rv1 = created.metadata.resource_version.clone().unwrap();
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());

    let (code, reason, msg) = api_err(api.create(&pp, &cm("a", json!({}))).await);
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (409, "AlreadyExists", "configmaps \"a\" already exists")
    );

    let mut fresh = api.get("a").await.unwrap();
    fresh.data = Some([("k".to_string(), "w".to_string())].into());
    let updated = api.replace("a", &pp, &fresh).await.unwrap();
    assert_ne!(
        updated.metadata.resource_version.as_deref(),
        Some(rv1.as_str())
    );
    // Replacing with the old resourceVersion is a conflict.
    let (code, reason, msg) = api_err(api.replace("a", &pp, &fresh).await);
    assert_eq!((code, reason.as_str()), (409, "Conflict"));
    assert!(msg.contains("the object has been modified"), "{msg}");

    let (code, reason, msg) = api_err(api.get("nope").await);
    assert_eq!(
        (code, reason.as_str(), msg.as_str()),
        (404, "NotFound", "configmaps \"nope\" not found")
    );

    let (code, reason, msg) = api_err(api.create(&pp, &cm("Bad_Name", json!({}))).await);
    assert_eq!((code, reason.as_str()), (422, "Invalid"), "{msg}");
    assert!(
        msg.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name"),
        "{msg}"
    );

    let pods: Api<Pod> = Api::namespaced(tb.kube_client_admin(), "default");
    let empty: Pod =
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}))
            .unwrap();
    let (code, _, msg) = api_err(pods.create(&pp, &empty).await);
    assert_eq!(code, 422, "{msg}");
    assert!(msg.contains("spec.containers: Required value"), "{msg}");

    let deps: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    let mut d = deployment("neg", -1, "10m");
    let (code, _, msg) = api_err(deps.create(&pp, &d).await);
    assert_eq!(code, 422, "{msg}");
    assert!(msg.contains("spec.replicas: Invalid value: -1"), "{msg}");
    d.spec.as_mut().unwrap().replicas = Some(1);
    d.spec
        .as_mut()
        .unwrap()
        .template
        .metadata
        .as_mut()
        .unwrap()
        .labels = Some([("app".to_string(), "other".to_string())].into());
    let (code, _, msg) = api_err(deps.create(&pp, &d).await);
    assert_eq!(code, 422, "{msg}");
    assert!(
        msg.contains("`selector` does not match template `labels`"),
        "{msg}"
    );

    // Into a namespace that does not exist: 404 on the namespace.
    let other: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "ghost");
    let (code, _, msg) = api_err(other.create(&pp, &cm("x", json!({}))).await);
    assert_eq!(
        (code, msg.as_str()),
        (404, "namespaces \"ghost\" not found")
    );

    api.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(api_err(api.get("a").await).0, 404);
    assert_eq!(
        api_err(api.delete("a", &DeleteParams::default()).await).0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_and_selectors() {
    let tb = start(&[]).await;
    let api: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "default");
    for i in 0..7 {
        let tier = if i % 2 == 0 { "fe" } else { "be" };
        let labels = if i == 6 {
            json!({"app": "x"})
        } else {
            json!({"app": "x", "tier": tier})
        };
        api.create(&PostParams::default(), &cm(&format!("c{i}"), labels))
            .await
            .unwrap();
    }
    // limit/continue: three pages of 3, 3, 1 covering everything once.
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(3);
    let mut pages = 0;
    loop {
        let page = api.list(&lp).await.unwrap();
        pages += 1;
        seen.extend(page.items.iter().map(|c| c.metadata.name.clone().unwrap()));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(c) => lp = ListParams::default().limit(3).continue_token(&c),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());

    let names = |l: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .into_iter()
            .map(|c| c.metadata.name.unwrap())
            .collect()
    };
    for (sel, want) in [
        ("tier=fe", vec!["c0", "c2", "c4"]),
        ("tier!=fe", vec!["c1", "c3", "c5", "c6"]),
        (
            "tier in (fe,be),app=x",
            vec!["c0", "c1", "c2", "c3", "c4", "c5"],
        ),
        ("tier notin (fe)", vec!["c1", "c3", "c5", "c6"]),
        ("!tier", vec!["c6"]),
        ("tier", vec!["c0", "c1", "c2", "c3", "c4", "c5"]),
    ] {
        assert_eq!(
            names(api.list(&ListParams::default().labels(sel)).await.unwrap()),
            want,
            "{sel}"
        );
    }
    assert_eq!(
        names(
            api.list(&ListParams::default().fields("metadata.name=c3"))
                .await
                .unwrap()
        ),
        vec!["c3"]
    );
    assert_eq!(
        api.list(&ListParams::default().fields("metadata.name!=c3"))
            .await
            .unwrap()
            .items
            .len(),
        6
    );
    let (code, _, msg) = api_err(api.list(&ListParams::default().fields("data.k=v")).await);
    assert_eq!(
        (code, msg.as_str()),
        (400, "field label not supported: data.k")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_kinds() {
    let tb = start(&["n1"]).await;
    let api: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    api.create(&PostParams::default(), &deployment("web", 1, "10m"))
        .await
        .unwrap();
    let pp = PatchParams::default();

    let d = api
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    assert_eq!(
        d.metadata.generation,
        Some(2),
        "spec change bumps generation"
    );
    assert_eq!(d.metadata.labels.unwrap()["a"], "1");

    // JSON patch (kube is built without its jsonpatch feature: send it raw).
    let client = tb.kube_client_admin();
    let json_patch = |ops: Value| {
        http::Request::patch("/apis/apps/v1/namespaces/default/deployments/web")
            .header("content-type", "application/json-patch+json")
            .body(ops.to_string().into_bytes())
            .unwrap()
    };
    let d: Deployment = client
        .request(json_patch(json!([
            {"op": "test", "path": "/spec/replicas", "value": 2},
            {"op": "replace", "path": "/spec/replicas", "value": 3}
        ])))
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    let failing = json_patch(json!([{"op": "test", "path": "/spec/replicas", "value": 9}]));
    assert_eq!(api_err(client.request::<Deployment>(failing).await).0, 422);

    // Strategic merge: containers merge by name (the sidecar is added, "app" kept).
    let d = api
        .patch(
            "web",
            &pp,
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1"}, {"name": "app", "image": "nginx:1.28"}]}}}})),
        )
        .await
        .unwrap();
    let cs = d.spec.unwrap().template.spec.unwrap().containers;
    let got: Vec<(String, Option<String>)> = cs.into_iter().map(|c| (c.name, c.image)).collect();
    assert_eq!(
        got,
        vec![
            ("app".into(), Some("nginx:1.28".into())),
            ("sidecar".into(), Some("busybox:1".into()))
        ]
    );

    // A merge patch carrying a stale resourceVersion is a conflict.
    let stale =
        Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}));
    assert_eq!(api_err(api.patch("web", &pp, &stale).await).0, 409);

    // Server-side apply: creates, then merges; without fieldManager it is refused.
    let cms: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "default");
    let ap = PatchParams::apply("tests").force();
    let c = cms
        .patch(
            "applied",
            &ap,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(c.data.unwrap()["a"], "1");
    let c = cms
        .patch(
            "applied",
            &ap,
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "applied"}, "data": {"b": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(c.data.unwrap().len(), 2);
    let no_manager = PatchParams::default();
    assert_eq!(
        api_err(
            cms.patch("applied", &no_manager, &Patch::Apply(json!({"data": {}})))
                .await
        )
        .0,
        400
    );

    // Cordon as kubectl does it (strategic merge on a node).
    let nodes: Api<Node> = Api::all(tb.kube_client_admin());
    let n = nodes
        .patch(
            "n1",
            &pp,
            &Patch::Strategic(json!({"spec": {"unschedulable": true}})),
        )
        .await
        .unwrap();
    assert_eq!(n.spec.unwrap().unschedulable, Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_status_subresources() {
    let tb = start(&["n1"]).await;
    let api: Api<Deployment> = Api::namespaced(tb.kube_client_admin(), "default");
    api.create(&PostParams::default(), &deployment("web", 2, "10m"))
        .await
        .unwrap();
    let s = api.get_scale("web").await.unwrap();
    assert_eq!(s.spec.as_ref().unwrap().replicas, Some(2));
    assert_eq!(
        s.status.as_ref().unwrap().selector.as_deref(),
        Some("app=web")
    );

    let s2 = api
        .patch_scale(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(s2.spec.unwrap().replicas, Some(4));
    assert_eq!(
        api.get("web").await.unwrap().spec.unwrap().replicas,
        Some(4)
    );
    // Replacing the scale with the resourceVersion it had before is a conflict.
    let (code, _, _) = api_err(api.replace_scale("web", &PostParams::default(), &s).await);
    assert_eq!(code, 409);
    let mut cur = api.get_scale("web").await.unwrap();
    cur.spec.as_mut().unwrap().replicas = Some(1);
    assert_eq!(
        api.replace_scale("web", &PostParams::default(), &cur)
            .await
            .unwrap()
            .spec
            .unwrap()
            .replicas,
        Some(1)
    );
    let neg = Patch::Merge(json!({"spec": {"replicas": -1}}));
    assert_eq!(
        api_err(api.patch_scale("web", &PatchParams::default(), &neg).await).0,
        422
    );

    // Main endpoint ignores status; the status endpoint ignores spec.
    let d = api
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"replicas": 99}})),
        )
        .await
        .unwrap();
    assert_ne!(d.status.unwrap().replicas, Some(99));
    let d = api
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"observedGeneration": 1000}})),
        )
        .await
        .unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(1));
}

fn crd(scope: &str, plural: &str, kind: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {
            "group": "example.com", "scope": scope,
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "shortNames": ["w"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["replicas"], "properties": {
                        "replicas": {"type": "integer", "minimum": 0},
                        "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"}}},
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}, "phase": {"type": "string"}}}
                }}}
            }]
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_registers_custom_resources_with_subresources() {
    let tb = start(&[]).await;
    let client = tb.kube_client_admin();
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd("Namespaced", "widgets", "Widget")).unwrap(),
    )
    .await
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let obj = |spec: Value| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": spec, "status": {"phase": "set-on-create"}})).unwrap()
    };
    let (code, _, msg) = api_err(
        api.create(&PostParams::default(), &obj(json!({"replicas": "three"})))
            .await,
    );
    assert_eq!(code, 422, "{msg}");
    assert!(
        msg.contains("spec.replicas in body must be of type integer"),
        "{msg}"
    );
    assert_eq!(
        api_err(
            api.create(&PostParams::default(), &obj(json!({"mode": "fast"})))
                .await
        )
        .0,
        422,
        "required"
    );

    let w = api
        .create(
            &PostParams::default(),
            &obj(json!({"replicas": 2, "unknown": true})),
        )
        .await
        .unwrap();
    assert_eq!(
        w.data["spec"],
        json!({"replicas": 2, "mode": "slow"}),
        "pruned and defaulted"
    );
    assert!(
        w.data.get("status").is_none(),
        "status is not set through create"
    );

    // Status only through /status; spec changes there are ignored.
    let w = api
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"replicas": 9}, "status": {"replicas": 2, "phase": "Ready"}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            w.data["spec"]["replicas"].clone(),
            w.data["status"]["phase"].clone()
        ),
        (json!(2), json!("Ready"))
    );
    let w = api
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Nope"}, "spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            w.data["spec"]["replicas"].clone(),
            w.data["status"]["phase"].clone()
        ),
        (json!(3), json!("Ready"))
    );
    assert_eq!(w.metadata.generation, Some(2));

    // Scale subresource of the custom resource.
    let s = api.get_scale("w1").await.unwrap();
    assert_eq!(
        (s.spec.unwrap().replicas, s.status.unwrap().replicas),
        (Some(3), 2)
    );
    api.patch_scale(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 5}})),
    )
    .await
    .unwrap();
    assert_eq!(api.get("w1").await.unwrap().data["spec"]["replicas"], 5);

    // Discovery shows it; deleting the CRD removes the resource and its objects.
    let d = kube::Discovery::new(client.clone()).run().await.unwrap();
    assert!(d.groups().any(|g| g.name() == "example.com"));
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_err(api.get("w1").await).0, 404);
    assert!(tb.list("widgets.example.com", None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_changes() {
    let tb = start(&[]).await;
    let api: Api<ConfigMap> = Api::namespaced(tb.kube_client_admin(), "default");
    let list = api.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = api
        .watch(&WatchParams::default().labels("w=1").timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("w", json!({"w": "1"})))
        .await
        .unwrap();
    api.create(&PostParams::default(), &cm("unwatched", json!({})))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "y"}})),
    )
    .await
    .unwrap();
    // Losing the label reads as DELETED to a watch with that selector.
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"w": null}}})),
    )
    .await
    .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
            .await
            .expect("event in time")
            .unwrap()
            .unwrap();
        kinds.push(match ev {
            WatchEvent::Added(c) => format!("ADDED {}", c.metadata.name.unwrap()),
            WatchEvent::Modified(c) => format!("MODIFIED {}", c.metadata.name.unwrap()),
            WatchEvent::Deleted(c) => format!("DELETED {}", c.metadata.name.unwrap()),
            other => format!("{other:?}"),
        });
    }
    assert_eq!(kinds, ["ADDED w", "MODIFIED w", "DELETED w"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_and_authentication() {
    let tb = start(&[]).await;
    let api: Api<ConfigMap> = Api::namespaced(client_no_retry(&tb), "default");
    api.create(&PostParams::default(), &cm("f", json!({})))
        .await
        .unwrap();
    tb.set_faults(FaultConfig {
        seed: 3,
        rules: vec![
            FaultRule::new(FaultAction::Error {
                code: 500,
                message: None,
            })
            .verbs(&["get"])
            .resources(&["configmaps"])
            .max_count(1),
            FaultRule::new(FaultAction::Error {
                code: 429,
                message: None,
            })
            .verbs(&["list"])
            .max_count(1),
            FaultRule::new(FaultAction::Latency { ms: 300 })
                .verbs(&["patch"])
                .max_count(1),
            FaultRule::new(FaultAction::Drop)
                .verbs(&["delete"])
                .max_count(1),
        ],
    });
    assert_eq!(api_err(api.get("f").await).0, 500);
    api.get("f").await.expect("max_count spent");
    let (code, reason, _) = api_err(api.list(&ListParams::default()).await);
    assert_eq!((code, reason.as_str()), (429, "TooManyRequests"));
    let began = Instant::now();
    api.patch(
        "f",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    assert!(
        began.elapsed() >= Duration::from_millis(300),
        "latency injected"
    );
    match api.delete("f", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => panic!("a dropped connection is not an API status: {s:?}"),
        Err(_) => {}
        Ok(_) => panic!("the delete should have lost its connection"),
    }
    assert_eq!(tb.faults_fired(), vec![1, 1, 1, 1]);
    tb.clear_faults();

    // The same through the admin endpoint, which only the admin token may use.
    let client = tb.kube_client_admin();
    let body = json!({"seed": 1, "rules": [{"verbs": ["get"], "resources": ["configmaps"], "action": {"type": "error", "code": 409}}]});
    let req = http::Request::put("/testbed/v1/faults")
        .body(body.to_string().into_bytes())
        .unwrap();
    client.request_text(req).await.unwrap();
    assert_eq!(api_err(api.get("f").await).0, 409);
    let req = http::Request::delete("/testbed/v1/faults")
        .body(Vec::new())
        .unwrap();
    client.request_text(req).await.unwrap();
    api.get("f").await.unwrap();

    // Clock through the admin endpoint.
    let before = tb.now();
    let req = http::Request::post("/testbed/v1/clock")
        .body(json!({"advanceSeconds": 3600}).to_string().into_bytes())
        .unwrap();
    let out: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert!(out["offsetSeconds"].as_f64().unwrap() >= 3600.0);
    assert!((tb.now() - before).get_seconds() >= 3600);

    // A wrong token is a 401 Status.
    let stranger: Api<ConfigMap> =
        Api::namespaced(tb.kube_client_with_token("not-a-token"), "default");
    let (code, reason, _) = api_err(stranger.get("f").await);
    assert_eq!((code, reason.as_str()), (401, "Unauthorized"));
}
