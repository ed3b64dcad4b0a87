-- Every journal entry balances per currency: checked once per INSERT statement over the entries it touched, instead of
-- once per posting row at commit (0171). JournalSql writes each entry with all its postings in one statement, so the
-- check sees whole entries; a statement that leaves any entry it touched unbalanced is refused, as before. Why: the
-- row-level trigger ran one grouped query per posting, and the projections of the package and wallet grains (thousands
-- of redemptions a second, two to four postings each) spent most of their database time in it.
DROP TRIGGER journal_postings_balance ON journal_postings;
DROP FUNCTION journal_entry_must_balance();

CREATE FUNCTION journal_entries_must_balance() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced text;
BEGIN
    -- Per entry touched, an index scan of its own postings (the primary key's prefix): LATERAL keeps the planner from
    -- joining the transition table (which has no statistics) against the whole journal.
    SELECT n.operation_id INTO unbalanced
    FROM (SELECT DISTINCT tenant_id, operation_id FROM new_postings) n
    CROSS JOIN LATERAL (
        SELECT 1 FROM journal_postings p
        WHERE p.tenant_id = n.tenant_id AND p.operation_id = n.operation_id
        GROUP BY p.currency
        HAVING sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END) <> 0
    ) off
    LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'journal entry % does not balance', unbalanced USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER journal_postings_balance
    AFTER INSERT ON journal_postings
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_must_balance();
