//! The two languages of the pages: the visitor's choice (a cookie set by the switch), else
//! the first of theirs in `Accept-Language` we speak, else English.
//!
//! Every text is a field of [`Text`], so a page cannot name a text one language lacks: the
//! compiler checks both tables are whole.

use http::HeaderMap;
use http::header::ACCEPT_LANGUAGE;

/// The cookie that keeps the visitor's choice of language.
pub const LANG_COOKIE: &str = "msa_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ko,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Ko => "ko",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "ko" => Some(Self::Ko),
            _ => None,
        }
    }

    /// The other language, which the switch offers.
    pub fn other(self) -> Self {
        match self {
            Self::En => Self::Ko,
            Self::Ko => Self::En,
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Self::En => &EN,
            Self::Ko => &KO,
        }
    }

    /// The language a request asks for.
    pub fn of(headers: &HeaderMap) -> Self {
        chosen(headers)
            .or_else(|| accepted(headers))
            .unwrap_or(Self::En)
    }
}

fn chosen(headers: &HeaderMap) -> Option<Lang> {
    kit::serving::cookies::value(headers, LANG_COOKIE).and_then(Lang::parse)
}

/// The best language of `Accept-Language` that we speak, by its quality values.
fn accepted(headers: &HeaderMap) -> Option<Lang> {
    let mut best: Option<(Lang, u16)> = None;
    let ranges = headers
        .get_all(ACCEPT_LANGUAGE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .take(32);
    for range in ranges {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let primary = tag.split('-').next().unwrap_or_default();
        let Some(lang) = Lang::parse(primary) else {
            continue;
        };
        let quality = parts
            .find_map(|part| part.trim().strip_prefix("q="))
            .map_or(1000, quality_in_thousandths);
        if quality > 0 && best.is_none_or(|(_, q)| quality > q) {
            best = Some((lang, quality));
        }
    }
    best.map(|(lang, _)| lang)
}

fn quality_in_thousandths(text: &str) -> u16 {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|q| (0.0..=1.0).contains(q))
        // In range 0..=1000 by the filter above.
        .map_or(0, |q| (q * 1000.0).round() as u16)
}

/// Every text of the pages, in one language.
pub struct Text {
    pub shop: &'static str,
    pub skip_to_content: &'static str,
    pub catalogue: &'static str,
    pub cart: &'static str,
    pub orders: &'static str,
    pub account: &'static str,
    pub admin: &'static str,
    pub sign_in: &'static str,
    pub sign_up: &'static str,
    pub sign_out: &'static str,
    pub switch_language: &'static str,
    pub search: &'static str,
    pub search_label: &'static str,
    pub sort_label: &'static str,
    pub sort_default: &'static str,
    pub sort_name: &'static str,
    pub sort_price_low: &'static str,
    pub sort_price_high: &'static str,
    pub previous_page: &'static str,
    pub next_page: &'static str,
    pub page: &'static str,
    pub no_products: &'static str,
    pub price: &'static str,
    pub in_stock: &'static str,
    pub out_of_stock_label: &'static str,
    pub quantity: &'static str,
    pub add_to_cart: &'static str,
    pub product: &'static str,
    pub back_to_catalogue: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    pub password: &'static str,
    pub password_hint: &'static str,
    pub no_account: &'static str,
    pub have_account: &'static str,
    pub signed_up: &'static str,
    pub cart_empty: &'static str,
    pub line_total: &'static str,
    pub total: &'static str,
    pub update: &'static str,
    pub checkout: &'static str,
    pub place_order: &'static str,
    pub checkout_note: &'static str,
    pub prices_now: &'static str,
    pub my_orders: &'static str,
    pub no_orders: &'static str,
    pub order: &'static str,
    pub status: &'static str,
    pub placed_at: &'static str,
    pub cancel_order: &'static str,
    pub order_placed: &'static str,
    pub order_cancelled: &'static str,
    pub my_account: &'static str,
    pub my_sessions: &'static str,
    pub network: &'static str,
    pub signed_in_at: &'static str,
    pub last_seen: &'static str,
    pub this_browser: &'static str,
    pub sign_out_everywhere: &'static str,
    pub api_keys: &'static str,
    pub key_name: &'static str,
    pub scopes: &'static str,
    pub create_key: &'static str,
    pub key_created: &'static str,
    pub revoke: &'static str,
    pub revoked: &'static str,
    pub never: &'static str,
    pub no_keys: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub password_changed: &'static str,
    pub products_admin: &'static str,
    pub new_product: &'static str,
    pub description: &'static str,
    pub price_cents: &'static str,
    pub stock: &'static str,
    pub save: &'static str,
    pub create: &'static str,
    pub saved: &'static str,
    pub error_title: &'static str,
    pub please_sign_in: &'static str,
    pub invalid_input: &'static str,
    pub bad_credentials: &'static str,
    pub out_of_stock: &'static str,
    pub service_down: &'static str,
    pub rate_limited: &'static str,
    pub forbidden: &'static str,
    pub not_found: &'static str,
    pub conflict: &'static str,
    pub something_wrong: &'static str,
    pub forged_form: &'static str,
    pub session_used_elsewhere: &'static str,
    pub signed_out: &'static str,
    pub signed_out_everywhere: &'static str,
    pub order_in_progress: &'static str,
    pub quantity_invalid: &'static str,
    pub cart_full: &'static str,
    pub added_to_cart: &'static str,
    pub status_pending: &'static str,
    pub status_confirmed: &'static str,
    pub status_cancelled: &'static str,
    pub status_failed: &'static str,
    pub currency: &'static str,
}

