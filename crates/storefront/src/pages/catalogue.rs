//! `/`: the catalogue, with search, sorting and paging, all in the query string.

use askama::Template;
use axum::extract::Query;
use axum::response::Response;
use http::StatusCode;
use serde::Deserialize;

use super::{Product, money};
use crate::notices::{Notice, encode_query_value};
use crate::visit::{Chrome, Visit};

const PAGE_SIZE: u32 = 12;

#[derive(Debug, Default, Deserialize)]
pub struct Browse {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    page: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize)]
struct ProductPage {
    items: Vec<Product>,
    next_page: Option<u32>,
}

pub struct Listed {
    pub id: i64,
    pub name: String,
    pub price: String,
    pub stock: i64,
}

pub struct SortOption {
    pub value: &'static str,
    pub label: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "catalogue.html")]
pub struct Catalogue {
    c: Chrome,
    q: String,
    sorts: Vec<SortOption>,
    products: Vec<Listed>,
    page: u32,
    previous: Option<String>,
    next: Option<String>,
}

/// The sorts the page offers, by the API's names; the first is the default.
const SORTS: [&str; 4] = ["-id", "name", "price", "-price"];

pub async fn show(visit: Visit, Query(browse): Query<Browse>) -> Response {
    let t = visit.t;
    // What the visitor typed is cut to what the API takes, never refused: a page is not an
    // API, and a long search should find nothing rather than fail.
    let q: String = browse.q.trim().chars().take(100).collect();
    let sort = SORTS
        .into_iter()
        .find(|known| *known == browse.sort)
        .unwrap_or(SORTS[0]);
    let page = browse
        .page
        .as_deref()
        .and_then(|page| page.parse::<u32>().ok())
        .filter(|page| (1..=100_000).contains(page))
        .unwrap_or(1);
    let mut path = format!("/api/v1/products?limit={PAGE_SIZE}&page={page}&sort={sort}");
    if !q.is_empty() {
        path.push_str("&q=");
        path.push_str(&encode_query_value(&q));
    }
    let (me, listed) = futures::join!(visit.me(), visit.api.get::<ProductPage>(&path));
    let listed = match listed {
        Ok(listed) => listed,
        Err(failure) => return visit.failed(&failure),
    };
    let link = |page: u32| {
        let mut href = format!("/?page={page}&sort={}", encode_query_value(sort));
        if !q.is_empty() {
            href.push_str("&q=");
            href.push_str(&encode_query_value(&q));
        }
        href
    };
    let labels = [
        t.sort_default,
        t.sort_name,
        t.sort_price_low,
        t.sort_price_high,
    ];
    let view = Catalogue {
        c: visit.chrome_for(
            me,
            t.catalogue,
            browse.done.as_deref().and_then(Notice::parse),
        ),
        sorts: SORTS
            .into_iter()
            .zip(labels)
            .map(|(value, label)| SortOption {
                value,
                label,
                selected: value == sort,
            })
            .collect(),
        products: listed
            .items
            .into_iter()
            .map(|p| Listed {
                id: p.id,
                price: money(t.currency, p.price_cents),
                name: p.name,
                stock: p.stock,
            })
            .collect(),
        page,
        previous: (page > 1).then(|| link(page - 1)),
        next: listed.next_page.map(link),
        q,
    };
    visit.page(StatusCode::OK, &view)
}
