CREATE TABLE products (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    price_cents INTEGER NOT NULL CHECK (price_cents > 0),
    stock       INTEGER NOT NULL CHECK (stock >= 0),
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX products_price ON products (price_cents, id);

-- Stock taken out for an order. A row is `held` until the order is cancelled or fails,
-- then `released` (its quantity returned to stock). Keyed by order id, which makes
-- reserving and releasing idempotent.
CREATE TABLE reservations (
    order_id         INTEGER NOT NULL,
    product_id       INTEGER NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('held', 'released')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (order_id, product_id)
);

CREATE INDEX reservations_held ON reservations (product_id) WHERE status = 'held';
