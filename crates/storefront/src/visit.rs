//! One visit to one page: the visitor's language, cart and form cookie, their calls to the
//! API, and what the page answers them with.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION, REFERRER_POLICY, SET_COOKIE,
};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use kit::identity::SessionEnded;
use serde::Deserialize;

use crate::api::{Caller, Failure};
use crate::cart::{CART_COOKIE, CART_MAX_AGE, Cart};
use crate::csrf::{self, FORM_COOKIE, FORM_COOKIE_MAX_AGE};
use crate::i18n::{Lang, Text};
use crate::notices::Notice;
use crate::{Shop, cookies};

/// Scripts, styles and images from this origin only, nothing inline; forms post only here;
/// no page may frame these (clickjacking), and no `<base>` may redirect their links.
pub const PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The visitor as the gateway knows them, for the page frame.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    pub user_id: i64,
    pub role: String,
}

impl Me {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

pub struct Visit {
    pub lang: Lang,
    pub t: &'static Text,
    pub api: Caller,
    pub cart: Cart,
    /// The page's own path and query, for the language switch to come back to.
    pub here: String,
    /// Whether the request names this host as its origin (judged once, for forms).
    same_origin: bool,
    form_cookie: String,
    form_cookie_is_new: bool,
    shop: Shop,
    cart_changed: bool,
}

impl FromRequestParts<Shop> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, shop: &Shop) -> Result<Self, Self::Rejection> {
        let headers = &parts.headers;
        let lang = Lang::of(headers);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
        let (form_cookie, form_cookie_is_new) =
            match kit::serving::cookies::value(headers, FORM_COOKIE)
                .filter(|value| (16..=64).contains(&value.len()))
            {
                Some(value) => (value.to_owned(), false),
                None => (csrf::new_cookie_value(), true),
            };
        Ok(Self {
            lang,
            t: lang.text(),
            api: Caller::new(shop.api.clone(), headers, peer),
            cart: kit::serving::cookies::value(headers, CART_COOKIE)
                .map(Cart::parse)
                .unwrap_or_default(),
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned()),
            same_origin: csrf::same_origin(headers, csrf::host_of(headers, &parts.uri)),
            form_cookie,
            form_cookie_is_new,
            shop: shop.clone(),
            cart_changed: false,
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub c: Chrome,
}

/// What every page shows around its content.
pub struct Chrome {
    pub t: &'static Text,
    pub lang: &'static str,
    pub switch_href: String,
    pub title: String,
    pub me: Option<Me>,
    pub cart_count: i64,
    pub form_token: String,
    pub notice: Option<&'static str>,
    pub error: Option<String>,
}

impl Visit {
    /// Who is signed in, if anyone.
    pub async fn me(&self) -> Option<Me> {
        self.api.get("/api/v1/auth/session").await.ok()
    }

    /// The frame of a page titled `title`, telling `notice` if any.
    pub async fn chrome(&self, title: &str, notice: Option<Notice>) -> Chrome {
        self.chrome_for(self.me().await, title, notice)
    }

    /// The frame, for a page that already asked who is signed in.
    pub fn chrome_for(&self, me: Option<Me>, title: &str, notice: Option<Notice>) -> Chrome {
        // The gateway's word that the session was used elsewhere outranks any other notice.
        let notice = match self.api.ended() {
            Some(SessionEnded::UsedElsewhere) => Some(Notice::UsedElsewhere),
            None => notice,
        };
        Chrome {
            t: self.t,
            lang: self.lang.code(),
            switch_href: format!(
                "/language?to={}&back={}",
                self.lang.other().code(),
                crate::notices::encode_query_value(&self.here)
            ),
            title: title.to_owned(),
            me,
            cart_count: self.cart.count(),
            form_token: self.shop.forms.token(&self.form_cookie),
            notice: notice.map(|notice| notice.text(self.t)),
            error: None,
        }
    }

    /// Refuses a state-changing form that did not come from one of our pages: it must name
    /// this host as its origin and carry this browser's form token.
    pub fn check_form(&self, token: &str) -> Result<(), Box<Response>> {
        let same_origin = self.same_origin;
        let token_ok = !self.form_cookie_is_new && self.shop.forms.verify(&self.form_cookie, token);
        if same_origin && token_ok {
            return Ok(());
        }
        tracing::warn!(
            security_event = "form-refused",
            same_origin,
            token_ok,
            "a state-changing form without this shop's origin or form token was refused"
        );
        Err(Box::new(self.failure_page(
            StatusCode::FORBIDDEN,
            self.t.forged_form.to_owned(),
        )))
    }

