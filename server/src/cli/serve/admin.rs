//! The admin routes: `POST /api/load` (load, or hot-swap when a model is serving),
//! `POST /api/unload`, `GET /api/models`. They need `--admin-key` (a Bearer token of their
//! own) and are off without it; model paths resolve inside `--models-dir` only.
//!
//! A swap loads the new model beside the old one while the old one keeps serving, then
//! switches atomically. Requests already running on the old model hold it (an `Arc`) and
//! finish on it; its engine thread and memory go when the last of them ends.

use super::error::ApiError;
use super::lifecycle::model_name;
use super::routes::body;
use super::state::{AppState, ModelState};
use salvo::prelude::*;
use serde_json::json;
use std::sync::Arc;

fn check_admin(st: &AppState, req: &Request) -> Result<(), ApiError> {
    let Some(key) = &st.admin_key else {
        return Err(ApiError::not_found(
            "the admin API is off: start the server with --admin-key",
        ));
    };
    super::routes::check_bearer(req, key, "admin key")
}

/// `POST /api/load` `{"model": "name-or-relative-path"}`.
pub struct Load(pub Arc<AppState>);

#[handler]
impl Load {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        #[derive(serde::Deserialize)]
        struct Body {
            model: String,
        }
        let st = Arc::clone(&self.0);
        let r = async {
            check_admin(&st, req)?;
            let b: Body = super::api::parse(&body(&st, req).await?)?;
            let path = st.loader.resolve(&b.model)?;
            let _one = st.admin_lock.lock().await;
            let name = model_name(&path);
            let previous = {
                let mut m = st.model.write().unwrap_or_else(|e| e.into_inner());
                let old = std::mem::replace(&mut *m, ModelState::Unloaded);
                let (next, previous) = match old {
                    ModelState::Ready(old) | ModelState::Swapping { old, .. } => (
                        ModelState::Swapping {
                            old: Arc::clone(&old),
                            new: name.clone(),
                        },
                        Some(old),
                    ),
                    _ => (ModelState::Loading(name.clone()), None),
                };
                *m = next;
                previous
            };
            let loader_state = Arc::clone(&st);
            let loaded = tokio::task::spawn_blocking(move || loader_state.loader.load(&path))
                .await
                .map_err(|e| ApiError::internal(format!("the loader stopped: {e}")))?;
            let mut failures = st.failures.lock().unwrap_or_else(|e| e.into_inner());
            match loaded {
                Ok(served) => {
                    failures.remove(&name);
                    let seconds = served.load_seconds;
                    st.set(ModelState::Ready(Arc::new(served)));
                    Ok(json!({
                        "status": "ready",
                        "model": name,
                        "load_seconds": seconds,
                        "replaced": previous.as_ref().map(|p| p.name.clone()),
                    }))
                }
                Err(e) => {
                    let why = format!("{e:#}");
                    failures.insert(name.clone(), why.clone());
                    // A failed swap keeps the old model serving.
                    st.set(match previous {
                        Some(old) => ModelState::Ready(old),
                        None => ModelState::Failed(why.clone()),
                    });
                    Err(ApiError::load_failed(format!(
                        "cannot load '{name}': {why}"
                    )))
                }
            }
        };
        match r.await {
            Ok(v) => res.render(Json(v)),
            Err(e) => e.write(res),
        }
    }
}

/// `POST /api/unload`: stop serving (running requests finish first).
pub struct Unload(pub Arc<AppState>);

#[handler]
impl Unload {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let st = &self.0;
        let r = async {
            check_admin(st, req)?;
            let _one = st.admin_lock.lock().await;
            let mut m = st.model.write().unwrap_or_else(|e| e.into_inner());
            let old = std::mem::replace(&mut *m, ModelState::Unloaded);
            let name = match &old {
                ModelState::Ready(s) | ModelState::Swapping { old: s, .. } => Some(s.name.clone()),
                _ => None,
            };
            Ok::<_, ApiError>(json!({"status": "unloaded", "model": name}))
        };
        match r.await {
            Ok(v) => res.render(Json(v)),
            Err(e) => e.write(res),
        }
    }
}

/// `GET /api/models`: every model of the models directory with its state.
pub struct List(pub Arc<AppState>);

#[handler]
impl List {
    async fn handle(&self, req: &mut Request, res: &mut Response) {
        let st = &self.0;
        if let Err(e) = check_admin(st, req) {
            return e.write(res);
        }
        let mut names = st.loader.available();
        let (current, current_state, loading) = {
            let m = st.model.read().unwrap_or_else(|e| e.into_inner());
            match &*m {
                ModelState::Ready(s) => (Some(s.name.clone()), "ready", None),
                ModelState::Swapping { old, new } => {
                    (Some(old.name.clone()), "ready", Some(new.clone()))
                }
                ModelState::Loading(n) => (None, "", Some(n.clone())),
                _ => (None, "", None),
            }
        };
        for n in current.iter().chain(&loading) {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        let failures = st.failures.lock().unwrap_or_else(|e| e.into_inner());
        let data: Vec<_> = names
            .iter()
            .map(|n| {
                let state = if current.as_ref() == Some(n) {
                    current_state
                } else if loading.as_ref() == Some(n) {
                    if current.is_some() {
                        "swapping"
                    } else {
                        "loading"
                    }
                } else if failures.contains_key(n) {
                    "failed"
                } else {
                    "unloaded"
                };
                let mut v = json!({"model": n, "state": state});
                if state == "failed" {
                    v["reason"] = json!(failures.get(n));
                }
                v
            })
            .collect();
        res.render(Json(json!({"models": data})));
    }
}
