-- Stock levels per warehouse and SKU (a composite key).
CREATE TABLE IF NOT EXISTS inventory (
    warehouse  text        NOT NULL,
    sku        text        NOT NULL,
    on_hand    integer     NOT NULL CHECK (on_hand >= 0),
    counted_at timestamptz NOT NULL,
    loaded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse, sku)
);
