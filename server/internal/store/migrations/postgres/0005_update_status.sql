-- The outcome of each machine's last self-update (ok, rolled_back).
ALTER TABLE machines ADD COLUMN update_status TEXT;
