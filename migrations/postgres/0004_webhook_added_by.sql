-- Who registered a run-time webhook (issue 10): the caller's principal (`cli`, `rest`). The
-- agent's key may remove only the hooks it added; NULL (hooks registered before this
-- migration) counts as added by someone else.
ALTER TABLE webhooks ADD COLUMN added_by TEXT;
