//! Durable state in DynamoDB (`STATE_TABLE`, partition key `pk`, a string) and the decision
//! log (`LOGS_TABLE`, keys `pk` = day and `sk` = time + event id, TTL attribute
//! `expires_at`).
//!
//! Items of `STATE_TABLE`:
//! - `lease#<key>`: `owner`, `expires_at` (Unix s), `fence` (incremented by every
//!   acquisition). Taken when free or expired (conditional update); an expired lease is
//!   taken over and its fence moves on, so the former holder's writes fail.
//! - `state`: `last_up`, `last_down` (Unix s).
//! - `unneeded`: `since`, when each worker became unneeded (instance id → Unix s).
//! - `demand`: `slots`, the pod slots asked by the minute (Unix s → slots), the forecast's
//!   history (`decide::forecast`); only while `FORECAST_PERIOD_SEC` is set. At most a day
//!   of one sample a minute (~30 KB): within DynamoDB's 400 KB an item.
//! - `action#<instance id>`: a multi-step action in progress (`kind`, `node`, `step`,
//!   `started`, `deadline`, `lease`, `reason`), so the next run resumes or rolls it back.
//!
//! Every write of `state` and `action#…` is a transaction with a condition check on the
//! writer's lease (`owner` and `fence` unchanged): fenced.
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
};
use jiff::Timestamp;
use lambda_support::aws::LazyClient;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} on {table}: {message}")]
    Api {
        op: &'static str,
        table: String,
        message: String,
    },
    #[error("lease {key} lost (taken over by a later holder): write refused")]
    Fenced { key: String },
    #[error("item {pk} in {table}: field `{field}` missing or invalid")]
    Corrupt {
        table: String,
        pk: String,
        field: &'static str,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: String,
    pub fence: i64,
    pub expires: i64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub last_up: Option<i64>,
    pub last_down: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    ScaleDown,
    SpotInterruption,
    Rebalance,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::ScaleDown => "scale_down",
            ActionKind::SpotInterruption => "spot_interruption",
            ActionKind::Rebalance => "rebalance",
        }
    }
    fn parse(s: &str) -> Option<ActionKind> {
        [
            ActionKind::ScaleDown,
            ActionKind::SpotInterruption,
            ActionKind::Rebalance,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// cordon → drain → terminate of one worker, recorded before the first step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Action {
    pub instance_id: String,
    pub node: String,
    pub kind: ActionKind,
    /// `draining` (cordoned, evicting) or `terminating` (drained; terminate and delete the
    /// Node).
    pub step: String,
    pub started: i64,
    pub deadline: i64,
    /// The lease the action runs under (`periodic` or `spot#<instance>`).
    pub lease: String,
    pub reason: String,
}

#[derive(Clone)]
pub struct Store {
    ddb: LazyClient<Client>,
    table: String,
    logs: String,
    log_ttl: Duration,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &HashMap<String, AttributeValue>, k: &str) -> Option<String> {
    item.get(k).and_then(|v| v.as_s().ok()).cloned()
}
fn get_n(item: &HashMap<String, AttributeValue>, k: &str) -> Option<i64> {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

impl Store {
    pub fn new(
        ddb: impl Into<LazyClient<Client>>,
        table: String,
        logs: String,
        log_ttl: Duration,
    ) -> Store {
        Store {
            ddb: ddb.into(),
            table,
            logs,
            log_ttl,
        }
    }

    fn api<E: std::error::Error + 'static>(
        &self,
        op: &'static str,
    ) -> impl Fn(E) -> StoreError + '_ {
        move |e| StoreError::Api {
            op,
            table: self.table.clone(),
            message: DisplayErrorContext(&e).to_string(),
        }
    }

    /// Takes `lease#<key>` for `ttl` when it is free or expired; `None` when someone else
    /// holds it.
    pub async fn acquire(
        &self,
        key: &str,
        owner: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let now_s = now.as_second();
        let expires = now_s + ttl.as_secs() as i64;
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("lease#{key}")))
            .update_expression(
                "SET #owner = :owner, expires_at = :expires, fence = if_not_exists(fence, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(pk) OR expires_at <= :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":expires", n(expires))
            .expression_attribute_values(":now", n(now_s))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                let fence = get_n(&item, "fence").ok_or_else(|| StoreError::Corrupt {
                    table: self.table.clone(),
                    pk: format!("lease#{key}"),
                    field: "fence",
                })?;
                Ok(Some(Lease {
                    key: key.to_owned(),
                    owner: owner.to_owned(),
                    fence,
                    expires,
                }))
            }
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(None),
            Err(e) => Err(self.api("UpdateItem")(e)),
        }
    }

    /// Who holds `lease#<key>` and until when (for logs).
    pub async fn holder(&self, key: &str) -> Result<Option<(String, i64)>, StoreError> {
        let item = self.get(&format!("lease#{key}")).await?;
        Ok(item.and_then(|i| Some((get_s(&i, "owner")?, get_n(&i, "expires_at")?))))
    }

    /// Ends the lease early (expires now), if still ours.
    pub async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("lease#{}", lease.key)))
            .update_expression("SET expires_at = :zero")
            .condition_expression("#owner = :owner AND fence = :fence")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":fence", n(lease.fence))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(()),
            Err(e) => Err(self.api("UpdateItem")(e)),
        }
    }

    async fn get(&self, pk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(self.api("GetItem"))?;
        Ok(out.item().cloned())
    }

    pub async fn state(&self) -> Result<State, StoreError> {
        let item = self.get("state").await?.unwrap_or_default();
        Ok(State {
            last_up: get_n(&item, "last_up"),
            last_down: get_n(&item, "last_down"),
        })
    }

    fn fence_check(&self, lease: &Lease) -> TransactWriteItem {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key("pk", s(format!("lease#{}", lease.key)))
            .condition_expression("#owner = :owner AND fence = :fence")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&lease.owner))
            .expression_attribute_values(":fence", n(lease.fence))
            .build()
            .expect("table, key and condition are set");
        TransactWriteItem::builder().condition_check(check).build()
    }

    async fn fenced(&self, lease: &Lease, write: TransactWriteItem) -> Result<(), StoreError> {
        let out = self
            .ddb
            .transact_write_items()
            .transact_items(self.fence_check(lease))
            .transact_items(write)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e)
                if e.code() == Some("TransactionCanceledException")
                    && DisplayErrorContext(&e)
                        .to_string()
                        .contains("ConditionalCheckFailed") =>
            {
                Err(StoreError::Fenced {
                    key: lease.key.clone(),
                })
            }
            Err(e) => Err(self.api("TransactWriteItems")(e)),
        }
    }

    pub async fn put_state(&self, lease: &Lease, state: State) -> Result<(), StoreError> {
        let mut put = Put::builder()
            .table_name(&self.table)
            .item("pk", s("state"));
        if let Some(t) = state.last_up {
            put = put.item("last_up", n(t));
        }
        if let Some(t) = state.last_down {
            put = put.item("last_down", n(t));
        }
        let put = put.build().expect("table and item are set");
        self.fenced(lease, TransactWriteItem::builder().put(put).build())
            .await
    }

    /// When each worker became unneeded (instance id → epoch seconds), as the last run's
    /// decision said (scale-down by simulation: `decide::down`). Item `unneeded`.
    pub async fn unneeded(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        self.map_item("unneeded", "since").await
    }

    pub async fn put_unneeded(
        &self,
        lease: &Lease,
        since: &BTreeMap<String, i64>,
    ) -> Result<(), StoreError> {
        self.put_map_item(lease, "unneeded", "since", since).await
    }

    /// The forecast's history of demand (`decide::forecast::History`). Item `demand`.
    pub async fn demand(&self) -> Result<BTreeMap<i64, u64>, StoreError> {
        self.map_item("demand", "slots").await
    }

    /// Replaces the history (already trimmed to what is read by `forecast::record`).
    pub async fn put_demand(
        &self,
        lease: &Lease,
        slots: &BTreeMap<i64, u64>,
    ) -> Result<(), StoreError> {
        self.put_map_item(lease, "demand", "slots", slots).await
    }

    /// Item `pk`'s map attribute `attr` of numbers; an entry that does not parse is skipped
    /// (the item is ours: only a hand edit could make one).
    async fn map_item<K: FromStr + Ord, V: FromStr>(
        &self,
        pk: &str,
        attr: &str,
    ) -> Result<BTreeMap<K, V>, StoreError> {
        let item = self.get(pk).await?.unwrap_or_default();
        let map = item.get(attr).and_then(|v| v.as_m().ok());
        Ok(map
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v.as_n().ok()?.parse().ok()?)))
            .collect())
    }

    /// Replaces item `pk` with `map` as its map attribute `attr` of numbers, fenced.
    async fn put_map_item<K: ToString, V: ToString>(
        &self,
        lease: &Lease,
        pk: &str,
        attr: &str,
        map: &BTreeMap<K, V>,
    ) -> Result<(), StoreError> {
        let m = map
            .iter()
            .map(|(k, v)| (k.to_string(), AttributeValue::N(v.to_string())))
            .collect();
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(pk))
            .item(attr, AttributeValue::M(m))
            .build()
            .expect("table and item are set");
        self.fenced(lease, TransactWriteItem::builder().put(put).build())
            .await
    }

    pub async fn put_action(&self, lease: &Lease, a: &Action) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("action#{}", a.instance_id)))
            .item("node", s(&a.node))
            .item("kind", s(a.kind.as_str()))
            .item("step", s(&a.step))
            .item("started", n(a.started))
            .item("deadline", n(a.deadline))
            .item("lease", s(&a.lease))
            .item("reason", s(&a.reason))
            .build()
            .expect("table and item are set");
        self.fenced(lease, TransactWriteItem::builder().put(put).build())
            .await
    }

    pub async fn delete_action(&self, lease: &Lease, instance_id: &str) -> Result<(), StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(format!("action#{instance_id}")))
            .build()
            .expect("table and key are set");
        self.fenced(lease, TransactWriteItem::builder().delete(delete).build())
            .await
    }

    /// Every recorded action (a scan: the table holds a handful of items).
    pub async fn actions(&self) -> Result<Vec<Action>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :prefix)")
                .expression_attribute_values(":prefix", s("action#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(self.api("Scan"))?;
            for item in page.items() {
                let pk = get_s(item, "pk").unwrap_or_default();
                let corrupt = |field| StoreError::Corrupt {
                    table: self.table.clone(),
                    pk: pk.clone(),
                    field,
                };
                out.push(Action {
                    instance_id: pk.trim_start_matches("action#").to_owned(),
                    node: get_s(item, "node").ok_or_else(|| corrupt("node"))?,
                    kind: get_s(item, "kind")
                        .and_then(|k| ActionKind::parse(&k))
                        .ok_or_else(|| corrupt("kind"))?,
                    step: get_s(item, "step").ok_or_else(|| corrupt("step"))?,
                    started: get_n(item, "started").ok_or_else(|| corrupt("started"))?,
                    deadline: get_n(item, "deadline").ok_or_else(|| corrupt("deadline"))?,
                    lease: get_s(item, "lease").ok_or_else(|| corrupt("lease"))?,
                    reason: get_s(item, "reason").unwrap_or_default(),
                });
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                out.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
                return Ok(out);
            }
        }
    }

    /// One decision-log item; its `expires_at` lets DynamoDB's TTL delete it.
    pub async fn log(
        &self,
        now: Timestamp,
        event_id: &str,
        record: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let day = now.strftime("%Y-%m-%d").to_string();
        let mut put = self
            .ddb
            .put_item()
            .table_name(&self.logs)
            .item("pk", s(day))
            .item("sk", s(format!("{now}#{event_id}")))
            .item(
                "expires_at",
                n(now.as_second() + self.log_ttl.as_secs() as i64),
            );
        if let Some(fields) = record.as_object() {
            for (k, v) in fields {
                if matches!(k.as_str(), "pk" | "sk" | "expires_at") {
                    continue;
                }
                let value = match v {
                    serde_json::Value::String(t) => s(t),
                    serde_json::Value::Number(x) => AttributeValue::N(x.to_string()),
                    serde_json::Value::Bool(b) => AttributeValue::Bool(*b),
                    serde_json::Value::Null => continue,
                    other => s(other.to_string()),
                };
                put = put.item(k, value);
            }
        }
        put.send().await.map_err(|e| StoreError::Api {
            op: "PutItem",
            table: self.logs.clone(),
            message: DisplayErrorContext(&e).to_string(),
        })?;
        Ok(())
    }
}
