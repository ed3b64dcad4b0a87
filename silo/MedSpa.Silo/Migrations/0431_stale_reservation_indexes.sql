-- The stale-reservation sweep (silo/MedSpa.Silo/Checkout/StaleReservationSweep.cs) looks each housekeeping tick for
-- checkout reservations held too long. These partial indexes keep that scan to the few rows it can match: package
-- redemptions still reserved, and the holds of gift cards and wallets by time (a hold's close is found by its card's
-- or patient's primary key).
CREATE INDEX package_redemptions_reserved ON package_redemptions (tenant_id, updated_at) WHERE state = 'reserved';
CREATE INDEX gift_card_transactions_holds ON gift_card_transactions (tenant_id, occurred_at) WHERE kind = 'hold';
CREATE INDEX wallet_transactions_holds ON wallet_transactions (tenant_id, occurred_at) WHERE kind = 'hold';
-- Gift-card transfers out not received yet: the transfers out by time, and the receipt looked up by operation id (on a
-- card, or as the wallet credit of a transfer to a patient's wallet).
CREATE INDEX gift_card_transactions_transfers_out ON gift_card_transactions (tenant_id, occurred_at) WHERE kind = 'transfer-out';
CREATE INDEX gift_card_transactions_transfers_in ON gift_card_transactions (tenant_id, operation_id) WHERE kind = 'transfer-in';
CREATE INDEX wallet_transactions_gift_card_transfers ON wallet_transactions (tenant_id, operation_id) WHERE source = 'gift-card-transfer';
-- A gift card's refund holds (a refund of the invoice that sold the card), whose close is found like a hold's.
CREATE INDEX gift_card_transactions_refund_holds ON gift_card_transactions (tenant_id, occurred_at) WHERE kind = 'refund-hold';