    /// The visitor, if signed in; else the answer that sends them to sign in and back to
    /// `back`.
    pub async fn signed_in(&self, back: &str) -> Result<Me, Box<Response>> {
        match self.me().await {
            Some(me) => Ok(me),
            None => Err(Box::new(self.to_sign_in(back))),
        }
    }

    /// The redirect to the sign-in page, saying why if the session was ended early.
    fn to_sign_in(&self, back: &str) -> Response {
        let ended = self.api.ended().is_some();
        self.redirect(&crate::notices::sign_in_href(back, ended))
    }

    /// The id in a page's path, or the "nothing here" page.
    pub fn id(&self, text: &str) -> Result<i64, Box<Response>> {
        text.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                Box::new(self.failure_page(StatusCode::NOT_FOUND, self.t.not_found.to_owned()))
            })
    }

    /// A form's action with no body: the API call, then `then`, or what went wrong.
    pub async fn act(&self, method: Method, path: &str, then: &str) -> Response {
        match self
            .api
            .call::<serde_json::Value, ()>(method, path, None, &[])
            .await
        {
            Ok(_) => self.redirect(then),
            Err(failure) => self.failed(&failure),
        }
    }

    /// Remembers a changed cart, to be written back with the answer.
    pub fn cart_changed(&mut self) {
        self.cart_changed = true;
    }

    /// A page: rendered, with the headers every page has and what the API asked for.
    pub fn page(&self, status: StatusCode, page: &impl Template) -> Response {
        match page.render() {
            Ok(html) => self.finish((status, html).into_response(), true),
            Err(error) => {
                tracing::error!(%error, "a page failed to render");
                self.finish(
                    (StatusCode::INTERNAL_SERVER_ERROR, self.t.something_wrong).into_response(),
                    true,
                )
            }
        }
    }

    /// A redirect after a form (303: the browser follows with GET, and a reload does not
    /// post again).
    pub fn redirect(&self, location: &str) -> Response {
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(location) = HeaderValue::from_str(location) {
            response.headers_mut().insert(LOCATION, location);
        }
        self.finish(response, false)
    }

    /// A page that says what went wrong, in words, with the status the API gave.
    pub fn failure_page(&self, status: StatusCode, message: String) -> Response {
        let mut chrome = self.chrome_for(None, self.t.error_title, None);
        chrome.error = Some(message);
        self.page(status, &ErrorPage { c: chrome })
    }

    /// The error page for a failed call, or the sign-in page when the visitor must sign in.
    pub fn failed(&self, failure: &Failure) -> Response {
        if failure.status == StatusCode::UNAUTHORIZED {
            return self.to_sign_in(&self.here);
        }
        self.failure_page(
            failure.status,
            crate::notices::failure_text(self.t, failure).to_owned(),
        )
    }

    fn finish(&self, mut response: Response, html: bool) -> Response {
        let headers = response.headers_mut();
        page_headers(headers, html);
        for cookie in self.api.effects().set_cookies {
            headers.append(SET_COOKIE, cookie);
        }
        let mut set = |cookie: String| {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(SET_COOKIE, value);
            }
        };
        if self.form_cookie_is_new {
            set(cookies::set(
                FORM_COOKIE,
                &self.form_cookie,
                FORM_COOKIE_MAX_AGE,
            ));
        }
        if self.cart_changed {
            let value = self.cart.to_cookie_value();
            let max_age = if value.is_empty() { 0 } else { CART_MAX_AGE };
            set(cookies::set(CART_COOKIE, &value, max_age));
        }
        response
    }
}

/// The headers of every page of ours, `html` or a redirect.
pub fn page_headers(headers: &mut HeaderMap, html: bool) {
    if html {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
    }
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_POLICY),
    );
    // Under `no-referrer` (the API's policy) a browser sends `Origin: null` with a form,
    // and the origin check could not tell our forms from anyone's. Other sites still
    // learn nothing of our addresses.
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    // Every page is for one visitor (their cart, their form token): no cache keeps it.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
}
