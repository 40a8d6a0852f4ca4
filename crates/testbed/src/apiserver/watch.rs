//! `?watch=true`: newline-delimited JSON events streamed from the store's history and its
//! broadcast channel, filtered by namespace and selectors, ended by `timeoutSeconds`.
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::handlers::output;
use super::registry::ResourceType;
use super::selectors::{FieldSelector, Selector};
use super::status::ApiError;
use super::store::{Event, EventType, WatchStart};
use super::util::namespace_of;

pub struct WatchSpec {
    pub rt: ResourceType,
    pub version: String,
    pub namespace: Option<String>,
    pub label: Selector,
    pub field: FieldSelector,
    /// Current objects to send first as ADDED (no resourceVersion given).
    pub initial: Vec<Value>,
    /// Past events after the requested resourceVersion and the live feed; `None` = too old.
    pub stream: Option<WatchStart>,
    pub timeout: Duration,
    /// `sendInitialEvents=true`: end the initial burst with this bookmark.
    pub bookmark_rv: Option<u64>,
}

/// A response body fed by a channel, so a task can stream events as they happen.
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn line(kind: &str, object: Value) -> Bytes {
    let mut s = json!({"type": kind, "object": object}).to_string();
    s.push('\n');
    Bytes::from(s)
}

impl WatchSpec {
    fn selected(&self, o: &Value) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|ns| namespace_of(o) == ns)
            && self.label.matches(o)
            && self.field.matches(o)
    }

    /// The event to send for a store event, if any (selector transitions become ADDED or
    /// DELETED, as the real watch cache reports them).
    fn translate(&self, ev: &Event) -> Option<Bytes> {
        if ev.gr != self.rt.gr() {
            return None;
        }
        let now = self.selected(&ev.object);
        let kind = match (ev.kind, &ev.old) {
            (EventType::Modified, Some(old)) => match (self.selected(old), now) {
                (true, true) => EventType::Modified,
                (false, true) => EventType::Added,
                (true, false) => EventType::Deleted,
                (false, false) => return None,
            },
            (k, _) if now => k,
            _ => return None,
        };
        Some(line(
            kind.as_str(),
            output(&self.rt, &self.version, ev.object.clone()),
        ))
    }

    /// Starts the streaming task and returns the body it feeds.
    pub fn spawn(mut self) -> ChannelBody {
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(async move {
            let Some((past, mut live)) = self.stream.take() else {
                let e = ApiError::new(410, "Expired", "too old resource version");
                let _ = tx.send(line("ERROR", e.to_status())).await;
                return;
            };
            let mut last_rv = 0;
            for o in &self.initial {
                if tx.send(line("ADDED", o.clone())).await.is_err() {
                    return;
                }
            }
            if let Some(rv) = self.bookmark_rv {
                let b = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(&self.version),
                    "metadata": {"resourceVersion": rv.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
                if tx.send(line("BOOKMARK", b)).await.is_err() {
                    return;
                }
            }
            for ev in past {
                last_rv = ev.rv;
                if let Some(b) = self.translate(&ev)
                    && tx.send(b).await.is_err()
                {
                    return;
                }
            }
            let deadline = tokio::time::sleep(self.timeout);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => return,
                    _ = tx.closed() => return,
                    ev = live.recv() => match ev {
                        Ok(ev) => {
                            if ev.rv <= last_rv {
                                continue;
                            }
                            if let Some(b) = self.translate(&ev)
                                && tx.send(b).await.is_err()
                            {
                                return;
                            }
                        }
                        // A slow watcher lost events: end the watch so the client re-lists.
                        Err(_) => return,
                    }
                }
            }
        });
        ChannelBody(rx)
    }
}
