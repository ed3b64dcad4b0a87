-- The stale corporate order sweep (silo/MedSpa.Silo/GiftCards/StaleCorporateOrderSweep.cs) looks each housekeeping tick
-- for orders paid and not yet issued, and for card deliveries still scheduled past their time. These partial indexes
-- keep that scan to the few rows it can match.
CREATE INDEX corporate_gift_card_orders_paid ON corporate_gift_card_orders (tenant_id, paid_at) WHERE status = 'paid';
CREATE INDEX gift_card_deliveries_due ON gift_card_deliveries (tenant_id, next_attempt_at) WHERE status = 'scheduled';