pub static EN: Text = Text {
    shop: "msa-shop",
    skip_to_content: "Skip to content",
    catalogue: "Catalogue",
    cart: "Cart",
    orders: "Orders",
    account: "Account",
    admin: "Admin",
    sign_in: "Sign in",
    sign_up: "Sign up",
    sign_out: "Sign out",
    switch_language: "한국어",
    search: "Search",
    search_label: "Product name",
    sort_label: "Sort by",
    sort_default: "Newest listed first",
    sort_name: "Name",
    sort_price_low: "Price, low to high",
    sort_price_high: "Price, high to low",
    previous_page: "Previous page",
    next_page: "Next page",
    page: "Page",
    no_products: "No products match.",
    price: "Price",
    in_stock: "In stock",
    out_of_stock_label: "Out of stock",
    quantity: "Quantity",
    add_to_cart: "Add to cart",
    product: "Product",
    back_to_catalogue: "Back to the catalogue",
    email: "Email",
    name: "Name",
    password: "Password",
    password_hint: "At least 8 characters; common passwords are refused.",
    no_account: "No account yet?",
    have_account: "Already have an account?",
    signed_up: "Welcome! Your account is ready.",
    cart_empty: "Your cart is empty.",
    line_total: "Line total",
    total: "Total",
    update: "Update",
    checkout: "Checkout",
    place_order: "Place order",
    checkout_note: "Prices are today's, computed by the shop; you pay what the order says.",
    prices_now: "Prices as of now",
    my_orders: "My orders",
    no_orders: "You have no orders yet.",
    order: "Order",
    status: "Status",
    placed_at: "Placed",
    cancel_order: "Cancel order",
    order_placed: "Your order is placed.",
    order_cancelled: "The order is cancelled.",
    my_account: "My account",
    my_sessions: "Where you are signed in",
    network: "Network",
    signed_in_at: "Signed in",
    last_seen: "Last used",
    this_browser: "this browser",
    sign_out_everywhere: "Sign out everywhere",
    api_keys: "API keys",
    key_name: "What the key is for",
    scopes: "Scopes",
    create_key: "Create key",
    key_created: "Your new key. Copy it now: it is never shown again.",
    revoke: "Revoke",
    revoked: "revoked",
    never: "never",
    no_keys: "You have no API keys.",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password",
    password_changed: "Your password is changed; your other sessions are ended.",
    products_admin: "Products, prices and stock",
    new_product: "New product",
    description: "Description",
    price_cents: "Price (cents)",
    stock: "Stock",
    save: "Save",
    create: "Create",
    saved: "Saved.",
    error_title: "Something went wrong",
    please_sign_in: "Please sign in to continue.",
    invalid_input: "Please check what you entered.",
    bad_credentials: "The email or password is wrong.",
    out_of_stock: "Not enough stock for your order; nothing was charged or reserved.",
    service_down: "Part of the shop is not answering right now. Please try again in a moment.",
    rate_limited: "Too many requests. Please wait a moment and try again.",
    forbidden: "You are not allowed to do that.",
    not_found: "There is nothing here.",
    conflict: "That changed meanwhile. Please look again and retry.",
    something_wrong: "Something went wrong on our side. Please try again.",
    forged_form: "This form did not come from this shop's page, so it was refused. Reload the page and try again.",
    session_used_elsewhere: "You were signed out because your session was used from another browser. If that was not you, change your password.",
    signed_out: "You are signed out.",
    signed_out_everywhere: "You are signed out on every device.",
    order_in_progress: "Your order is still being placed; it will show in your orders.",
    quantity_invalid: "Choose a quantity from 1 to 100.",
    cart_full: "Your cart holds at most 50 different products.",
    added_to_cart: "Added to your cart.",
    status_pending: "pending",
    status_confirmed: "confirmed",
    status_cancelled: "cancelled",
    status_failed: "failed",
    currency: "$",
};

