-- Card payments through the payment gateway (Stripe or the sandbox). No card number is ever stored: only the
-- gateway's ids and what may be shown (brand, funding, last 4, expiry, check results).

-- The gateway-side customer of a patient (Stripe cus_...), one per patient and gateway.
CREATE TABLE payment_customers (
    tenant_id     uuid NOT NULL,
    patient_id    uuid NOT NULL,
    gateway       text NOT NULL CHECK (gateway IN ('stripe', 'sandbox')),
    customer_id   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, patient_id, gateway),
    UNIQUE (gateway, customer_id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

-- Cards saved on a customer (Stripe pm_...). A cache of the gateway's list, kept for display, default choice and
-- the expiry notifications; removed_at set when detached.
CREATE TABLE saved_cards (
    tenant_id          uuid NOT NULL,
    payment_method_id  text NOT NULL,
    patient_id         uuid NOT NULL,
    gateway            text NOT NULL CHECK (gateway IN ('stripe', 'sandbox')),
    brand              text NOT NULL,
    funding            text NOT NULL,
    last4              text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month          integer NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year           integer NOT NULL CHECK (exp_year BETWEEN 2000 AND 2200),
    is_default         boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now(),
    removed_at         timestamptz,
    PRIMARY KEY (tenant_id, payment_method_id),
    FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
);

CREATE INDEX saved_cards_patient ON saved_cards (tenant_id, patient_id) WHERE removed_at IS NULL;
CREATE INDEX saved_cards_expiry ON saved_cards (exp_year, exp_month) WHERE removed_at IS NULL;

-- One gateway payment (Stripe pi_...) taken as an invoice tender. Written from the invoice grain's projection;
-- status, refunds and disputes are also updated by the gateway's webhook events.
CREATE TABLE card_payments (
    tenant_id          uuid NOT NULL,
    payment_id         text NOT NULL,
    gateway            text NOT NULL CHECK (gateway IN ('stripe', 'sandbox')),
    clinic_id          uuid NOT NULL,
    invoice_id         uuid NOT NULL,
    tender_id          uuid NOT NULL,
    patient_id         uuid,
    tender_kind        text NOT NULL,
    status             text NOT NULL,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount             bigint NOT NULL CHECK (amount >= 0),
    amount_captured    bigint NOT NULL DEFAULT 0 CHECK (amount_captured >= 0),
    amount_refunded    bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0),
    payment_method_id  text,
    card_brand         text,
    card_funding       text,
    card_last4         text,
    card_exp_month     integer,
    card_exp_year      integer,
    cvc_check          text,
    postal_code_check  text,
    dispute_status     text,
    failure_code       text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, payment_id),
    UNIQUE (gateway, payment_id),
    FOREIGN KEY (tenant_id, clinic_id) REFERENCES clinics (tenant_id, id)
);

CREATE INDEX card_payments_invoice ON card_payments (tenant_id, invoice_id);

-- Webhook events already handled, by the gateway's event id: a redelivered event is acknowledged and ignored.
CREATE TABLE gateway_events (
    gateway       text NOT NULL,
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    tenant_id     uuid,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway, event_id)
);

-- Things staff should know about (a saved card expiring next month, a dispute opened), once each (dedupe_key).
CREATE TABLE notifications (
    tenant_id     uuid NOT NULL,
    id            uuid NOT NULL,
    clinic_id     uuid,
    kind          text NOT NULL,
    subject_type  text NOT NULL,
    subject_id    text NOT NULL,
    message       text NOT NULL,
    dedupe_key    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    read_at       timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, dedupe_key)
);

CREATE INDEX notifications_unread ON notifications (tenant_id, created_at DESC) WHERE read_at IS NULL;
