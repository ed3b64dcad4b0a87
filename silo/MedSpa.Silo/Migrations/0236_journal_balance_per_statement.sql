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
    SELECT p.operation_id INTO unbalanced
    FROM journal_postings p
    JOIN (SELECT DISTINCT tenant_id, operation_id FROM new_postings) n
      ON n.tenant_id = p.tenant_id AND n.operation_id = p.operation_id
    GROUP BY p.tenant_id, p.operation_id, p.currency
    HAVING sum(CASE WHEN p.side = 'debit' THEN p.amount ELSE -p.amount END) <> 0
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
