-- Temperature readings, one per sensor and minute.
CREATE TABLE IF NOT EXISTS readings (
    sensor  text         NOT NULL,
    read_at timestamptz  NOT NULL,
    celsius numeric(5,1) NOT NULL,
    PRIMARY KEY (sensor, read_at)
);
