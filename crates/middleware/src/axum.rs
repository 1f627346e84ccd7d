//! The axum/tower adapter: [`DjangoLayer`], a `tower::Layer` that runs Django's `ALLOWED_HOSTS` check,
//! `SessionMiddleware` and `CsrfViewMiddleware` around any `Service<Request<B>>`, and the extractors
//! [`LoginRequired`] (Django REST framework's `SessionAuthentication` with `IsAuthenticated`: 401
//! anonymous, 403 for an unsafe method without a valid CSRF token) and [`MaybeUser`] (`request.user`).
//!
//! Every rule is the framework-neutral request path's ([`crate::request`]); this module moves requests
//! and responses in and out of it. Refusals are DRF's JSON bodies (`{"detail": …}`), a store outage a
//! 503 with `Retry-After`, never a 500.
//!
//! The client's address comes from axum's `ConnectInfo<SocketAddr>` when the app is served with
//! `into_make_service_with_connect_info` (it is only shown in the sessions list and used by the
//! throttle).

use std::borrow::Cow;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::{Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use django_auth_core::users::User;

use crate::request::{AuthError, DjangoAuth, Rejection, RequestHead, RequestState};

/// The request parts the request path reads, borrowed from an axum request.
struct AxumHead<'a> {
    headers: &'a HeaderMap,
    method: &'a Method,
    uri: &'a Uri,
    peer: Option<IpAddr>,
}

impl<'a> AxumHead<'a> {
    fn new(
        headers: &'a HeaderMap,
        method: &'a Method,
        uri: &'a Uri,
        extensions: &axum::http::Extensions,
    ) -> AxumHead<'a> {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        AxumHead {
            headers,
            method,
            uri,
            peer,
        }
    }
}

impl RequestHead for AxumHead<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        text(self.headers.get(name))
    }

    fn cookie_header(&self) -> Option<Cow<'_, str>> {
        crate::request::join_cookie_headers(
            self.headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        )
    }

    fn authority(&self) -> Option<&str> {
        self.uri.authority().map(|a| a.as_str())
    }

    fn method(&self) -> &str {
        self.method.as_str()
    }

    fn peer_ip(&self) -> Option<IpAddr> {
        self.peer
    }

    fn server_port(&self) -> Option<u16> {
        None
    }
}

/// The parts of a request that `client()` reads, kept after the request went to the inner service.
struct ClientParts {
    peer: Option<IpAddr>,
    forwarded_for: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
}

impl ClientParts {
    fn client(
        &self,
        settings: &django_auth_core::settings::Settings,
    ) -> django_auth_core::idle::Client {
        crate::request::client_of(
            self.peer,
            text(self.forwarded_for.as_ref()),
            text(self.user_agent.as_ref()),
            settings,
        )
    }
}

/// A header's value as `RequestHead::header` reads it: `""` if it is not visible ASCII.
fn text(value: Option<&HeaderValue>) -> Option<&str> {
    value.map(|v| v.to_str().unwrap_or(""))
}

/// The request's state, shared by the layer and the extractors. The state is taken out while an
/// extractor awaits a store (a lock is never held across an await) and put back.
#[derive(Clone)]
struct Shared {
    auth: Arc<DjangoAuth>,
    state: Arc<Mutex<Option<RequestState>>>,
}

impl Shared {
    fn take(&self) -> Option<RequestState> {
        self.state.lock().ok()?.take()
    }

    fn put(&self, state: RequestState) {
        if let Ok(mut slot) = self.state.lock() {
            *slot = Some(state);
        }
    }
}

/// Django's middleware as a `tower::Layer`: `Router::new().route(…).layer(DjangoLayer::new(django))`.
#[derive(Clone)]
pub struct DjangoLayer {
    auth: Arc<DjangoAuth>,
}

impl DjangoLayer {
    /// The layer over a Django site's settings and stores ([`DjangoAuth::from_env`]).
    pub fn new(auth: DjangoAuth) -> DjangoLayer {
        DjangoLayer {
            auth: Arc::new(auth),
        }
    }

    /// The layer over settings and stores already shared.
    pub fn from_arc(auth: Arc<DjangoAuth>) -> DjangoLayer {
        DjangoLayer { auth }
    }
}

impl<S> tower_layer::Layer<S> for DjangoLayer {
    type Service = DjangoService<S>;

    fn layer(&self, inner: S) -> DjangoService<S> {
        DjangoService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`DjangoLayer`] wraps around the inner one.
#[derive(Clone)]
pub struct DjangoService<S> {
    inner: S,
    auth: Arc<DjangoAuth>,
}

impl<S, B> tower_service::Service<Request<B>> for DjangoService<S>
where
    S: tower_service::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // The clone that was made ready is the one that serves this request (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        Box::pin(async move {
            let (begun, client) = {
                let head = AxumHead::new(req.headers(), req.method(), req.uri(), req.extensions());
                if let Err(refused) = auth.check_host(&head) {
                    return Ok(rejection_response(refused));
                }
                let begun = auth.begin(&head).await;
                // What `client()` reads, kept for `finish` (which needs it only now and then): the
                // header values are reference-counted slices of the request, not copies.
                let client = ClientParts {
                    peer: head.peer,
                    forwarded_for: req.headers().get("x-forwarded-for").cloned(),
                    user_agent: req.headers().get(header::USER_AGENT).cloned(),
                };
                (begun, client)
            };
            let begun = match begun {
                Ok(begun) => begun,
                Err(refused) => return Ok(rejection_response(refused)),
            };
            let shared = Shared {
                auth: auth.clone(),
                state: Arc::new(Mutex::new(Some(begun))),
            };
            req.extensions_mut().insert(shared.clone());
            let mut response = inner.call(req).await?;
            // An extractor dropped mid-way (the client went away) leaves nothing to save.
            let Some(state) = shared.take() else {
                return Ok(response);
            };
            match auth
                .finish(state, response.status().as_u16(), || {
                    client.client(&auth.settings)
                })
                .await
            {
                Ok(headers) => {
                    let map = response.headers_mut();
                    for value in headers.set_cookie {
                        if let Ok(value) = HeaderValue::from_str(&value) {
                            map.append(header::SET_COOKIE, value);
                        }
                    }
                    if headers.vary_cookie {
                        let vary = crate::request::patch_vary(
                            map.get_all(header::VARY)
                                .iter()
                                .filter_map(|v| v.to_str().ok()),
                            &["Cookie"],
                        );
                        if let Ok(vary) = HeaderValue::from_str(&vary) {
                            map.insert(header::VARY, vary);
                        }
                    }
                    Ok(response)
                }
                Err(e) => Ok(rejection_response(Rejection::Unavailable(e))),
            }
        })
    }
}

