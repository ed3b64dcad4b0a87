-- A refund of the invoice that sold a gift card takes its share off the card (issue 15 §1): the card's history gains
-- the refund's hold, the refund itself, and a hold that lapsed because its refund never finished.
ALTER TABLE gift_card_transactions DROP CONSTRAINT gift_card_transactions_kind_check;
ALTER TABLE gift_card_transactions ADD CONSTRAINT gift_card_transactions_kind_check CHECK (kind IN (
    'issue', 'bonus', 'hold', 'release', 'redeem', 'redeem-undone', 'reload', 'transfer-out', 'transfer-in', 'cancel', 'expire',
    'activate', 'refund-hold', 'refund', 'refund-hold-lapsed'));
