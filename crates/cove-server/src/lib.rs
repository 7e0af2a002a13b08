//! Cove's HTTP edge: the JSON API (one router per capability), the console
//! at `/admin`, the storefront at `/`, health, metrics and OpenAPI.
//!
//! [`Server::start`] takes a bound listener so tests can use port 0, and a
//! shutdown future; on shutdown it stops taking requests, lets the ones in
//! flight finish, drains the job worker and closes the database.

pub mod api;
pub mod assets;
pub mod auth;
pub mod customer;
pub mod error;
pub mod jobs;
pub mod metrics;
pub mod pages;
pub mod state;
pub mod telemetry;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::Router;
use cove_core::config::Config;
use cove_core::db::Db;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

/// Largest request body accepted by default (endpoints that need more set their own).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(title = "Cove API", description = "Commerce, membership, service and customer data for a brand's own channels."),
    tags(
        (name = "auth", description = "Sign-in and sessions"),
        (name = "team", description = "Users, API tokens, audit log"),
        (name = "network", description = "Offline stores and resellers"),
        (name = "channels", description = "WeChat accounts, callbacks, QR codes, followers"),
        (name = "membership", description = "Members, tiers, points, member codes"),
        (name = "system", description = "Health and jobs"),
    ),
    components(schemas(error::ErrorBody)),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

/// The whole application router for `state`.
pub fn app(state: AppState) -> Router {
    let mut api = api::router();
    if state.config.clock.adjustable {
        api = api.merge(api::test_clock::router());
    }
    let (api_router, openapi) = utoipa_axum::router::OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api)
        .split_for_parts();
    let openapi_json = openapi.to_pretty_json().unwrap_or_default();
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(api_router)
        .merge(pages::router())
        .route("/metrics", axum::routing::get(metrics::render))
        .route(
            "/openapi.json",
            axum::routing::get(move || async move {
                ([("content-type", "application/json")], openapi_json)
            }),
        )
        .route("/api/docs", axum::routing::get(assets::api_docs))
        .route("/assets/{*path}", axum::routing::get(assets::serve))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError(cove_core::Error::Internal(anyhow::anyhow!(
                "handler panicked"
            )))
            .into_response()
        }))
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                HeaderName::from_static("x-content-type-options"),
                HeaderValue::from_static("nosniff"),
            ),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(telemetry::make_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new("route_not_found", format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// A running Cove: its address and a handle to wait for it.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Connects, migrates and starts serving on `listener` with the job worker
    /// (plus `extra_jobs`, for handlers a caller adds) until `shutdown` resolves.
    pub async fn start(
        config: Config,
        listener: TcpListener,
        extra_jobs: cove_core::jobs::Registry,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Server> {
        let db = Db::connect(&config).await?;
        db.migrate().await?;
        let addr = listener.local_addr()?;
        let state = AppState::new(config, db.clone())?;
        let router = app(state.clone());
        let registry = jobs::registry(&state, extra_jobs);
        let (stop_tx, stop_rx) = watch::channel(false);
        let heartbeat = spawn_ingest_heartbeat(&state, stop_rx.clone()).await;
        let jobs_config = state.config.jobs.clone();
        let worker = (jobs_config.workers > 0).then(|| {
            let worker = cove_core::jobs::Worker::new(
                db.clone(),
                registry,
                jobs_config.workers,
                Duration::from_millis(jobs_config.poll_ms),
                jobs_config.lease_secs,
            )
            .retry_base_ms(jobs_config.retry_base_ms);
            tokio::spawn(worker.run(stop_rx))
        });
        let handle = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                shutdown.await;
                tracing::info!("shutting down: finishing requests in flight");
                let _ = stop_tx.send(true);
            })
            .await?;
            if let Some(worker) = worker {
                worker.await?;
            }
            if let Some(heartbeat) = heartbeat {
                heartbeat.await?;
            }
            db.close().await;
            tracing::info!("stopped");
            Ok(())
        });
        tracing::info!(%addr, backend = ?state.db.backend(), "Cove is serving");
        if state.config.clock.adjustable {
            tracing::warn!("clock.adjustable is on: an admin can move this server's clock forward; never use it in production");
        }
        Ok(Server {
            addr,
            state,
            handle,
        })
    }

    /// Waits until the server has shut down.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.handle.await?
    }
}

/// Keeps this node counted among the nodes sharing each source's ingestion
/// rate (a first heartbeat before serving), and leaves the count on shutdown.
async fn spawn_ingest_heartbeat(
    state: &AppState,
    mut stop: watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let every = Duration::from_millis(state.config.ingest.heartbeat_ms);
    if every.is_zero() {
        return None;
    }
    let (throttle, db) = (state.ingest_throttle.clone(), state.db.clone());
    if let Err(e) = throttle.heartbeat(&db, cove_core::clock::now()).await {
        tracing::warn!(error = %e, "ingestion heartbeat failed");
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|stopped| *stopped) => break,
            }
            if let Err(e) = throttle.heartbeat(&db, cove_core::clock::now()).await {
                tracing::warn!(error = %e, "ingestion heartbeat failed");
            }
        }
        if let Err(e) = throttle.leave(&db).await {
            tracing::warn!(error = %e, "ingestion node not removed; it expires by itself");
        }
    }))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