/// DRF's error body: `{"detail": …}` with `status`.
fn detail(status: StatusCode, detail: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "detail": detail }))).into_response()
}

/// The 503 every outage gets, with `Retry-After`.
fn unavailable(error: &django_auth_core::connections::StoreError) -> Response {
    tracing::warn!(%error, "store unavailable");
    let mut response = detail(
        StatusCode::SERVICE_UNAVAILABLE,
        "The session or user store is unavailable. Please retry shortly.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn rejection_response(refused: Rejection) -> Response {
    match refused {
        Rejection::BadRequest(message) => detail(StatusCode::BAD_REQUEST, &message),
        Rejection::Unavailable(e) => unavailable(&e),
        Rejection::Random(e) => {
            tracing::error!(error = %e, "no randomness for a CSRF secret");
            detail(
                StatusCode::INTERNAL_SERVER_ERROR,
                "A server error occurred.",
            )
        }
    }
}

/// Why an extractor refused: 401, 403 (CSRF), 503 (store outage), or 500 when the route is outside
/// [`DjangoLayer`] (a wiring bug, never something a request causes).
#[derive(Debug, thiserror::Error)]
pub enum AuthRejection {
    /// The request path's refusal.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The route is not behind [`DjangoLayer`].
    #[error("the route is not behind DjangoLayer")]
    NoLayer,
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Auth(AuthError::NotAuthenticated) => detail(
                StatusCode::UNAUTHORIZED,
                &AuthError::NotAuthenticated.to_string(),
            ),
            AuthRejection::Auth(csrf @ AuthError::CsrfFailed(_)) => {
                detail(StatusCode::FORBIDDEN, &csrf.to_string())
            }
            AuthRejection::Auth(AuthError::Unavailable(e)) => unavailable(&e),
            AuthRejection::NoLayer => {
                tracing::error!("a route that takes the Django user is not behind DjangoLayer");
                detail(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "A server error occurred.",
                )
            }
        }
    }
}

/// The logged-in user; the handler does not run otherwise ([`AuthRejection`]).
pub struct LoginRequired(pub User);

/// `request.user`: the logged-in user, or `None` for an anonymous request.
pub struct MaybeUser(pub Option<User>);

/// The layer's state of this request, taken out for an extractor (put back with `Shared::put`).
fn taken(parts: &Parts) -> Result<(Shared, RequestState), AuthRejection> {
    let shared = parts
        .extensions
        .get::<Shared>()
        .cloned()
        .ok_or(AuthRejection::NoLayer)?;
    let state = shared.take().ok_or(AuthRejection::NoLayer)?;
    Ok((shared, state))
}

impl<S: Send + Sync> FromRequestParts<S> for LoginRequired {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (shared, mut state) = taken(parts)?;
        let head = AxumHead::new(&parts.headers, &parts.method, &parts.uri, &parts.extensions);
        let user = shared.auth.authenticate(&head, &mut state).await;
        shared.put(state);
        Ok(LoginRequired(user?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let (shared, mut state) = taken(parts)?;
        let user = shared.auth.get_user(&mut state).await;
        shared.put(state);
        Ok(MaybeUser(user.map_err(AuthError::from)?))
    }
}

/// The forward-auth endpoint as an axum handler, with the [`DjangoAuth`] as the router's state and outside
/// [`DjangoLayer`] (the original request's host and session are its own to check):
///
/// ```no_run
/// # async fn example(django: std::sync::Arc<django_auth_web::request::DjangoAuth>) {
/// use axum::{Router, routing::any};
/// let app: Router = Router::new()
///     .route("/auth/verify", any(django_auth_web::axum::forward_auth))
///     .route("/auth/verify/{*original}", any(django_auth_web::axum::forward_auth))
///     .with_state(django);
/// # }
/// ```
///
/// 200 with the identity headers, or 401, 403, 503 with `{"detail": …}`. See [`crate::forward_auth`].
pub async fn forward_auth(
    axum::extract::State(auth): axum::extract::State<Arc<DjangoAuth>>,
    req: Request<axum::body::Body>,
) -> Response {
    let (parts, _) = req.into_parts();
    let head = AxumHead::new(&parts.headers, &parts.method, &parts.uri, &parts.extensions);
    let answer = auth.forward_auth(&head).await;
    let status = StatusCode::from_u16(answer.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match answer.body() {
        Some(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in answer.headers() {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.append(name, value);
        }
    }
    response
}