pub static KO: Text = Text {
    shop: "msa-shop",
    skip_to_content: "본문으로 건너뛰기",
    catalogue: "상품 목록",
    cart: "장바구니",
    orders: "주문",
    account: "계정",
    admin: "관리",
    sign_in: "로그인",
    sign_up: "회원가입",
    sign_out: "로그아웃",
    switch_language: "English",
    search: "검색",
    search_label: "상품명",
    sort_label: "정렬",
    sort_default: "최근 등록순",
    sort_name: "이름순",
    sort_price_low: "낮은 가격순",
    sort_price_high: "높은 가격순",
    previous_page: "이전 페이지",
    next_page: "다음 페이지",
    page: "페이지",
    no_products: "조건에 맞는 상품이 없습니다.",
    price: "가격",
    in_stock: "재고",
    out_of_stock_label: "품절",
    quantity: "수량",
    add_to_cart: "장바구니에 담기",
    product: "상품",
    back_to_catalogue: "상품 목록으로",
    email: "이메일",
    name: "이름",
    password: "비밀번호",
    password_hint: "8자 이상; 흔한 비밀번호는 쓸 수 없습니다.",
    no_account: "계정이 없으신가요?",
    have_account: "이미 계정이 있으신가요?",
    signed_up: "환영합니다! 계정이 만들어졌습니다.",
    cart_empty: "장바구니가 비어 있습니다.",
    line_total: "소계",
    total: "합계",
    update: "변경",
    checkout: "주문하기",
    place_order: "주문 확정",
    checkout_note: "가격은 지금 시점의 가격이며 상점이 계산합니다. 주문서에 적힌 금액을 지불합니다.",
    prices_now: "현재 가격",
    my_orders: "내 주문",
    no_orders: "아직 주문이 없습니다.",
    order: "주문",
    status: "상태",
    placed_at: "주문 시각",
    cancel_order: "주문 취소",
    order_placed: "주문이 접수되었습니다.",
    order_cancelled: "주문이 취소되었습니다.",
    my_account: "내 계정",
    my_sessions: "로그인된 곳",
    network: "네트워크",
    signed_in_at: "로그인 시각",
    last_seen: "마지막 사용",
    this_browser: "이 브라우저",
    sign_out_everywhere: "모든 곳에서 로그아웃",
    api_keys: "API 키",
    key_name: "키의 용도",
    scopes: "권한 범위",
    create_key: "키 만들기",
    key_created: "새 키입니다. 지금 복사하세요. 다시는 보여 주지 않습니다.",
    revoke: "폐기",
    revoked: "폐기됨",
    never: "없음",
    no_keys: "API 키가 없습니다.",
    change_password: "비밀번호 변경",
    current_password: "현재 비밀번호",
    new_password: "새 비밀번호",
    password_changed: "비밀번호가 바뀌었습니다. 다른 세션은 모두 종료되었습니다.",
    products_admin: "상품, 가격, 재고",
    new_product: "새 상품",
    description: "설명",
    price_cents: "가격 (센트)",
    stock: "재고",
    save: "저장",
    create: "만들기",
    saved: "저장되었습니다.",
    error_title: "문제가 생겼습니다",
    please_sign_in: "계속하려면 로그인하세요.",
    invalid_input: "입력한 내용을 확인해 주세요.",
    bad_credentials: "이메일 또는 비밀번호가 틀렸습니다.",
    out_of_stock: "재고가 부족합니다. 결제나 재고 예약은 이루어지지 않았습니다.",
    service_down: "상점의 일부가 지금 응답하지 않습니다. 잠시 후 다시 시도해 주세요.",
    rate_limited: "요청이 너무 많습니다. 잠시 기다렸다가 다시 시도해 주세요.",
    forbidden: "이 작업을 할 권한이 없습니다.",
    not_found: "여기에는 아무것도 없습니다.",
    conflict: "그사이 내용이 바뀌었습니다. 다시 확인하고 시도해 주세요.",
    something_wrong: "상점 쪽에 문제가 생겼습니다. 다시 시도해 주세요.",
    forged_form: "이 양식은 이 상점의 페이지에서 온 것이 아니어서 거부되었습니다. 페이지를 새로 고친 뒤 다시 시도해 주세요.",
    session_used_elsewhere: "다른 브라우저에서 세션이 사용되어 로그아웃되었습니다. 본인이 아니라면 비밀번호를 바꾸세요.",
    signed_out: "로그아웃되었습니다.",
    signed_out_everywhere: "모든 기기에서 로그아웃되었습니다.",
    order_in_progress: "주문을 처리하고 있습니다. 곧 내 주문에 나타납니다.",
    quantity_invalid: "수량은 1에서 100 사이로 골라 주세요.",
    cart_full: "장바구니에는 최대 50가지 상품을 담을 수 있습니다.",
    added_to_cart: "장바구니에 담았습니다.",
    status_pending: "처리 중",
    status_confirmed: "확정",
    status_cancelled: "취소됨",
    status_failed: "실패",
    currency: "$",
};

#[cfg(test)]
mod tests {
    use http::header::COOKIE;

    use super::*;

    fn asking(accept: &str) -> Lang {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, accept.parse().expect("valid header"));
        Lang::of(&headers)
    }

    #[test]
    fn the_best_accepted_language_we_speak_wins() {
        assert_eq!(asking("ko-KR,ko;q=0.9,en;q=0.8"), Lang::Ko);
        assert_eq!(asking("en-US,en;q=0.9,ko;q=0.8"), Lang::En);
        assert_eq!(asking("fr-FR,ko;q=0.5,en;q=0.4"), Lang::Ko);
        assert_eq!(asking("fr-FR,de;q=0.5"), Lang::En);
        assert_eq!(asking("ko;q=0"), Lang::En);
        assert_eq!(Lang::of(&HeaderMap::new()), Lang::En);
    }

    #[test]
    fn the_visitors_choice_beats_their_browser() {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_LANGUAGE, "en".parse().expect("valid header"));
        headers.insert(COOKIE, "a=b; msa_lang=ko".parse().expect("valid header"));
        assert_eq!(Lang::of(&headers), Lang::Ko);
    }
}
