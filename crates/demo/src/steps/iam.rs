//! iam-sync: an IAM user joins, then leaves, a mapped IAM group; aws-auth `mapUsers` follows
//! IAM (asked afresh per event), and the user's IamUserGroup record says why.
use serde_json::Value;

use testbed::world::repo;

use crate::show;
use crate::stage::{Error, Stage, sample};

const USER: &str = "alice@example.com";
const GROUP: &str = "developers";

/// The sample IamUserGroups, IAM user alice@example.com and group developers (she is not in
/// it yet), iam-sync deployed.
async fn seed(w: &mut Stage) -> Result<aws_sdk_iam::Client, Error> {
    w.world
        .cluster
        .load_manifests(&[repo("infra/k8s/samples/iam-sync-groups.yaml")])?;
    let iam = aws_sdk_iam::Client::new(&w.world.aws);
    iam.create_group().group_name(GROUP).send().await?;
    iam.create_user().user_name(USER).send().await?;
    w.deploy("iam-sync", &[])?;
    Ok(iam)
}

/// [`seed`], with alice@example.com in developers: what iam-sync's events say happened.
pub async fn seed_membership(w: &mut Stage) -> Result<(), Error> {
    let iam = seed(w).await?;
    iam.add_user_to_group()
        .group_name(GROUP)
        .user_name(USER)
        .send()
        .await?;
    Ok(())
}

pub async fn run(w: &mut Stage) -> Result<(), Error> {
    let iam = seed(w).await?;

    show::heading(
        "iam-sync",
        "EventBridge (CloudTrail AddUserToGroup) → aws-auth mapUsers from the group mapping",
    );
    iam.add_user_to_group()
        .group_name(GROUP)
        .user_name(USER)
        .send()
        .await?;
    show::event(
        "events/iam-sync/add-user-to-group.json",
        "alice@example.com joined IAM group developers → Kubernetes group dev-readers",
    );
    show::before(&format!("aws-auth mapUsers: {}", map_users(w)));
    let response = w.invoke(
        "iam-sync",
        &sample("events/iam-sync/add-user-to-group.json")?,
    )?;
    show::decided(&response, 16);
    show::after(&format!("aws-auth mapUsers: {}", map_users(w)));

    iam.remove_user_from_group()
        .group_name(GROUP)
        .user_name(USER)
        .send()
        .await?;
    show::event("events/iam-sync/remove-user-from-group.json", "she left it");
    let response = w.invoke(
        "iam-sync",
        &sample("events/iam-sync/remove-user-from-group.json")?,
    )?;
    show::decided(&response, 16);
    show::after(&format!("aws-auth mapUsers: {}", map_users(w)));
    Ok(())
}

/// The `mapUsers` entries of aws-auth, one line.
fn map_users(w: &Stage) -> String {
    let text = w
        .world
        .cluster
        .get("configmaps", "kube-system", "aws-auth")
        .and_then(|cm| cm["data"]["mapUsers"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let entries: Vec<Value> = serde_saphyr::from_str(&text).unwrap_or_default();
    if entries.is_empty() {
        return "(none)".into();
    }
    entries
        .iter()
        .map(|e| format!("{} as {} in {}", e["userarn"], e["username"], e["groups"]))
        .collect::<Vec<_>>()
        .join("; ")
}
