-- The plan list pages newest first by (created_at, id): `plans --before <plan-id>`.
CREATE INDEX plans_by_time ON plans (created_at DESC, id);
